import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';

/**
 * The Redis "epoch": a random id stored once per deployment (key prefix) and never expired. Redis that restarts
 * without persistence, is flushed, or fails over to an empty replica loses it together with every queued job, so a
 * changed or missing epoch is how the roles tell "Redis lost our data" from "the queues are merely empty". Without
 * it a run whose batches vanished was reported completed, and stayed `running` in the database forever.
 */
export const epochKey = (prefix: string): string => `${prefix}:epoch`;

/** The current epoch, created if missing; `created` says it was missing (a fresh or emptied Redis). */
export async function redisEpoch(redis: Redis, prefix: string): Promise<{ epoch: string; created: boolean }> {
  const fresh = randomUUID();
  if ((await redis.set(epochKey(prefix), fresh, 'NX')) === 'OK') return { epoch: fresh, created: true };
  return { epoch: (await redis.get(epochKey(prefix))) ?? fresh, created: false };
}

/** True when the epoch is still the one a role saw at the start of its work. */
export async function sameEpoch(redis: Redis, prefix: string, epoch: string): Promise<boolean> {
  return (await redis.get(epochKey(prefix))) === epoch;
}

/** The error a run gets when Redis lost its queued work. */
export function redisDataLost(detail: string): IndexerError {
  return new IndexerError(
    ERROR_CODES.REDIS_DATA_LOST,
    `Redis lost this run's queued work (${detail}): it restarted without persistence, was flushed, or evicted keys. ` +
      'The run is failed; what was written is kept. Enable AOF with maxmemory-policy noeviction (ops/redis.conf), ' +
      'then run the same command again',
  );
}

/**
 * Watches the epoch every `everyMs`. `onLost(detail, epoch)` is called once per loss: when the epoch was missing
 * at start (Redis came back empty while this role was down; `epoch` undefined: every run in flight is affected),
 * or when it changed since (Redis lost its data while this role ran; `epoch` is the new one: runs begun under it
 * are fine). `epoch()` is the epoch as last seen.
 */
export async function watchRedisEpoch(
  redis: Redis,
  prefix: string,
  onLost: (detail: string, epoch: string | undefined) => void,
  everyMs = 5000,
): Promise<{ stop: () => void; epoch: () => string }> {
  const first = await redisEpoch(redis, prefix);
  let current = first.epoch;
  if (first.created) onLost('its epoch key was missing when the writer started', undefined);
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    sameEpoch(redis, prefix, current)
      .then(async (same) => {
        if (same) return;
        current = (await redisEpoch(redis, prefix)).epoch;
        onLost('its epoch key changed while the writer ran', current);
      })
      .catch(() => undefined) // unreachable: BullMQ reports that; checked again next tick
      .finally(() => (checking = false));
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer), epoch: () => current };
}
