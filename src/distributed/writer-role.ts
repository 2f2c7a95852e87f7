import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { isErrorCode } from '../shared/errors.js';
import {
  BeginRunRpcSchema,
  KnownRpcSchema,
  RunEndJobSchema,
  SourceDoneJobSchema,
  WriteBatchJobSchema,
  type BeginRunReply,
  type DistributedRunSummary,
  type KnownReply,
  type SourcesReply,
} from '../shared/distributed-messages.js';
import { QUEUES } from '../shared/queues.js';
import type { RedisTarget } from '../shared/redis-connection.js';
import type { EmbeddingRecord } from '../shared/records.js';
import { IndexWriter } from '../writer/index-writer.js';
import { workerOptions } from './pipeline-queues.js';
import { runProgressKey, ACTIVE_RUNS_KEY } from './run-progress.js';
import { EXTEND_IF_OWNER } from './owned-key.js';
import { releaseSourceLock, sourceLockKey } from './source-lock.js';
import { WriterClaim } from './writer-claim.js';
import { epochKey, redisDataLost, watchRedisEpoch } from './redis-epoch.js';
import { EXIT } from '../shared/exit-status.js';

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
  /** Called after every job the writer handled (metrics). */
  onJob?: (e: { queue: string; name: string; ms: number; ok: boolean }) => void;
  /** Called after each batch transaction (metrics): rows by kind and the time the transaction took. */
  onBatch?: (e: { skills: number; embeddings: number; errors: number; seen: number; txMs: number }) => void;
}

/** A running writer. */
export interface WriterRole {
  readonly writer: IndexWriter;
  ready(): boolean;
  /** Stops taking jobs, finishes the one in hand (up to `graceMs`), checkpoints, closes. */
  close(graceMs?: number): Promise<void>;
}

const bad = (what: string, err: z.ZodError): UnrecoverableError =>
  new UnrecoverableError(
    `malformed ${what} job: ${err.issues[0]?.path.join('.') ?? ''} ${err.issues[0]?.message ?? ''}`,
  );

/**
 * The `write` role: the only process that opens the database for writing. It consumes the `write` queue one
 * job at a time (batches, source completions, run ends) and answers the producers' questions on `writer-rpc`.
 * Delivery is at-least-once; every handler is idempotent (batch keys in `run_batches`, written in the same
 * transaction as the rows), so the effect is exactly-once whatever crashes between commit and acknowledgement.
 */
