import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { EXIT } from '../shared/exit-status.js';
import { QUEUES } from '../shared/queues.js';
import type { RedisTarget } from '../shared/redis-connection.js';
import { IndexWriter } from '../writer/index-writer.js';
import { closeWorkers } from './close-workers.js';
import { workerOptions } from './pipeline-queues.js';
import { runEndJob } from './run-end-job.js';
import { runEndedKey } from './run-progress.js';
import { watchRunEpochs } from './run-epochs.js';
import { sourceDoneJob } from './source-done-job.js';
import { writeBatchJob } from './write-batch-job.js';
import { WriterClaim } from './writer-claim.js';
import {
  ParkedJobs,
  type BatchWritten,
  type WriterJobContext,
  type WriterJobHandler,
} from './writer-job-context.js';
import { answerWriterRpc } from './writer-rpc.js';
import { startCrawlJanitor } from './crawl-janitor.js';

/** Options of {@link startWriterRole}. */
export interface WriterRoleOptions {
  db: string;
  target: RedisTarget;
  log: Logger;
  /**
   * Job lock duration in ms: a job whose process died is redelivered after this (and the stalled check runs
   * as often). Default: above the slowest job of the queue (see LOCK_MS).
   */
  lockMs?: number;
  /**
   * How long a source completion or run end waits for batches that have not arrived (dead-lettered, lost with
   * a flushed Redis) before the run is closed as `failed`, in ms. Default 6 h: long enough for a replay of
   * dead letters after a night.
   */
  runTimeoutMs?: number;
  /** How often a completion waiting for its batches looks again, in ms. Default 200 (the run's last step). */
  recheckMs?: number;
  /** How often the crawl janitor looks for runs whose crawl job failed for good, in ms (crawl-janitor.ts). */
  janitorMs?: number;
  /** Called after every job the writer handled (metrics). */
  onJob?: (e: { queue: string; name: string; ms: number; ok: boolean }) => void;
  /** Called after each batch transaction (metrics): rows by kind and the time the transaction took. */
  onBatch?: (e: BatchWritten) => void;
}

/** A running writer. */
export interface WriterRole {
  readonly writer: IndexWriter;
  ready(): boolean;
  /** Stops taking jobs, finishes the one in hand (up to `graceMs`), checkpoints, closes. */
  close(graceMs?: number): Promise<void>;
}

/** A `write` queue job, by name: batches, source completions, run ends. */
const handleWrite: WriterJobHandler = async (ctx, job, token) => {
  switch (job.name) {
    case 'batch':
      return writeBatchJob(ctx, job);
    case 'source-done':
      return sourceDoneJob(ctx, job, token);
    case 'run-end':
      return runEndJob(ctx, job, token);
    default:
      throw new UnrecoverableError(`unknown write job "${job.name}"`);
  }
};

/**
 * The `write` role: the only process that opens the database for writing. It consumes the `write` queue one
 * job at a time (batches, source completions, run ends) and answers the producers' questions on `writer-rpc`.
 * Delivery is at-least-once; every handler is idempotent (batch keys in `run_batches`, written in the same
 * transaction as the rows), so the effect is exactly-once whatever crashes between commit and acknowledgement.
 */
