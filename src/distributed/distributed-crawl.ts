import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ModelSpec } from '../model/model-spec.js';
import { TEXT_CONFIG } from '../model/text-config.js';
import { createSource } from '../producer/create-source.js';
import type { SkillSource, SourceSpec } from '../producer/source.js';
import type {
  BeginRunReply,
  DistributedRunSummary,
  ProducerCounts,
  RunEndJob,
} from '../shared/distributed-messages.js';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { jobId } from '../shared/queues.js';
import type { RunSource } from '../shared/records.js';
import { redactUrl } from '../shared/redact.js';
import { runSourceOf } from '../stages/crawl-source.js';
import { redisDataLost, redisEpoch, sameEpoch } from './redis-epoch.js';
import { askWriter } from './ask-writer.js';
import { waitForJob, type PipelineQueues } from './pipeline-queues.js';
import { queueSources, type CrawlProgress, type Queued } from './queue-sources.js';
import { runEndedKey } from './run-progress.js';
import { SourceLocks } from './source-lock.js';

/** Options of {@link crawlDistributed}. */
export interface DistributedCrawlOptions {
  queues: PipelineQueues;
  log: Logger;
  /** The run's name; no `:`. A retried crawl job passes the same key: the writer numbers the attempt. */
  runKey: string;
  /**
   * Whether a failure of this crawl is final (no retry will come): then the run is ended as `failed` at once,
   * instead of staying `running`. Default: always final (the `produce` command does not retry).
   */
  isFinal?: (err: unknown) => boolean;
  sources: readonly SourceSpec[];
  model: ModelSpec;
  /** The model folder workers load; undefined = their built-in default. */
  modelDir?: string | undefined;
  /** Re-embed every skill, even unchanged ones. */
  reembed?: boolean;
  /** Skills per batch (embed job and write transaction). Default 32: payloads stay small. */
  batchSize?: number;
  /** Bytes of skill text per batch, at most (one larger skill still makes a batch of one). Default 512 KiB. */
  maxBatchBytes?: number;
  /** The crawl waits while more embed jobs than this are waiting (backpressure). Default 64. */
  maxEmbedBacklog?: number;
  maxFileBytes?: number;
  signal?: AbortSignal | undefined;
  /** Wait until the writer has finished the run, and return its summary. Default true. */
  wait?: boolean;
  /** How long to wait for the writer to finish the run. Default 6 h. */
  waitTimeoutMs?: number;
  createSource?: (spec: SourceSpec) => SkillSource;
  onProgress?: (p: CrawlProgress) => void;
}

/** What a distributed crawl did, and (when waited for) the run as the writer finished it. */
export interface DistributedCrawlResult {
  runKey: string;
  runId: number;
  status: 'completed' | 'interrupted' | 'failed';
  counts: ProducerCounts;
  /** Batches sent (embed or write jobs). */
  batches: number;
  sources: RunSource[];
  summary?: DistributedRunSummary;
  /** The run had already ended (a redelivered crawl job): this crawl did nothing. */
  finished?: string;
}

/** One distributed crawl, as its steps share it. */
interface DistributedRun {
  options: DistributedCrawlOptions;
  sources: RunSource[];
  counts: ProducerCounts;
  /** Numbered by the writer when the run begins (0 before). */
  attempt: number;
  /** The writer has begun the run: a final failure must end it. */
  begun: boolean;
  /** `run-end` is queued: the writer ends the run and releases its sources. */
  handedOver: boolean;
  /** Throws when Redis lost the run's jobs since the run began (redis-epoch.ts). */
  checkEpoch: (detail: string) => Promise<void>;
}

/**
 * The producer's half of a distributed run: the same crawl and triage as the embedded mode, but batches go to
 * Redis instead of a local pool. Skills unchanged for the model are only noted as seen (an unchanged re-index
 * enqueues no embed work); a skill whose content changed but whose embedded text did not reuses its vector.
 * Order of messages per source: batches, then `source-done` (the writer waits for the batches it counts);
 * after all sources, `run-end`.
 */