export async function startWriterRole(options: WriterRoleOptions): Promise<WriterRole> {
  const { target, log } = options;
  const runTimeoutMs = options.runTimeoutMs ?? 6 * 3600_000;
  const recheckMs = options.recheckMs ?? 200;
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
  // Redis that loses its data loses the jobs runs are waiting on: end those runs failed, loudly, instead of
  // leaving them `running` forever (a rerun then completes the work).
  // The epoch each run began under (runs begun before this process started: the epoch it started with). A run
  // begun after Redis came back, under the new epoch, is not affected by the loss.
  const runEpochs = new Map<number, string>();
  const epochWatch = await watchRedisEpoch(redis, target.prefix, (detail, survivor) => {
    const error = redisDataLost(detail);
    const spare = (runId: number): boolean =>
      survivor !== undefined && (runEpochs.get(runId) ?? startEpoch) === survivor;
    const runs = writer.failRunningRuns('distributed', error.code, error.message, spare);
    if (runs.length > 0) log.error({ runs, code: error.code }, error.message);
  });
  // Read by `spare` only when `survivor` is set, i.e. on a later tick, after this line has run.
  const startEpoch = epochWatch.epoch();

  /**
   * Waits, without holding the worker, until `isReady`: the job goes back to delayed and is looked at again in
   * `recheckMs`. Gives up after the run timeout, counted from when this writer first looked at the job (not
   * from when it was sent: a writer that was down for hours must not time out batches still in its queue).
   */
  const waitFor = async (
    job: Job,
    token: string | undefined,
    isReady: boolean,
  ): Promise<'ready' | 'timeout'> => {
    if (isReady) return 'ready';
    const firstSeen = (job.data as { firstSeenAt?: unknown }).firstSeenAt;
    if (typeof firstSeen !== 'number') {
      await job.updateData({ ...(job.data as object), firstSeenAt: Date.now() });
    } else if (Date.now() - firstSeen > runTimeoutMs) return 'timeout';
    await job.moveToDelayed(Date.now() + recheckMs, token);
    throw new DelayedError();
  };

  /**
   * The run a message belongs to, if the message is of its current attempt while it runs. Messages of an older
   * attempt (a crawl that was redelivered or retried), or of a run already finished, are stale: applying them
   * could write old content over new or tombstone against a `run_seen` already cleared. They are acknowledged
   * and dropped (undefined); the next run sees whatever they would have changed.
   */
  const currentRun = (
    runKey: string,
    attempt: number,
    what: string,
    jlog: Logger,
  ): { id: number; modelId: string } | undefined => {
    const run = writer.runByKey(runKey);
    // `begin` is answered before any batch is sent, so an unknown run is a job from another database or a
    // hand-made one: it can never succeed here.
    if (!run) throw new UnrecoverableError(`unknown run ${runKey}: its begin never reached this database`);
    if (run.status === 'running' && run.attempt === attempt) return run;
    jlog.warn({ attempt, current: run.attempt, status: run.status }, `stale ${what} ignored`);
    return undefined;
  };

  const handleWrite = async (job: Job, token?: string): Promise<unknown> => {
    if (job.name === 'batch') {
      const parsed = WriteBatchJobSchema.safeParse(job.data);
      if (!parsed.success) throw bad('batch', parsed.error);
      const b = parsed.data;
      const jlog = log.child({ runKey: b.runKey, jobId: job.id, source: b.sourceId });
      const run = currentRun(b.runKey, b.attempt, 'batch', jlog);
      if (!run) return { stale: true };
      const runId = run.id;
      const embeddings: EmbeddingRecord[] = b.skills.map((s) => {
        const encoded = b.vectors[s.textHash];
        const vector = encoded
          ? Buffer.from(encoded, 'base64')
          : writer.vectorForText(b.model.id, s.textHash);
        if (!vector || vector.byteLength !== b.model.dim * 4) {
          throw new UnrecoverableError(
            `no ${b.model.dim}-dim vector for ${s.record.id} (text ${s.textHash}): the text it reused is gone; re-run the source`,
          );
        }
        return { skillId: s.record.id, modelId: b.model.id, chunk: 0, vector, textHash: s.textHash };
      });
      const t0 = performance.now();
      const { changed, duplicate } = writer.writeBatch({
        runId,
        skills: b.skills.map((s) => s.record),
        embeddings,
        errors: b.errors,
        seen: b.seen,
        key: {
          key: `a${b.attempt}/${b.sourceId}/${b.batchNo}`,
          attempt: b.attempt,
          sourceId: b.sourceId,
          embedded: b.embedded,
        },
      });
      if (!duplicate) {
        options.onBatch?.({
          skills: b.skills.length,
          embeddings: embeddings.length,
          errors: b.errors.length,
          seen: b.seen.length,
          txMs: performance.now() - t0,
        });
      }
      // One round trip after the commit: the run is alive, so keep its source locked however long the queue is
      // (the producer's stretch may end); and count progress (informative; the database is the truth).
      const progress = runProgressKey(target.prefix, b.runKey);
      const tx = redis
        .multi()
        .eval(EXTEND_IF_OWNER, 1, sourceLockKey(target.prefix, b.sourceId), b.runKey, String(runTimeoutMs));
      if (!duplicate) {
        tx.hincrby(progress, 'written', b.skills.length + b.seen.length + b.errors.length)
          .hincrby(progress, 'indexed', changed)
          .hincrby(progress, 'embedded', b.embedded);
      }
      await tx.exec().catch(() => undefined);
      jlog.debug(
        { batchNo: b.batchNo, skills: b.skills.length, changed, duplicate: duplicate ?? false },
        'batch written',
      );
      return { changed, duplicate: duplicate ?? false };
    }
    if (job.name === 'source-done') {
      const parsed = SourceDoneJobSchema.safeParse(job.data);
      if (!parsed.success) throw bad('source-done', parsed.error);
      const d = parsed.data;
      const jlog = log.child({ runKey: d.runKey, jobId: job.id, source: d.source.id });
      const run = currentRun(d.runKey, d.attempt, 'source-done', jlog);
      if (!run) return { stale: true };
      const runId = run.id;
      const written = writer.batchesWritten(runId, d.attempt, d.source.id);
      // Tombstones only once every batch of the source is in: a skill in a batch still on its way would
      // otherwise be marked removed.
      const outcome = await waitFor(job, token, written >= d.batches);
      const complete = d.status === 'completed' && outcome === 'ready';
      if (outcome === 'timeout') {
        jlog.error(
          { written, expected: d.batches },
          'source closed without tombstones: some of its batches never arrived (see `skillsmith-index failed`)',
        );
      }
      const { removed } = writer.completeSource({
        runId,
        key: `a${d.attempt}/${d.source.id}/done`,
        attempt: d.attempt,
        source: d.source,
        complete,
        timedOut: outcome === 'timeout',
        state: d.state,
      });
      jlog.info({ removed, batches: d.batches, status: complete ? 'completed' : d.status }, 'source done');
      return { removed, complete };
    }
    if (job.name === 'run-end') {
      const parsed = RunEndJobSchema.safeParse(job.data);
      if (!parsed.success) throw bad('run-end', parsed.error);
      const e = parsed.data;
      const jlog = log.child({ runKey: e.runKey, jobId: job.id });
      const run = currentRun(e.runKey, e.attempt, 'run-end', jlog);
      if (!run) return { stale: true };
      const runId = run.id;
      const done = writer.sourcesDone(runId, e.attempt);
      const missing = e.sources.filter((s) => !done.some((d) => d.sourceId === s.id));
      // An abandoned run (its crawl failed for good) ends now: its sources that never closed get no tombstones.
      const outcome = e.abandon ? 'ready' : await waitFor(job, token, missing.length === 0);
      const totals = writer.runTotals(runId, e.attempt);
      // Skills the producer sent with their content already stored (re-embedded for another model or text
      // config) were written unchanged: count them so that seen = indexed + unchanged + failed.
      const unchanged = Math.max(e.counts.unchanged, e.counts.seen - e.counts.failed - totals.indexed);
      const counts = {
        ...e.counts,
        indexed: totals.indexed,
        unchanged,
        reembedded: unchanged - e.counts.unchanged,
        embedded: totals.embedded,
        removed: totals.removed,
      };
      let status = e.status;
      let message = e.message;
      const timedOut = done.filter((d) => d.timedOut).map((d) => d.sourceId);
      if (outcome === 'timeout' || timedOut.length > 0) {
        status = 'failed';
        message =
          `sources not completed: ${[...missing.map((s) => s.id), ...timedOut].join(', ')} ` +
          '(their batches were dead-lettered or lost: see `skillsmith-index failed`; no tombstones applied)';
      }
      if (
        status === 'completed' &&
        e.textConfig !== undefined &&
        e.sources.every((s) => s.status === 'completed')
      ) {
        writer.updateTextConfig(run.modelId, e.textConfig);
      }
      writer.finishRun(runId, status, counts, e.sources);
      runEpochs.delete(runId); // ended: nothing left to spare, and a long-lived writer must not grow the map
      if (status === 'failed' && message && isErrorCode(e.code))
        writer.recordRunError(runId, e.code, message);
      writer.checkpoint();
      // The run is over: its sources may be crawled again.
      for (const s of e.sources) await releaseSourceLock(redis, target.prefix, s.id, e.runKey);
      await redis
        .multi()
        .zrem(ACTIVE_RUNS_KEY(target.prefix), e.runKey)
        .expire(runProgressKey(target.prefix, e.runKey), 24 * 3600)
        .exec()
        .catch(() => undefined);
      jlog.info({ runId, status, counts }, 'run finished');
      const summary: DistributedRunSummary = {
        runKey: e.runKey,
        runId,
        status,
        sources: e.sources,
        counts,
        ...(message ? { message } : {}),
        ...(status === 'failed' && e.code ? { code: e.code } : {}),
      };
      return summary;
    }
    throw new UnrecoverableError(`unknown write job "${job.name}"`);
  };

  const handleRpc = async (job: Job): Promise<unknown> => {
    if (job.name === 'begin') {
      const parsed = BeginRunRpcSchema.safeParse(job.data);
      if (!parsed.success) throw bad('begin', parsed.error);
      const r = parsed.data;
      const { storedTextConfig } = writer.registerModel({ ...r.model, textConfig: r.textConfig });
      const { runId, attempt, finished } = writer.beginKeyedRun({
        runKey: r.runKey,
        sources: r.sources,
        modelId: r.model.id,
      });
      await redis
        .multi()
        .zadd(ACTIVE_RUNS_KEY(target.prefix), Date.now(), r.runKey)
        .hsetnx(runProgressKey(target.prefix, r.runKey), 'startedAt', String(Date.now()))
        .hsetnx(runProgressKey(target.prefix, r.runKey), 'runId', String(runId))
        .exec()
        .catch(() => undefined);
      // The producer read (or created) the epoch before asking: this is the epoch the run lives in.
      runEpochs.set(
        runId,
        (await redis.get(epochKey(target.prefix)).catch(() => null)) ?? epochWatch.epoch(),
      );
      log.info({ runKey: r.runKey, runId, jobId: job.id, sources: r.sources.map((s) => s.id) }, 'run begun');
      const reply: BeginRunReply = {
        runId,
        attempt,
        ...(finished ? { finished } : {}),
        textConfigChanged: JSON.stringify(storedTextConfig) !== JSON.stringify(r.textConfig),
      };
      return reply;
    }
    if (job.name === 'known') {
      const parsed = KnownRpcSchema.safeParse(job.data);
      if (!parsed.success) throw bad('known', parsed.error);
      const known = writer.knownForSource(parsed.data.sourceId, parsed.data.modelId);
      const reply: KnownReply = {
        skills: [...known.skills].map(([id, k]) => [
          id,
          k.contentHash,
          k.statKey,
          k.removed ? 1 : 0,
          k.textHash,
          k.parseVersion,
        ]),
        rejections: [...known.rejections.values()],
        state: writer.sourceState(parsed.data.sourceId) ?? null,
      };
      return reply;
    }
    if (job.name === 'sources') {
      const reply: SourcesReply = { sources: writer.listSources() };
      return reply;
    }
    throw new UnrecoverableError(`unknown writer-rpc job "${job.name}"`);
  };

  const timed =
    (queue: string, fn: (job: Job, token?: string) => Promise<unknown>) =>
    async (job: Job, token?: string): Promise<unknown> => {
      const t0 = performance.now();
      try {
        const r = await fn(job, token);
        options.onJob?.({ queue, name: job.name, ms: performance.now() - t0, ok: true });
        return r;
      } catch (err) {
        if (!(err instanceof DelayedError)) {
          options.onJob?.({ queue, name: job.name, ms: performance.now() - t0, ok: false });
          log.warn(
            { err, jobId: job.id, queue, name: job.name, attempt: job.attemptsMade + 1 },
            'job failed',
          );
        }
        throw err;
      }
    };

  // Concurrency 1: SQLite has one writer, and batches of one source are written in the order they arrive.
  const writeWorker = new Worker(
    QUEUES.write,
    timed(QUEUES.write, handleWrite),
    workerOptions(target, QUEUES.write, { concurrency: 1, name: 'write', lockMs: options.lockMs }),
  );
  const rpcWorker = new Worker(
    QUEUES.rpc,
    timed(QUEUES.rpc, handleRpc),
    workerOptions(target, QUEUES.rpc, { concurrency: 1, name: 'write-rpc', lockMs: options.lockMs }),
  );
  for (const w of [writeWorker, rpcWorker])
    w.on('error', (err) => log.error({ err }, 'queue connection error'));
  // When the queue runs dry, move the WAL into the database so long-lived readers' WAL stays small.
  // At most every 30 s: mid-run the queue runs dry after nearly every batch, and a checkpoint per batch is
  // an fsync per batch. Every run end checkpoints too.
  let lastCheckpoint = 0;
  writeWorker.on('drained', () => {
    if (Date.now() - lastCheckpoint < 30_000) return;
    lastCheckpoint = Date.now();
    const r = writer.checkpoint();
    log.debug(r, 'checkpoint');
  });
  await Promise.all([writeWorker.waitUntilReady(), rpcWorker.waitUntilReady()]);
  let closing = false;
  log.info({ db: writer.path, prefix: target.prefix }, 'writer ready');

  return {
    writer,
    ready: () => !closing && writeWorker.isRunning() && rpcWorker.isRunning(),
    async close(graceMs = 60_000) {
      if (closing) return;
      closing = true;
      // worker.close() waits for the job in hand; past the grace period, force: that job's lock expires and it
      // is redelivered, and its batch key makes the redelivery harmless.
      const graceful = Promise.all([writeWorker.close(), rpcWorker.close()]);
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      if ((await Promise.race([graceful, timer])) === 'timeout') {
        log.warn({ graceMs }, 'grace period over: closing with a job in hand (it will be redelivered)');
        await Promise.all([writeWorker.close(true), rpcWorker.close(true)]);
      }
      epochWatch.stop();
      writer.checkpoint();
      writer.close();
      redis.disconnect();
      await claim.release();
    },
  };
}
