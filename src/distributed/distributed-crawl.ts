import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ModelSpec } from '../model/model-spec.js';
import { TEXT_CONFIG } from '../model/text-config.js';
import { routeItem, runSourceOf, unchangedByStat } from '../stages/triage.js';
import { globFilter } from '../embedded/embedded-run.js';
import { createSource } from '../producer/create-source.js';
import type { SkillSource, SourceSpec, SourceState } from '../producer/source.js';
import type {
  BeginRunReply,
  DistributedRunSummary,
  EmbedJob,
  KnownReply,
  ProducerCounts,
  RunEndJob,
  SourceDoneJob,
  WriteBatchJob,
} from '../shared/distributed-messages.js';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { jobId } from '../shared/queues.js';
import type { ErrorRecord, RunSource } from '../shared/records.js';
import { redactUrl } from '../shared/redact.js';
import type { KnownSource } from '../writer/index-writer.js';
import { redisDataLost, redisEpoch, sameEpoch } from './redis-epoch.js';
import { askWriter } from './ask-writer.js';
import { waitForJob, type PipelineQueues } from './pipeline-queues.js';
import { runProgressKey } from './run-progress.js';
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
  onProgress?: (p: { crawled: number; sent: number; counts: ProducerCounts }) => void;
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function knownFrom(reply: KnownReply): KnownSource {
  return {
    skills: new Map(
      // A writer from before versioned parse rules sends no parseVersion: 1, the rules of its time.
      reply.skills.map(([id, contentHash, statKey, removed, textHash, parseVersion]) => [
        id,
        { contentHash, statKey, removed: removed === 1, textHash, parseVersion: parseVersion ?? 1 },
      ]),
    ),
    rejections: new Map(
      reply.rejections.map((r) => [`${r.sourceId}/${r.path}`, { ...r, parseVersion: r.parseVersion ?? 1 }]),
    ),
  };
}

/**
 * The producer's half of a distributed run: the same crawl and triage as the embedded mode, but batches go to
 * Redis instead of a local pool. Skills unchanged for the model are only noted as seen (an unchanged re-index
 * enqueues no embed work); a skill whose content changed but whose embedded text did not reuses its vector.
 * Order of messages per source: batches, then `source-done` (the writer waits for the batches it counts);
 * after all sources, `run-end`.
 */