export async function crawlDistributed(options: DistributedCrawlOptions): Promise<DistributedCrawlResult> {
  const { queues, runKey } = options;
  const prefix = queues.target.prefix;
  const specs = [...options.sources];
  const dup = specs.find((s, i) => specs.findIndex((o) => o.id === s.id) !== i);
  if (dup) throw new IndexerError(ERROR_CODES.BAD_OPTION, `two sources have the id "${dup.id}"`);
  const sourceObjects = specs.map((spec) => (options.createSource ?? createSource)(spec));
  const redis = new Redis(queues.target.url, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  const locks = new SourceLocks(redis, prefix, runKey);
  const ids = specs.map((s) => s.id);
  // Seen before the run begins: if it changes before the run is over, Redis lost the run's jobs (redis-epoch.ts).
  const { epoch } = await redisEpoch(redis, prefix);
  const run: DistributedRun = {
    options,
    sources: specs.map(runSourceOf),
    counts: { seen: 0, unchanged: 0, failed: 0, warnings: 0 },
    attempt: 0,
    begun: false,
    handedOver: false,
    checkEpoch: async (detail) => {
      if (!(await sameEpoch(redis, prefix, epoch))) throw redisDataLost(detail);
    },
  };
  await locks.takeAll(ids);
  try {
    return await crawlRun(run, redis, sourceObjects, locks, ids);
  } catch (err) {
    // A crawl that failed for good after its run began ends the run as failed, so it does not stay `running`
    // forever; its sources are released by the writer once the batches already queued are written or dropped.
    if (run.begun && !run.handedOver && (options.isFinal?.(err) ?? true)) await abandonRun(run, err);
    throw err;
  } finally {
    // A crawl that failed before handing the run over frees its sources at once.
    if (!run.handedOver) await locks.release(ids);
    else locks.stopRenewing();
    redis.disconnect();
  }
}

/** Begins the run with the writer, crawls its sources into the queues, and hands the run over. */
async function crawlRun(
  run: DistributedRun,
  redis: Redis,
  sourceObjects: readonly SkillSource[],
  locks: SourceLocks,
  ids: readonly string[],
): Promise<DistributedCrawlResult> {
  const { options, sources, counts } = run;
  const { queues, log, runKey, model } = options;
  const begin = await askWriter<BeginRunReply>(queues, 'begin', {
    runKey,
    sources,
    model: { id: model.id, dim: model.dim, pooling: model.pooling },
    textConfig: TEXT_CONFIG,
  });
  if (begin.finished) {
    // A crawl job redelivered after its run already ended: nothing left to do.
    log.warn(
      { runKey, runId: begin.runId, status: begin.finished },
      'run already finished: not crawled again',
    );
    return {
      runKey,
      runId: begin.runId,
      status: 'completed',
      counts,
      batches: 0,
      sources,
      finished: begin.finished,
    };
  }
  run.attempt = begin.attempt;
  run.begun = true;
  const reembed = options.reembed === true || begin.textConfigChanged;
  log.info(
    { runKey, runId: begin.runId, attempt: run.attempt, sources: ids, model: model.id, reembed },
    'run crawling',
  );
  const queued = await queueSources(
    {
      queues,
      redis,
      log,
      runKey,
      attempt: run.attempt,
      model: { id: model.id, dim: model.dim, ...(options.modelDir ? { dir: options.modelDir } : {}) },
      reembed,
      sources,
      counts,
      batchSize: options.batchSize ?? 32,
      maxBatchBytes: options.maxBatchBytes ?? 512 * 1024,
      maxEmbedBacklog: options.maxEmbedBacklog ?? 64,
      maxFileBytes: options.maxFileBytes ?? 1024 * 1024,
      signal: options.signal,
      onProgress: options.onProgress,
    },
    sourceObjects,
  ).catch(async (err: unknown) => {
    // A writer question or a queued job that vanished mid-crawl ("job 3 is gone") is Redis losing its data when
    // the epoch went with it: report that (exit 4, the run failed), not a refused question.
    const lost = await run.checkEpoch('jobs of the run vanished while it was crawled').then(
      () => undefined,
      (e: unknown) => e,
    );
    throw lost instanceof IndexerError && lost.code === ERROR_CODES.REDIS_DATA_LOST ? lost : err;
  });
  return await handOver(run, begin, queued, locks, ids);
}

/**
 * Queues `run-end` once every batch is queued, holds the sources until the writer ends the run, and waits for
 * the writer's summary unless told not to.
 */
async function handOver(
  run: DistributedRun,
  begin: BeginRunReply,
  queued: Queued,
  locks: SourceLocks,
  ids: readonly string[],
): Promise<DistributedCrawlResult> {
  const { options, sources, counts, attempt } = run;
  const { queues, log, runKey } = options;
  // No source crawled at all (a typo'd path, an unreachable host) is a failed run, never an empty "completed".
  const noneCrawled = sources.length > 0 && sources.every((s) => s.status === 'failed');
  const status = options.signal?.aborted ? 'interrupted' : noneCrawled ? 'failed' : 'completed';
  const end: RunEndJob = {
    runKey,
    attempt,
    sources,
    counts,
    status,
    ...(status === 'failed'
      ? { code: ERROR_CODES.SOURCE_FAILED, message: `no source could be crawled: ${sources[0]?.error ?? ''}` }
      : {}),
    ...(begin.textConfigChanged ? { textConfig: TEXT_CONFIG } : {}),
  };
  await run.checkEpoch('it lost its epoch key while the run was crawled');
  // The crawl is over: hold the sources until the writer ends the run (it releases them), not longer.
  locks.stopRenewing();
  await locks.extend(ids, options.waitTimeoutMs ?? 6 * 3600_000);
  const endJob = await queues.write.add('run-end', end, { jobId: jobId('end', runKey, `a${attempt}`) });
  run.handedOver = true;
  log.info(
    { runKey, status, counts, sent: queued.sent, batches: queued.batches },
    'run crawled: every batch is queued',
  );
  const result: DistributedCrawlResult = {
    runKey,
    runId: begin.runId,
    status,
    counts,
    batches: queued.batches,
    sources,
  };
  // Stopped by a signal: what was crawled is handed over; do not hold the process until it is written.
  if (options.wait === false || options.signal?.aborted) return result;
  const summary = await waitForWriter(run, endJob.id as string);
  if (summary) result.summary = summary;
  return result;
}

/** The run as the writer ended it; undefined when the waiting stopped first (a signal, the timeout). */
async function waitForWriter(
  run: DistributedRun,
  endJobId: string,
): Promise<DistributedRunSummary | undefined> {
  const { options } = run;
  // The writer finishes the run whether or not anyone waits: a signal or a timeout ends only the waiting.
  const stopped = new Promise<undefined>((resolve) => {
    if (options.signal?.aborted) resolve(undefined);
    options.signal?.addEventListener('abort', () => resolve(undefined), { once: true });
  });
  // Between two looks at the job, block on the writer's wake-up (a connection of its own: blocking).
  const wakeUps = new Redis(options.queues.target.url, { maxRetriesPerRequest: 3 });
  wakeUps.on('error', () => undefined);
  const ended = runEndedKey(options.queues.target.prefix, options.runKey);
  const finished = waitForJob<DistributedRunSummary>(
    options.queues.write,
    endJobId,
    options.waitTimeoutMs ?? 6 * 3600_000,
    {
      maxPauseMs: 500,
      sleep: async (ms) => {
        // A Redis in trouble: fall back to a plain pause (the next look at the job says what happened).
        if ((await wakeUps.blpop(ended, ms / 1000).catch(() => 'error')) === 'error')
          await new Promise((r) => setTimeout(r, ms));
      },
    },
  ).catch(async (err: unknown) => {
    // The run-end job vanished: Redis lost it (never report that run as completed).
    await run.checkEpoch(`job ${endJobId} is gone`);
    options.log.warn({ err, runKey: options.runKey }, 'stopped waiting for the writer; the run goes on');
    return undefined;
  });
  const summary = await Promise.race([finished, stopped]).finally(() => wakeUps.disconnect());
  // A summary can come from a Redis that was emptied mid-run (the writer had already failed the run).
  if (summary) await run.checkEpoch('it lost its epoch key while the run was written');
  return summary;
}

/** Queues the `run-end` of a crawl that failed for good: the writer ends the run as failed. */
async function abandonRun(run: DistributedRun, err: unknown): Promise<void> {
  const { runKey, queues } = run.options;
  const message = redactUrl(err instanceof Error ? err.message : String(err));
  const end: RunEndJob = {
    runKey,
    attempt: run.attempt,
    sources: run.sources,
    counts: run.counts,
    status: 'failed',
    abandon: true,
    message: `the crawl failed: ${message}`,
    ...(err instanceof IndexerError ? { code: err.code } : {}),
  };
  try {
    await queues.write.add('run-end', end, { jobId: jobId('end', runKey, `a${run.attempt}`) });
    run.handedOver = true;
  } catch {
    /* Redis is gone too: crawlDistributed releases the locks, the run stays running until a retry */
  }
}
