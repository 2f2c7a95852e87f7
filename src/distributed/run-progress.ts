import type { Redis } from 'ioredis';
import { releaseSourceLock } from './source-lock.js';

/**
 * Live progress of distributed runs in Redis, for `status` and `backfill --follow`: informative only (the
 * database is the truth), written by the producer (`sent`) and the writer (`written`, `indexed`,
 * `embedded`, `startedAt`, `runId`). Finished runs' hashes expire after a day.
 */
export const runProgressKey = (prefix: string, runKey: string): string => `${prefix}:run-progress:${runKey}`;

/**
 * A list the writer pushes to once a run's `run-end` job has completed (its summary is readable): a producer
 * waiting for that run blocks on it instead of polling, and learns of the end at once. Only a wake-up (the
 * waiter still reads the job), so a push nobody pops expires.
 */
export const runEndedKey = (prefix: string, runKey: string): string => `${prefix}:run-ended:${runKey}`;

/** Sorted set of the runs begun and not yet ended (score: when begun). */
export const ACTIVE_RUNS_KEY = (prefix: string): string => `${prefix}:active-runs`;

/**
 * What a run's end frees in Redis, however it ended (its `run-end`, or the crawl janitor): its sources may be
 * crawled again, and it leaves the active runs (its progress expires after a day).
 */
export async function releaseEndedRun(
  redis: Redis,
  prefix: string,
  runKey: string,
  sourceIds: readonly string[],
): Promise<void> {
  for (const id of sourceIds) await releaseSourceLock(redis, prefix, id, runKey);
  await redis
    .multi()
    .zrem(ACTIVE_RUNS_KEY(prefix), runKey)
    .expire(runProgressKey(prefix, runKey), 24 * 3600)
    .exec()
    .catch(() => undefined);
}

/** A run's progress as stored. */
export interface RunProgressFields {
  runId?: number;
  startedAt?: number;
  sent: number;
  written: number;
  indexed: number;
  embedded: number;
}

/** Parses the hash fields (all strings in Redis). */
export function parseRunProgress(raw: Record<string, string>): RunProgressFields {
  const n = (k: string): number => Number(raw[k] ?? 0) || 0;
  return {
    ...(raw.runId ? { runId: Number(raw.runId) } : {}),
    ...(raw.startedAt ? { startedAt: Number(raw.startedAt) } : {}),
    sent: n('sent'),
    written: n('written'),
    indexed: n('indexed'),
    embedded: n('embedded'),
  };
}