export async function crawlDistributed(options: DistributedCrawlOptions): Promise<DistributedCrawlResult> {
  const { queues, log, runKey, model } = options;
  let attempt = 0;
  const batchSize = options.batchSize ?? 32;
  const maxBatchBytes = options.maxBatchBytes ?? 512 * 1024;
  const maxBacklog = options.maxEmbedBacklog ?? 64;
  const prefix = queues.target.prefix;
  const specs = [...options.sources];
  const dup = specs.find((s, i) => specs.findIndex((o) => o.id === s.id) !== i);
  if (dup) throw new IndexerError(ERROR_CODES.BAD_OPTION, `two sources have the id "${dup.id}"`);
  const sourceObjects = specs.map((spec) => (options.createSource ?? createSource)(spec));
  const sources: RunSource[] = specs.map(runSourceOf);
  const redis = new Redis(queues.target.url, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  const locks = new SourceLocks(redis, prefix, runKey);
  const ids = specs.map((s) => s.id);
  // Seen before the run begins: if it changes before the run is over, Redis lost the run's jobs (redis-epoch.ts).
  const { epoch } = await redisEpoch(redis, prefix);
  const checkEpoch = async (detail: string): Promise<void> => {
    if (!(await sameEpoch(redis, prefix, epoch))) throw redisDataLost(detail);
  };
  await locks.takeAll(ids);
  let handedOver = false;
  let begun = false;
  const counts: ProducerCounts = { seen: 0, unchanged: 0, failed: 0, warnings: 0 };
  try {
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
    attempt = begin.attempt;
    begun = true;
    const reembed = options.reembed === true || begin.textConfigChanged;
    const runModel = { id: model.id, dim: model.dim, ...(options.modelDir ? { dir: options.modelDir } : {}) };
    let crawled = 0;
    let sent = 0;
    let batchesSent = 0;
    const progressKey = runProgressKey(prefix, runKey);
    const report = (): void => options.onProgress?.({ crawled, sent, counts });
    log.info({ runKey, runId: begin.runId, attempt, sources: ids, model: model.id, reembed }, 'run crawling');

    for (const [i, source] of sourceObjects.entries()) {
      const spec = source.spec;
      const runSource = sources[i] as RunSource;
      const slog = log.child({ runKey, source: spec.id });
      if (options.signal?.aborted) {
        runSource.status = 'interrupted';
        await queues.write.add('source-done', sourceDone(spec, 0, 'interrupted'), {
          jobId: jobId('d', runKey, `a${attempt}`, spec.id),
        });
        continue;
      }
      const knownReply = await askWriter<KnownReply>(queues, 'known', {
        sourceId: spec.id,
        modelId: model.id,
      });
      const known = knownFrom(knownReply);
      let batchNo = 0;
      let skills: EmbedJob['skills'] = [];
      let errors: ErrorRecord[] = [];
      let seen: EmbedJob['seen'] = [];
      let bytes = 0;
      let partial = false;
      const leftOut = new Set<string>();

      const flush = async (): Promise<void> => {
        if (skills.length === 0 && errors.length === 0 && seen.length === 0) return;
        const batch: EmbedJob = {
          runKey,
          attempt,
          sourceId: spec.id,
          batchNo,
          model: runModel,
          skills,
          errors,
          seen,
        };
        const id = { jobId: jobId('w', runKey, `a${attempt}`, spec.id, batchNo) };
        if (skills.some((s) => s.text !== undefined)) {
          // Backpressure: the crawl waits while the workers are behind, so Redis memory stays bounded.
          while ((await queues.embed.getWaitingCount()) >= maxBacklog && !options.signal?.aborted)
            await sleep(200);
          await queues.embed.add('embed', batch, {
            jobId: jobId('e', runKey, `a${attempt}`, spec.id, batchNo),
          });
        } else {
          // Nothing to embed (unchanged, rejected, or reused vectors): straight to the writer.
          const write: WriteBatchJob = { ...batch, vectors: {}, embedded: 0 };
          await queues.write.add('batch', write, id);
        }
        const handled = skills.length + errors.length + seen.length;
        await redis.hincrby(progressKey, 'sent', handled).catch(() => 0);
        sent += handled;
        batchesSent++;
        batchNo++;
        skills = [];
        errors = [];
        seen = [];
        bytes = 0;
        report();
      };

      const crawl = source.crawl({
        isUnchanged: (id, statKey) => unchangedByStat(known, id, statKey, reembed),
        wants: globFilter(spec.include, spec.exclude),
        previous: knownReply.state ?? undefined,
        maxFileBytes: options.maxFileBytes ?? 1024 * 1024,
        signal: options.signal,
        log: (msg, fields) => slog.info(fields ?? {}, msg),
      });
      let state: SourceState | undefined;
      let status: SourceDoneJob['status'] = 'completed';
      try {
        for (;;) {
          const next = await crawl.next();
          if (next.done) {
            state = next.value;
            if (partial) {
              status = 'partial';
              runSource.error =
                'some folders could not be read: no tombstones, state not saved (see index_errors)';
            } else if (options.signal?.aborted) status = 'interrupted';
            else if (typeof state?.commit === 'string') runSource.commit = state.commit;
            break;
          }
          crawled++;
          const routed = routeItem(next.value, spec, known, reembed, {
            counts,
            errors,
            seen,
            leftOut,
            changed: (t) => {
              const before = known.skills.get(t.record.id);
              // Same text as its stored vector: reuse it (the writer copies it), no embedding needed.
              const reuse = !reembed && before?.textHash === t.textHash;
              skills.push(
                reuse
                  ? { record: t.record, textHash: t.textHash }
                  : { record: t.record, textHash: t.textHash, text: t.text },
              );
              bytes += t.record.body.length + t.record.description.length + (reuse ? 0 : t.text.length);
            },
          });
          if (routed.partial) partial = true;
          if (
            skills.length >= batchSize ||
            bytes >= maxBatchBytes ||
            seen.length + errors.length >= 4 * batchSize
          ) {
            await flush();
          }
        }
      } catch (err) {
        await crawl.return(undefined).catch(() => undefined);
        if (!(err instanceof IndexerError) || err.code !== ERROR_CODES.SOURCE_FAILED) throw err;
        const message = redactUrl(err.message);
        status = 'failed';
        runSource.error = message;
        errors.push({ sourceId: spec.id, path: '.', code: err.code, message });
        slog.error({ err }, 'source failed');
      }
      await flush();
      runSource.status = status;
      await queues.write.add('source-done', sourceDone(spec, batchNo, status, state), {
        jobId: jobId('d', runKey, `a${attempt}`, spec.id),
      });
    }

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
        ? {
            code: ERROR_CODES.SOURCE_FAILED,
            message: `no source could be crawled: ${sources[0]?.error ?? ''}`,
          }
        : {}),
      ...(begin.textConfigChanged ? { textConfig: TEXT_CONFIG } : {}),
    };
    await checkEpoch('it lost its epoch key while the run was crawled');
    // The crawl is over: hold the sources until the writer ends the run (it releases them), not longer.
    locks.stopRenewing();
    await locks.extend(ids, options.waitTimeoutMs ?? 6 * 3600_000);
    const endJob = await queues.write.add('run-end', end, { jobId: jobId('end', runKey, `a${attempt}`) });
    handedOver = true;
    log.info({ runKey, status, counts, sent, batches: batchesSent }, 'run crawled: every batch is queued');
    const result: DistributedCrawlResult = {
      runKey,
      runId: begin.runId,
      status,
      counts,
      batches: batchesSent,
      sources,
    };
    // Stopped by a signal: what was crawled is handed over; do not hold the process until it is written.
    if (options.wait === false || options.signal?.aborted) return result;
    // The writer finishes the run whether or not anyone waits: a signal or a timeout ends only the waiting.
    const stopped = new Promise<undefined>((resolve) => {
      if (options.signal?.aborted) resolve(undefined);
      options.signal?.addEventListener('abort', () => resolve(undefined), { once: true });
    });
    const finished = waitForJob<DistributedRunSummary>(
      queues.write,
      endJob.id as string,
      options.waitTimeoutMs ?? 6 * 3600_000,
    ).catch(async (err: unknown) => {
      // The run-end job vanished: Redis lost it (never report that run as completed).
      await checkEpoch(`job ${String(endJob.id)} is gone`);
      log.warn({ err, runKey }, 'stopped waiting for the writer; the run goes on');
      return undefined;
    });
    const summary = await Promise.race([finished, stopped]);
    // A summary can come from a Redis that was emptied mid-run (the writer had already failed the run).
    if (summary) await checkEpoch('it lost its epoch key while the run was written');
    if (summary) result.summary = summary;
    return result;
  } catch (err) {
    // A crawl that failed for good after its run began ends the run as failed, so it does not stay `running`
    // forever; its sources are released by the writer once the batches already queued are written or dropped.
    if (begun && !handedOver && (options.isFinal?.(err) ?? true)) {
      const message = redactUrl(err instanceof Error ? err.message : String(err));
      const end: RunEndJob = {
        runKey,
        attempt,
        sources,
        counts,
        status: 'failed',
        abandon: true,
        message: `the crawl failed: ${message}`,
        ...(err instanceof IndexerError ? { code: err.code } : {}),
      };
      try {
        await queues.write.add('run-end', end, { jobId: jobId('end', runKey, `a${attempt}`) });
        handedOver = true;
      } catch {
        /* Redis is gone too: the locks are released below, the run stays running until a retry */
      }
    }
    throw err;
  } finally {
    // A crawl that failed before handing the run over frees its sources at once.
    if (!handedOver) await locks.release(ids);
    else locks.stopRenewing();
    redis.disconnect();
  }

  function sourceDone(
    spec: SourceSpec,
    batches: number,
    status: SourceDoneJob['status'],
    state?: SourceState,
  ): SourceDoneJob {
    return {
      runKey,
      attempt,
      // Credentials never go into Redis: the writer saves the location redacted anyway.
      source: { ...spec, location: redactUrl(spec.location) },
      batches,
      status,
      ...(state ? { state } : {}),
    };
  }
}
