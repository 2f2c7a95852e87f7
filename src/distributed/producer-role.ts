import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { resolveModelDir } from '../model/default-model.js';
import { loadModelSpec } from '../model/model-spec.js';
import type { SourceSpec } from '../producer/source.js';
import { CrawlJobSchema, type SourcesReply } from '../shared/distributed-messages.js';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { jobId, QUEUES } from '../shared/queues.js';
import type { RedisTarget } from '../shared/redis-connection.js';
import { askWriter } from './ask-writer.js';
import { crawlDistributed, type DistributedCrawlResult } from './distributed-crawl.js';
import { malformedJob } from './malformed-job.js';
import { PipelineQueues, workerOptions } from './pipeline-queues.js';

/** Options of {@link startProducerRole}. */
export interface ProducerRoleOptions {
  target: RedisTarget;
  log: Logger;
  /** The built-in model's folder (runs that name no model embed with it). */
  defaultModelDir: () => Promise<string>;
  /** Crawls at once. Default 1. */
  concurrency?: number;
  maxFileBytes?: number;
  /** Crawl job lock in ms: a crawl whose producer died is taken up again after this. Default 120 s. */
  lockMs?: number;
  onJob?: (e: { ms: number; ok: boolean }) => void;
}

/** A running producer server. */
export interface ProducerRole {
  /** The deployment's queues as this role opened them (for queue-depth metrics); closed with the role. */
  readonly queues: PipelineQueues;
  ready(): boolean;
  close(graceMs?: number): Promise<void>;
}

/**
 * `produce --serve`: serves the `crawl` queue, where job schedulers and backfills put runs. Each crawl job is one
 * run, named after the job (a retry after a crash is the next attempt at the same run), and the job stays
 * active until the writer has finished the run, so "is a backfill of X running?" is answered by the queue.
 */
export async function startProducerRole(options: ProducerRoleOptions): Promise<ProducerRole> {
  const { target, log } = options;
  const queues = new PipelineQueues(target);
  const controller = new AbortController();

  const crawlJob = async (job: Job): Promise<DistributedCrawlResult | { skipped: string }> => {
    const t0 = performance.now();
    const parsed = CrawlJobSchema.safeParse(job.data);
    if (!parsed.success) throw malformedJob('crawl', parsed.error);
    const data = parsed.data;
    const runKey = jobId(job.id ?? `crawl-${Date.now()}`);
    const jlog = log.child({ runKey, jobId: job.id, trigger: data.trigger, schedule: data.schedule });
    let sources: SourceSpec[];
    if (data.sources === 'all') {
      const reply = await askWriter<SourcesReply>(queues, 'sources', {});
      sources = reply.sources.map((s) => ({
        id: s.id,
        kind: s.kind,
        location: s.location,
        ...(s.ref ? { ref: s.ref } : {}),
        ...(s.trust ? { trust: s.trust } : {}),
      }));
      if (sources.length === 0) return { skipped: 'the database knows no source yet' };
    } else sources = data.sources;
    const modelDir = data.modelDir ?? (await options.defaultModelDir());
    let model;
    try {
      // A built-in model's name (`backfill --model use-lite-en`) is resolved to this machine's cached build.
      model = loadModelSpec(await resolveModelDir(modelDir));
    } catch (err) {
      throw new UnrecoverableError(`model: ${(err as Error).message}`);
    }
    try {
      const result = await crawlDistributed({
        queues,
        log: jlog,
        runKey,
        // Retryable (Redis trouble, an unexpected error) with attempts left: the retry continues the run.
        isFinal: (err) =>
          (err instanceof IndexerError && err.code !== ERROR_CODES.REDIS) ||
          job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
        sources,
        model,
        modelDir: data.modelDir,
        reembed: data.reembed,
        maxFileBytes: options.maxFileBytes,
        signal: controller.signal,
        onProgress: (p) => void job.updateProgress({ ...p, phase: 'crawling' }).catch(() => undefined),
      });
      options.onJob?.({ ms: performance.now() - t0, ok: true });
      if (result.status === 'interrupted') {
        // Stopped by SIGTERM (a deploy): what was crawled is written and the run ends `interrupted`; failing
        // the job makes BullMQ retry it later, and that retry reopens the run as its next attempt.
        throw new Error('crawl interrupted by shutdown: it resumes on a retry');
      }
      return result;
    } catch (err) {
      options.onJob?.({ ms: performance.now() - t0, ok: false });
      // A schedule firing while an earlier run of the same source still writes: skip this firing, the next
      // one comes. Anything else that can never succeed is not retried.
      if (
        err instanceof IndexerError &&
        err.code === ERROR_CODES.ALREADY_RUNNING &&
        data.trigger === 'schedule'
      ) {
        jlog.warn({ reason: err.message }, 'scheduled run skipped');
        return { skipped: err.message };
      }
      if (err instanceof IndexerError && err.code !== ERROR_CODES.REDIS)
        throw new UnrecoverableError(err.message);
      throw err;
    }
  };

  const worker = new Worker(
    QUEUES.crawl,
    crawlJob,
    workerOptions(target, QUEUES.crawl, {
      concurrency: options.concurrency ?? 1,
      name: 'produce',
      lockMs: options.lockMs,
    }),
  );
  worker.on('error', (err) => log.error({ err }, 'queue connection error'));
  worker.on('failed', (job, err) => log.error({ err, jobId: job?.id }, 'crawl job failed'));
  await worker.waitUntilReady();
  log.info({ prefix: target.prefix }, 'producer ready: serving schedules and backfills');
  let closing = false;
  return {
    queues,
    ready: () => !closing && worker.isRunning(),
    async close(graceMs = 60_000) {
      if (closing) return;
      closing = true;
      // Stop crawling: the run in hand sends what it has, marks its sources interrupted and ends.
      controller.abort();
      const graceful = worker.close();
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      if ((await Promise.race([graceful, timer])) === 'timeout') await worker.close(true);
      await queues.close();
    },
  };
}
