import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisTarget } from '../shared/redis-connection.js';
import type { IndexWriter } from '../writer/index-writer.js';
import type { RunEpochs } from './run-epochs.js';

/** One batch transaction, for metrics: rows by kind and the time the transaction took. */
export interface BatchWritten {
  skills: number;
  embeddings: number;
  errors: number;
  seen: number;
  txMs: number;
}

/** What every job handler of the writer role works with. */
export interface WriterJobContext {
  writer: IndexWriter;
  /** For source locks and run progress (never for the jobs themselves). */
  redis: Redis;
  target: RedisTarget;
  log: Logger;
  runEpochs: RunEpochs;
  /** See `WriterRoleOptions.runTimeoutMs`. */
  runTimeoutMs: number;
  /** See `WriterRoleOptions.recheckMs`. */
  recheckMs: number;
  onBatch?: ((e: BatchWritten) => void) | undefined;
  /** Completions waiting for writes of this writer (see {@link ParkedJobs}). */
  parked: ParkedJobs;
}

/**
 * Source completions and run ends that wait (delayed) for batches or sources not yet written, by what they
 * wait for. The write that completes what one waits for promotes it at once, instead of it waiting for its
 * next recheck (up to `recheckMs` per step: the last two steps of every run). Only a hint kept in memory: the
 * recheck stays, so a job parked by an earlier writer process, or a promotion lost, is still picked up.
 */
export class ParkedJobs {
  private readonly parked = new Map<string, { job: Job; ready: () => boolean }>();

  /** `job` waits until `ready()`; it is moved to delayed right after this. */
  park(key: string, job: Job, ready: () => boolean): void {
    this.parked.set(key, { job, ready });
  }

  /** The job is being handled again (woken or rechecked): nothing to wake anymore. */
  unpark(key: string): void {
    this.parked.delete(key);
  }

  /** After a write that may complete what the job parked under `key` waits for: promotes it if it is ready now. */
  wake(key: string): void {
    const p = this.parked.get(key);
    if (!p || !p.ready()) return;
    this.parked.delete(key);
    // Already promoted by its delay, or taken: then there is nothing to do.
    void p.job.promote().catch(() => undefined);
  }
}

/** What a `source-done` waits for: every batch of its source. */
export const sourceWaitKey = (runKey: string, attempt: number, sourceId: string): string =>
  `${runKey}/a${attempt}/${sourceId}`;

/** What a `run-end` waits for: every source of its run. */
export const runWaitKey = (runKey: string, attempt: number): string => `${runKey}/a${attempt}`;

/** A job handler of the writer role. */
export type WriterJobHandler = (ctx: WriterJobContext, job: Job, token?: string) => Promise<unknown>;

/**
 * The run a message belongs to, if the message is of its current attempt while it runs. Messages of an older
 * attempt (a crawl that was redelivered or retried), or of a run already finished, are stale: applying them
 * could write old content over new or tombstone against a `run_seen` already cleared. They are acknowledged
 * and dropped (undefined); the next run sees whatever they would have changed.
 */
export function currentRun(
  ctx: WriterJobContext,
  runKey: string,
  attempt: number,
  what: string,
  jlog: Logger,
): { id: number; modelId: string } | undefined {
  const run = ctx.writer.runByKey(runKey);
  // `begin` is answered before any batch is sent, so an unknown run is a job from another database or a
  // hand-made one: it can never succeed here.
  if (!run) throw new UnrecoverableError(`unknown run ${runKey}: its begin never reached this database`);
  if (run.status === 'running' && run.attempt === attempt) return run;
  jlog.warn({ attempt, current: run.attempt, status: run.status }, `stale ${what} ignored`);
  return undefined;
}

/**
 * Waits, without holding the worker, until `wait.ready()`: the job goes back to delayed and is looked at again
 * in `recheckMs`, or sooner when the write it waits for wakes it (`ParkedJobs`). Gives up after the run timeout,
 * counted from when this writer first looked at the job (not from when it was sent: a writer that was down for
 * hours must not time out batches still in its queue).
 */
export async function waitFor(
  ctx: WriterJobContext,
  job: Job,
  token: string | undefined,
  wait: { key: string; ready: () => boolean },
): Promise<'ready' | 'timeout'> {
  ctx.parked.unpark(wait.key);
  if (wait.ready()) return 'ready';
  const firstSeen = (job.data as { firstSeenAt?: unknown }).firstSeenAt;
  if (typeof firstSeen !== 'number') {
    await job.updateData({ ...(job.data as object), firstSeenAt: Date.now() });
  } else if (Date.now() - firstSeen > ctx.runTimeoutMs) return 'timeout';
  ctx.parked.park(wait.key, job, wait.ready);
  await job.moveToDelayed(Date.now() + ctx.recheckMs, token);
  throw new DelayedError();
}