export async function startWriterRole(options: WriterRoleOptions): Promise<WriterRole> {
  const { target, log } = options;
  // Another writer holds the claim now (ours expired during a Redis failover or a stall of > 30 s): two
  // writers would split the batches between two files. Stop at once; the job in hand is redelivered.
  const claim = await WriterClaim.acquire(target.url, target.prefix, options.db, () => {
    log.fatal({ prefix: target.prefix }, 'writer claim lost to another writer: exiting');
    process.exit(EXIT.ALREADY_RUNNING);
  });
  let writer: IndexWriter;
  try {
    writer = IndexWriter.open({ path: options.db });
  } catch (err) {
    await claim.release();
    throw err;
  }
  const redis = new Redis(target.url, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  const ctx: WriterJobContext = {
    writer,
    redis,
    target,
    log,
    runEpochs: await watchRunEpochs(redis, target.prefix, writer, log),
    runTimeoutMs: options.runTimeoutMs ?? 6 * 3600_000,
    recheckMs: options.recheckMs ?? 200,
    onBatch: options.onBatch,
    parked: new ParkedJobs(),
  };
  // Concurrency 1: SQLite has one writer, and batches of one source are written in the order they arrive.
  const writeWorker = new Worker(
    QUEUES.write,
    timed(ctx, options, QUEUES.write, handleWrite),
    workerOptions(target, QUEUES.write, { concurrency: 1, name: 'write', lockMs: options.lockMs }),
  );
  const rpcWorker = new Worker(
    QUEUES.rpc,
    timed(ctx, options, QUEUES.rpc, answerWriterRpc),
    workerOptions(target, QUEUES.rpc, { concurrency: 1, name: 'write-rpc', lockMs: options.lockMs }),
  );
  for (const w of [writeWorker, rpcWorker])
    w.on('error', (err) => log.error({ err }, 'queue connection error'));
  // Emitted once the job is completed with its summary: wake a producer waiting for the run (run-progress.ts).
  writeWorker.on('completed', (job) => {
    const runKey = (job.data as { runKey?: unknown }).runKey;
    if (job.name !== 'run-end' || typeof runKey !== 'string') return;
    const key = runEndedKey(target.prefix, runKey);
    void redis
      .multi()
      .rpush(key, '1')
      .expire(key, 600)
      .exec()
      .catch(() => undefined);
  });
  // Steps beside the jobs, each with its stop: close() stops them once no job is in hand.
  const background: (() => unknown)[] = [ctx.runEpochs.stop, checkpointWhenDrained(writeWorker, writer, log)];
  await Promise.all([writeWorker.waitUntilReady(), rpcWorker.waitUntilReady()]);
  const janitor = startCrawlJanitor({
    writer,
    redis,
    prefix: target.prefix,
    log,
    everyMs: options.janitorMs,
    onEnded: ctx.runEpochs.ended,
  });
  background.push(janitor.stop);
  let closing = false;
  log.info({ db: writer.path, prefix: target.prefix }, 'writer ready');

  return {
    writer,
    ready: () => !closing && writeWorker.isRunning() && rpcWorker.isRunning(),
    async close(graceMs = 60_000) {
      if (closing) return;
      closing = true;
      // Past the grace period the job in hand's lock expires and it is redelivered; its batch key makes the
      // redelivery harmless.
      await closeWorkers([writeWorker, rpcWorker], graceMs, () =>
        log.warn({ graceMs }, 'grace period over: closing with a job in hand (it will be redelivered)'),
      );
      await Promise.all(background.map((stop) => stop()));
      writer.checkpoint();
      writer.close();
      redis.disconnect();
      await claim.release();
    },
  };
}

/**
 * When the queue runs dry, moves the WAL into the database so long-lived readers' WAL stays small. At most every
 * 30 s: mid-run the queue runs dry after nearly every batch, and a checkpoint per batch is an fsync per batch.
 * Every run end checkpoints too. Returns its stop.
 */
function checkpointWhenDrained(worker: Worker, writer: IndexWriter, log: Logger): () => void {
  let lastCheckpoint = 0;
  const onDrained = (): void => {
    if (Date.now() - lastCheckpoint < 30_000) return;
    lastCheckpoint = Date.now();
    const r = writer.checkpoint();
    log.debug(r, 'checkpoint');
  };
  worker.on('drained', onDrained);
  return () => worker.off('drained', onDrained);
}

/** A handler as a BullMQ processor that reports every job to `onJob` and logs a failure (a wait is no failure). */
function timed(
  ctx: WriterJobContext,
  options: Pick<WriterRoleOptions, 'onJob'>,
  queue: string,
  fn: WriterJobHandler,
): (job: Job, token?: string) => Promise<unknown> {
  return async (job, token) => {
    const t0 = performance.now();
    try {
      const r = await fn(ctx, job, token);
      options.onJob?.({ queue, name: job.name, ms: performance.now() - t0, ok: true });
      return r;
    } catch (err) {
      if (!(err instanceof DelayedError)) {
        options.onJob?.({ queue, name: job.name, ms: performance.now() - t0, ok: false });
        ctx.log.warn(
          { err, jobId: job.id, queue, name: job.name, attempt: job.attemptsMade + 1 },
          'job failed',
        );
      }
      throw err;
    }
  };
}
