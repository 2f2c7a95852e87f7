import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { SkillSource, SourceSpec, SourceState } from '../producer/source.js';
import type {
  EmbedJob,
  KnownReply,
  ProducerCounts,
  SourceDoneJob,
  WriteBatchJob,
} from '../shared/distributed-messages.js';
import type { KnownSource } from '../shared/known-skills.js';
import { jobId } from '../shared/queues.js';
import type { RunSource } from '../shared/records.js';
import { redactUrl } from '../shared/redact.js';
import { crawlSource } from '../stages/crawl-source.js';
import { OpenBatch, type BatchLists } from '../stages/open-batch.js';
import type { ChangedSkill } from '../stages/triage.js';
import { askWriter } from './ask-writer.js';
import type { PipelineQueues } from './pipeline-queues.js';
import { runProgressKey } from './run-progress.js';

/** A skill of an embed job: with its text when it needs embedding, without when its stored vector is reused. */
type QueuedSkill = EmbedJob['skills'][number];

/** What the producer tells of its progress. */
export interface CrawlProgress {
  crawled: number;
  sent: number;
  counts: ProducerCounts;
}

/** A run's sources, to be crawled into the queues. */
export interface SourceQueueing {
  queues: PipelineQueues;
  redis: Redis;
  log: Logger;
  runKey: string;
  attempt: number;
  /** The model the workers load. */
  model: EmbedJob['model'];
  reembed: boolean;
  /** The run's sources as recorded: each gets its status here. */
  sources: RunSource[];
  counts: ProducerCounts;
  batchSize: number;
  maxBatchBytes: number;
  /** The crawl waits while more embed jobs than this are waiting. */
  maxEmbedBacklog: number;
  maxFileBytes: number;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: CrawlProgress) => void) | undefined;
}

/** What was sent for the run: items handled and batches queued. */
export interface Queued {
  sent: number;
  batches: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Crawls the sources one after another. Order of messages per source: batches, then `source-done` (the writer
 * waits for the batches it counts). A source not begun when the signal came is sent as interrupted.
 */
export async function queueSources(
  q: SourceQueueing,
  sourceObjects: readonly SkillSource[],
): Promise<Queued> {
  const progress = { crawled: 0, sent: 0, batches: 0 };
  const report = (): void =>
    q.onProgress?.({ crawled: progress.crawled, sent: progress.sent, counts: q.counts });
  for (const [i, source] of sourceObjects.entries()) {
    const { spec } = source;
    const runSource = q.sources[i] as RunSource;
    if (q.signal?.aborted) {
      runSource.status = 'interrupted';
      await q.queues.write.add('source-done', sourceDone(q, spec, 0, 'interrupted'), {
        jobId: jobId('d', q.runKey, `a${q.attempt}`, spec.id),
      });
      continue;
    }
    await queueSource(q, source, runSource, progress, report);
  }
  return { sent: progress.sent, batches: progress.batches };
}

/** One source: crawled in batches of its own, sent to the embed or write queue, then its `source-done`. */
async function queueSource(
  q: SourceQueueing,
  source: SkillSource,
  runSource: RunSource,
  progress: { crawled: number; sent: number; batches: number },
  report: () => void,
): Promise<void> {
  const { spec } = source;
  const slog = q.log.child({ runKey: q.runKey, source: spec.id });
  const knownReply = await askWriter<KnownReply>(q.queues, 'known', {
    sourceId: spec.id,
    modelId: q.model.id,
  });
  const known = knownFrom(knownReply);
  let batchNo = 0;
  const batch = new OpenBatch<QueuedSkill>({
    size: q.batchSize,
    maxBytes: q.maxBatchBytes,
    hold: (t) => heldSkill(t, known, q.reembed),
    bytesOf: (s) => s.record.body.length + s.record.description.length + (s.text?.length ?? 0),
    send: async (lists) => {
      const handled = await sendBatch(q, spec.id, batchNo, lists);
      progress.sent += handled;
      progress.batches++;
      batchNo++;
      report();
    },
  });
  const crawled = await crawlSource({
    source,
    runSource,
    known,
    previous: knownReply.state ?? undefined,
    reembed: q.reembed,
    maxFileBytes: q.maxFileBytes,
    signal: q.signal,
    log: (msg, fields) => slog.info(fields ?? {}, msg),
    counts: q.counts,
    batch,
    onItem: () => void progress.crawled++,
  });
  // The redacted message only: a git error quotes its URL, which may carry a token.
  if (crawled.failure)
    slog.error({ code: crawled.failure.err.code, error: crawled.failure.message }, 'source failed');
  await batch.flush();
  runSource.status = crawled.status;
  await q.queues.write.add('source-done', sourceDone(q, spec, batchNo, crawled.status, crawled.state), {
    jobId: jobId('d', q.runKey, `a${q.attempt}`, spec.id),
  });
}

/** A changed skill as an embed job carries it: same text as its stored vector, it reuses it (the writer copies it). */
function heldSkill(t: ChangedSkill, known: KnownSource, reembed: boolean): QueuedSkill {
  const before = known.skills.get(t.record.id);
  const reuse = !reembed && before?.textHash === t.textHash;
  return reuse
    ? { record: t.record, textHash: t.textHash }
    : { record: t.record, textHash: t.textHash, text: t.text };
}

/** Sends one batch: to the embed queue when a text needs embedding, else straight to the writer. Returns its items. */
async function sendBatch(
  q: SourceQueueing,
  sourceId: string,
  batchNo: number,
  lists: BatchLists<QueuedSkill>,
): Promise<number> {
  const { runKey, attempt, queues } = q;
  const { skills, errors, seen } = lists;
  const batch: EmbedJob = { runKey, attempt, sourceId, batchNo, model: q.model, skills, errors, seen };
  const id = { jobId: jobId('w', runKey, `a${attempt}`, sourceId, batchNo) };
  if (skills.some((s) => s.text !== undefined)) {
    // Backpressure: the crawl waits while the workers are behind, so Redis memory stays bounded.
    while ((await queues.embed.getWaitingCount()) >= q.maxEmbedBacklog && !q.signal?.aborted)
      await sleep(200);
    await queues.embed.add('embed', batch, { jobId: jobId('e', runKey, `a${attempt}`, sourceId, batchNo) });
  } else {
    // Nothing to embed (unchanged, rejected, or reused vectors): straight to the writer.
    const write: WriteBatchJob = { ...batch, vectors: {}, embedded: 0 };
    await queues.write.add('batch', write, id);
  }
  const handled = skills.length + errors.length + seen.length;
  await q.redis.hincrby(runProgressKey(queues.target.prefix, runKey), 'sent', handled).catch(() => 0);
  return handled;
}

/** What the writer knows of a source, from its answer to `known`. */
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

/** The `source-done` message: how a source's crawl ended, after its batches. */
function sourceDone(
  q: SourceQueueing,
  spec: SourceSpec,
  batches: number,
  status: SourceDoneJob['status'],
  state?: SourceState,
): SourceDoneJob {
  return {
    runKey: q.runKey,
    attempt: q.attempt,
    // Credentials never go into Redis: the writer saves the location redacted anyway.
    source: { ...spec, location: redactUrl(spec.location) },
    batches,
    status,
    ...(state ? { state } : {}),
  };
}
