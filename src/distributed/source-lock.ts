import type { Redis } from 'ioredis';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { DELETE_IF_OWNER, EXTEND_IF_OWNER } from './owned-key.js';

/** Key of a source's lock: held (value = run key) from the start of its crawl until its run ends. */
export const sourceLockKey = (prefix: string, sourceId: string): string =>
  `${prefix}:source-lock:${sourceId}`;

// Take the lock when free or already ours (a retried attempt of the same run).
const TAKE = `local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return v`;

/**
 * One run per source at a time: two crawls of one source interleaving their batches could tombstone each other's
 * skills. The producer takes the lock with a short TTL renewed while it crawls, then stretches it to the run
 * timeout when its crawl ends; the writer deletes it when the run ends. A producer that dies mid-crawl frees
 * it within the short TTL.
 */
export class SourceLocks {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly runKey: string,
    private readonly ttlMs = 120_000,
  ) {}

  /** Takes every lock, or none (throws `E_ALREADY_RUNNING` naming the run that holds one). */
  async takeAll(sourceIds: readonly string[]): Promise<void> {
    const taken: string[] = [];
    for (const id of sourceIds) {
      const r = await this.redis.eval(
        TAKE,
        1,
        sourceLockKey(this.prefix, id),
        this.runKey,
        String(this.ttlMs),
      );
      if (r !== 1) {
        await this.release(taken);
        throw new IndexerError(
          ERROR_CODES.ALREADY_RUNNING,
          `source "${id}" is already being indexed by run ${String(r)}: wait for it (skillsmith-index status) or index other sources`,
        );
      }
      taken.push(id);
    }
    this.timer = setInterval(() => void this.extend(sourceIds, this.ttlMs), this.ttlMs / 3);
    this.timer.unref();
  }

  /** Keeps the locks for `ms` more (used once the crawl is over, until the writer ends the run). */
  async extend(sourceIds: readonly string[], ms: number): Promise<void> {
    for (const id of sourceIds) {
      await this.redis
        .eval(EXTEND_IF_OWNER, 1, sourceLockKey(this.prefix, id), this.runKey, String(ms))
        .catch(() => 0);
    }
  }

  stopRenewing(): void {
    clearInterval(this.timer);
  }

  /** Releases locks still held by this run. */
  async release(sourceIds: readonly string[]): Promise<void> {
    this.stopRenewing();
    for (const id of sourceIds) await releaseSourceLock(this.redis, this.prefix, id, this.runKey);
  }
}

/** Deletes a source lock if `runKey` holds it. */
export async function releaseSourceLock(
  redis: Redis,
  prefix: string,
  sourceId: string,
  runKey: string,
): Promise<void> {
  await redis.eval(DELETE_IF_OWNER, 1, sourceLockKey(prefix, sourceId), runKey).catch(() => 0);
}
