import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { DELETE_IF_OWNER, EXTEND_IF_OWNER, SWAP_IF_OWNER } from './owned-key.js';
import { holderAlive, PROCESS_INSTANCE } from '../shared/process-instance.js';

/** Who holds a deployment's writer claim. */
export interface WriterClaimInfo {
  host: string;
  pid: number;
  db: string;
  since: string;
  instance?: string;
}

const TTL_MS = 30_000;
const RENEW_MS = 10_000;

/**
 * One `write` process per deployment (key prefix). The file lock beside the database already refuses a second
 * writer of the same file; this claim also refuses a second writer of another file on the same queues, which
 * would silently split the batches between two databases. It lives in Redis with a 30 s TTL renewed every
 * 10 s, so a writer killed with -9 frees it within 30 s.
 */
export class WriterClaim {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly value: string,
  ) {}

  static key(prefix: string): string {
    return `${prefix}:writer-claim`;
  }

  /** Takes the claim, or throws `E_ALREADY_RUNNING` naming the holder. */
  static async acquire(
    redisUrl: string,
    prefix: string,
    db: string,
    /** Called when a renewal finds the claim taken by another writer (after a Redis failover, a long stall). */
    onLost: () => void = () => undefined,
  ): Promise<WriterClaim> {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
    redis.on('error', () => undefined); // reconnects are ioredis's business; a failed renew is logged below
    const info: WriterClaimInfo = {
      host: hostname(),
      pid: process.pid,
      db,
      since: new Date().toISOString(),
      instance: PROCESS_INSTANCE,
    };
    const value = JSON.stringify(info);
    const key = WriterClaim.key(prefix);
    let ok = await redis.set(key, value, 'PX', TTL_MS, 'NX');
    if (ok !== 'OK') {
      const raw = await redis.get(key);
      const holder = await WriterClaim.holder(redis, prefix);
      // A writer on this host whose process is gone (kill -9, a crash; or a restarted container's previous
      // process, which had our pid) left its claim: take it over at once instead of waiting out the TTL.
      // Compare-and-set on the old value, so two restarts cannot both win.
      if (raw && holder && holder.host === hostname() && !holderAlive(holder.pid, holder.instance)) {
        const swapped = await redis.eval(SWAP_IF_OWNER, 1, key, raw, value, String(TTL_MS));
        if (swapped === 1) ok = 'OK';
      }
    }
    if (ok !== 'OK') {
      const holder = await WriterClaim.holder(redis, prefix);
      redis.disconnect();
      throw new IndexerError(
        ERROR_CODES.ALREADY_RUNNING,
        holder
          ? `a writer already serves queue prefix "${prefix}": pid ${holder.pid} on ${holder.host}, db ${holder.db}, since ${holder.since}; run one writer per deployment (it frees within 30 s of that process dying)`
          : `a writer already serves queue prefix "${prefix}"`,
      );
    }
    const claim = new WriterClaim(redis, key, value);
    claim.timer = setInterval(() => {
      redis
        .eval(EXTEND_IF_OWNER, 1, key, value, String(TTL_MS))
        .then(async (r) => {
          if (r === 1) return;
          // Gone rather than taken: Redis lost its data (restart without persistence, flush). No other writer
          // exists, so take the claim back; the epoch watch fails the runs that were in flight.
          if ((await redis.set(key, value, 'PX', TTL_MS, 'NX')) === 'OK') return;
          onLost();
        })
        .catch(() => undefined); // Redis unreachable: BullMQ stalls too; the claim is checked again next time
    }, RENEW_MS);
    claim.timer.unref();
    return claim;
  }

  /** The current holder, if any. */
  static async holder(redis: Redis, prefix: string): Promise<WriterClaimInfo | undefined> {
    const raw = await redis.get(WriterClaim.key(prefix));
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as WriterClaimInfo;
    } catch {
      return undefined;
    }
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.eval(DELETE_IF_OWNER, 1, this.key, this.value).catch(() => undefined);
    this.redis.disconnect();
  }
}
