import { z } from 'zod';
import { WARNING_CODES, type ErrorCode, type WarningCode } from './errors.js';
import type { ErrorRecord, RunCounts, RunSource, SkillRecord, StoredSource } from './records.js';
import { SourceKindSchema } from './source-kinds.js';

/**
 * The payloads of the distributed pipeline's jobs: one typed definition per message that crosses a process
 * boundary through Redis. Every role validates what it takes off a queue with these schemas (a job is
 * untrusted input like any other: an older producer, a hand-made job, a corrupted payload); a payload that
 * does not validate can never succeed and fails its job with BullMQ's `UnrecoverableError`.
 */

/** A source as `SourceSpec` (see src/producer/source.ts). */
export const SourceSpecSchema = z.object({
  id: z.string().min(1),
  kind: SourceKindSchema,
  location: z.string().min(1),
  ref: z.string().optional(),
  include: z.array(z.string()).optional(),
  exclude: z.array(z.string()).optional(),
  trust: z.string().optional(),
  submodules: z.boolean().optional(),
  apiUrl: z.string().optional(),
});

const RunSourceSchema = z.object({
  id: z.string(),
  kind: SourceKindSchema,
  location: z.string(),
  ref: z.string().optional(),
  commit: z.string().optional(),
  status: z.string().optional(),
  error: z.string().optional(),
}) satisfies z.ZodType<RunSource>;

const ErrorRecordSchema = z.object({
  sourceId: z.string(),
  path: z.string(),
  code: z.string().transform((c) => c as ErrorCode),
  message: z.string(),
  line: z.number().int().optional(),
  statKey: z.string().optional(),
  parseVersion: z.number().int().min(1).optional(),
}) satisfies z.ZodType<ErrorRecord, unknown>;

const SkillRecordSchema = z.object({
  id: z.string().min(1),
  sourceId: z.string().min(1),
  path: z.string(),
  name: z.string(),
  description: z.string(),
  body: z.string(),
  frontMatter: z.record(z.string(), z.unknown()),
  license: z.string().nullable(),
  allowedTools: z.array(z.string()).nullable(),
  warnings: z.array(
    z.object({
      code: z.enum(Object.values(WARNING_CODES) as [string, ...string[]]).transform((c) => c as WarningCode),
      message: z.string(),
    }),
  ),
  contentHash: z.string(),
  statKey: z.string().optional(),
  parseVersion: z.number().int().min(1).optional(),
  origin: z
    .object({
      kind: SourceKindSchema,
      url: z.string().optional(),
      ref: z.string().optional(),
      commit: z.string().optional(),
      blobSha: z.string().optional(),
      trust: z.string().optional(),
    })
    .optional(),
});

/** The model a run embeds with: its id, and the folder it loads from (absent: the built-in default). */
export const RunModelSchema = z.object({
  id: z.string().min(1),
  dim: z.number().int().positive(),
  dir: z.string().min(1).optional(),
});
export type RunModel = z.infer<typeof RunModelSchema>;

/** Identifies one batch of one attempt at one run (a retried crawl job is a new attempt at the same run). */
const BatchRef = {
  runKey: z.string().min(1),
  attempt: z.number().int().min(1),
  sourceId: z.string().min(1),
  batchNo: z.number().int().min(0),
};

/** One skill of a batch: its row, and the text its vector is made of (present only when it needs embedding). */
const BatchSkillSchema = z.object({
  record: SkillRecordSchema,
  textHash: z.string().min(1),
  text: z.string().optional(),
});

/**
 * `embed` queue: skills whose text must go through the model, plus the batch's unchanged and rejected items
 * (they ride along so the batch is written in one transaction).
 */
export const EmbedJobSchema = z.object({
  ...BatchRef,
  model: RunModelSchema,
  skills: z.array(BatchSkillSchema),
  errors: z.array(ErrorRecordSchema),
  seen: z.array(z.object({ id: z.string(), statKey: z.string().optional() })),
});
export type EmbedJob = z.infer<typeof EmbedJobSchema>;

/**
 * `write` queue, job name `batch`: an embed job's result (or a batch that needed no embedding). `vectors` maps
 * text hash → base64 of the little-endian float32 BLOB; a skill whose text hash is not in it reuses the vector
 * the database already holds for that text.
 */
export const WriteBatchJobSchema = EmbedJobSchema.extend({
  vectors: z.record(z.string(), z.string()),
  /** Texts the worker ran through the model for this batch. */
  embedded: z.number().int().min(0),
});
export type WriteBatchJob = z.infer<typeof WriteBatchJobSchema>;

/** `write` queue, job name `source-done`: one source's crawl ended; sent after all its batches. */
export const SourceDoneJobSchema = z.object({
  runKey: z.string().min(1),
  attempt: z.number().int().min(1),
  source: SourceSpecSchema,
  /** How many batches of this source the producer sent in this attempt. */
  batches: z.number().int().min(0),
  /** `completed`: crawled to the end, so tombstone and save state once every batch is written. */
  status: z.enum(['completed', 'partial', 'failed', 'interrupted']),
  state: z.record(z.string(), z.unknown()).optional(),
});
export type SourceDoneJob = z.infer<typeof SourceDoneJobSchema>;

/** Counts only the producer knows (what it crawled); the writer adds what it wrote. */
export const ProducerCountsSchema = z.object({
  seen: z.number().int().min(0),
  unchanged: z.number().int().min(0),
  failed: z.number().int().min(0),
  warnings: z.number().int().min(0),
});
export type ProducerCounts = z.infer<typeof ProducerCountsSchema>;

/** `write` queue, job name `run-end`: the crawl is over; the run is finished once every source is done. */
export const RunEndJobSchema = z.object({
  runKey: z.string().min(1),
  attempt: z.number().int().min(1),
  sources: z.array(RunSourceSchema),
  counts: ProducerCountsSchema,
  status: z.enum(['completed', 'interrupted', 'failed']),
  /** The run's text config changed its vectors: once complete, the model's stored text config is updated. */
  textConfig: z.unknown().optional(),
  /** The crawl failed for good: end the run now (as `failed`), without waiting for sources that never closed. */
  abandon: z.boolean().optional(),
  message: z.string().optional(),
  /** The error code of a failed run, when one names it (docs/errors.md): it picks the CLI's exit status. */
  code: z.string().optional(),
});
export type RunEndJob = z.infer<typeof RunEndJobSchema>;

/** `writer-rpc` queue, job name `begin`: register the model and start (or find) the run. */
export const BeginRunRpcSchema = z.object({
  runKey: z.string().min(1),
  sources: z.array(RunSourceSchema),
  model: z.object({ id: z.string(), dim: z.number().int().positive(), pooling: z.string() }),
  textConfig: z.unknown(),
});
export type BeginRunRpc = z.infer<typeof BeginRunRpcSchema>;

/** Answer to `begin`. */
export interface BeginRunReply {
  runId: number;
  /** This crawl's attempt number at the run: every message of it carries this. */
  attempt: number;
  /** The run already ended (`completed` or `failed`): nothing to crawl. */
  finished?: string;
  /** The model's stored vectors were made from another text config: re-embed every skill. */
  textConfigChanged: boolean;
}

/** `writer-rpc` queue, job name `known`: what the database holds for a source, for the incremental check. */
export const KnownRpcSchema = z.object({ sourceId: z.string().min(1), modelId: z.string().min(1) });

/** Answer to `known`: compact rows (this crosses Redis once per source per run). */
export interface KnownReply {
  /** [id, contentHash, statKey, removed (0|1), textHash, parseVersion] */
  skills: [string, string, string | null, 0 | 1, string | null, number][];
  rejections: (ErrorRecord & { statKey: string; parseVersion: number })[];
  state: Record<string, unknown> | null;
}

/** `writer-rpc` queue, job name `sources`: every source the database knows (for `backfill --all`). */
export interface SourcesReply {
  sources: StoredSource[];
}

/** `crawl` queue: one run to do (a schedule fired, a backfill, or `produce` handing its run to a server). */
export const CrawlJobSchema = z.object({
  /** Explicit sources, or every source the database knows. */
  sources: z.union([z.array(SourceSpecSchema).min(1), z.literal('all')]),
  /** Re-embed even unchanged skills. */
  reembed: z.boolean().default(false),
  /** Model folder to embed with (must exist at this path for producers and workers); absent: the default. */
  modelDir: z.string().min(1).optional(),
  trigger: z.enum(['schedule', 'backfill', 'produce']),
  schedule: z.string().optional(),
});
export type CrawlJob = z.input<typeof CrawlJobSchema>;

/** The summary a finished distributed run returns (the `run-end` job's return value). */
export interface DistributedRunSummary {
  runKey: string;
  runId: number;
  status: 'completed' | 'interrupted' | 'failed';
  sources: RunSource[];
  counts: RunCounts;
  /** Why the run did not complete, if it did not. */
  message?: string;
  /** The error code of a failed run, when one names it. */
  code?: string;
}

/** Re-exported so queue code needs one import for payload types. */
export type { SkillRecord };
