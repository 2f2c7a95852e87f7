import { resolve } from 'node:path';
import type { ModelSpec } from '../model/model-spec.js';
import { TEXT_CONFIG } from '../model/text-config.js';
import { createSource } from '../producer/create-source.js';
import { dirSourceId } from '../producer/source-arg.js';
import type { SkillSource, SourceSpec, SourceState } from '../producer/source.js';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import type { RunCounts, RunSource } from '../shared/records.js';
import { crawlSource, runSourceOf } from '../stages/crawl-source.js';
import { EmbedQueue } from '../stages/embed-queue.js';
import { OpenBatch } from '../stages/open-batch.js';
import type { ChangedSkill } from '../stages/triage.js';
import { poolShape } from '../workers/cpu-budget.js';
import { EmbedPool } from '../workers/embed-pool.js';
import { IndexWriter } from '../writer/index-writer.js';
import { BatchWrites } from './batch-writes.js';

/** Options of {@link runEmbedded}. */
export interface EmbeddedRunOptions {
  /**
   * Sources to crawl: full specs (any kind, from a sources file or `parseSourceArg`), or plain folders
   * (`{ root, id? }`, id = the folder's base name unless given).
   */
  sources: readonly (SourceSpec | { root: string; id?: string })[];
  /** Creates the source for a spec. Default: by kind (`createSource`). Tests pass their own. */
  createSource?: (spec: SourceSpec) => SkillSource;
  /** Database file. */
  db: string;
  model: ModelSpec;
  /** CPU threads for inference. */
  threads: number;
  /**
   * An embed pool the caller owns (loaded with `model`): used instead of starting one, and left open. Lets a
   * caller that runs many indexes in one process (the model-based test) load the model once.
   */
  pool?: Pick<EmbedPool, 'workers' | 'tokenize' | 'embedTokens'>;
  /** Skills per write transaction (and per embed task). Default 128. */
  batchSize?: number;
  /** Batches embedded or waiting to be written at once; the crawler waits beyond it. Default 4 × workers, at least 4. */
  maxInFlight?: number;
  /** Largest file read, in bytes. Default 1 MiB. */
  maxFileBytes?: number;
  /** Aborting stops the crawl; batches already embedding are finished and written. */
  signal?: AbortSignal;
  onProgress?: (p: RunProgress) => void;
  /** Structured log lines from the sources (never secrets). */
  log?: (msg: string, fields: Record<string, unknown>) => void;
}

/** Live counts, reported after every write. */
export interface RunProgress extends RunCounts {
  /** Skills fully handled (written, unchanged or rejected). */
  done: number;
}

/** The run summary (the `--json` output of `index`). */
export interface RunSummary {
  runId: number;
  db: string;
  /** `failed`: no source could be crawled (nothing was read, nothing tombstoned). */
  status: 'completed' | 'interrupted' | 'failed';
  model: { id: string; dim: number };
  sources: RunSource[];
  counts: RunCounts;
  durationMs: number;
  /** Tokens that went through the model. */
  tokens: number;
  /**
   * CPU time the pool threads spent inside the model (ORT `session.run`), ms, where the platform reports a
   * thread's CPU time (Linux); absent elsewhere. The rest of the run's CPU is the work around the model.
   */
  modelCpuMs?: number;
  /** Sources that could not be crawled, with the reason. */
  failedSources: { id: string; message: string }[];
}

/** What a run adds up as it goes. */
interface Tally {
  counts: RunCounts;
  /** Tokens that went through the model. */
  tokens: number;
  /** CPU ms inside the model; undefined once a result came without it. */
  modelCpuMs: number | undefined;
  /** Skills fully handled (written, unchanged or rejected). */
  done: number;
  failedSources: { id: string; message: string }[];
}

/** One embedded run, as its steps share it. */
interface EmbeddedRun {
  options: EmbeddedRunOptions;
  writer: IndexWriter;
  runId: number;
  specs: readonly SourceSpec[];
  sources: RunSource[];
  /** The stored vectors were made from other text: every skill of this run is embedded anew. */
  reembed: boolean;
  tally: Tally;
}

/** A source crawled to its end, with the state to save once its skills are written. */
interface Completed {
  spec: SourceSpec;
  state: SourceState | undefined;
}

/**
 * Embedded mode: crawl → triage → embed on the piscina pool → write, in one process with bounded queues.
 * At most `maxInFlight` batches exist between crawler and writer, so memory does not grow with the corpus.
 */
export async function runEmbedded(options: EmbeddedRunOptions): Promise<RunSummary> {
  const started = performance.now();
  const specs = sourceSpecs(options.sources);
  // Created up front, so a malformed location fails before anything is written.
  const sourceObjects = specs.map((spec) => (options.createSource ?? createSource)(spec));
  const sources: RunSource[] = specs.map(runSourceOf);
  const { model } = options;
  const writer = IndexWriter.open({ path: options.db });
  const counts: RunCounts = {
    seen: 0,
    indexed: 0,
    unchanged: 0,
    removed: 0,
    failed: 0,
    embedded: 0,
    warnings: 0,
  };
  const tally: Tally = { counts, tokens: 0, modelCpuMs: 0, done: 0, failedSources: [] };
  const embedder = lazyEmbedder(options, tally);
  let runId: number | undefined;
  try {
    const reembed = registerModel(writer, model);
    runId = writer.beginRun({ mode: 'embedded', sources, modelId: model.id });
    const run: EmbeddedRun = { options, writer, runId, specs, sources, reembed, tally };
    const report = (): void => options.onProgress?.({ ...counts, done: tally.done });
    const writes = new BatchWrites({
      writer,
      runId,
      modelId: model.id,
      queue: embedder.queue,
      maxInFlight: options.maxInFlight ?? defaultMaxInFlight(options),
      counts,
      onWritten: (handled) => {
        tally.done += handled;
        report();
      },
    });
    const batch = new OpenBatch<ChangedSkill>({
      size: options.batchSize ?? 128,
      hold: (skill) => skill,
      send: (lists) => writes.send(lists),
    });
    const completed = await crawlSources(run, sourceObjects, batch);
    await batch.flush();
    await writes.drain();
    const status = endRun(run, completed);
    report();
    return {
      runId,
      db: resolve(options.db),
      status,
      model: { id: model.id, dim: model.dim },
      sources,
      counts,
      durationMs: Math.round(performance.now() - started),
      tokens: tally.tokens,
      ...(tally.modelCpuMs === undefined ? {} : { modelCpuMs: Math.round(tally.modelCpuMs) }),
      failedSources: tally.failedSources,
    };
  } catch (err) {
    // Batches already written stay (each was one transaction); the run is marked so `status` tells.
    if (runId !== undefined) writer.finishRun(runId, 'failed', counts);
    throw err;
  } finally {
    await embedder.close();
    writer.close();
  }
}

/** The run's sources as specs: plain folders get theirs (id = the folder's base name unless given). */
function sourceSpecs(sources: EmbeddedRunOptions['sources']): SourceSpec[] {
  const specs: SourceSpec[] = sources.map((s) =>
    'root' in s ? { id: s.id ?? dirSourceId(s.root), kind: 'dir', location: resolve(s.root) } : s,
  );
  const dup = specs.find((s, i) => specs.findIndex((o) => o.id === s.id) !== i);
  if (dup) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `two sources have the id "${dup.id}": skill ids would collide; give one another id (sources file) or index them separately`,
    );
  }
  return specs;
}

/** Registers the model; true when its stored vectors were made from other text (TEXT_CONFIG changed). */
function registerModel(writer: IndexWriter, model: ModelSpec): boolean {
  const { storedTextConfig } = writer.registerModel({
    id: model.id,
    dim: model.dim,
    pooling: model.pooling,
    textConfig: TEXT_CONFIG,
  });
  // Then every skill of this run is re-embedded; texts already re-embedded by an interrupted earlier attempt
  // are found by their new text hash.
  return JSON.stringify(storedTextConfig) !== JSON.stringify(TEXT_CONFIG);
}

/**
 * The embed queue, over the caller's pool or over one started only when something needs embedding, so an
 * unchanged re-index never pays for the model in every thread.
 */
function lazyEmbedder(
  options: EmbeddedRunOptions,
  tally: Tally,
): { queue: EmbedQueue; close: () => Promise<void> } {
  let pool: EmbedPool | undefined;
  const embedPool = (): Pick<EmbedPool, 'tokenize' | 'embedTokens'> =>
    options.pool ?? (pool ??= new EmbedPool({ model: options.model, threads: options.threads }));
  const queue = new EmbedQueue({
    tokenize: (text) => embedPool().tokenize(text),
    embedTokens: (ids) =>
      embedPool()
        .embedTokens(ids)
        .then((r) => {
          tally.tokens += r.tokens;
          tally.modelCpuMs =
            r.modelCpuMs === undefined || tally.modelCpuMs === undefined
              ? undefined
              : tally.modelCpuMs + r.modelCpuMs;
          tally.counts.embedded += ids.length;
          return r;
        }),
  });
  return { queue, close: async () => await pool?.close() };
}

/** Enough batches in flight that the crawler fills the next sort window while workers embed this one. */
function defaultMaxInFlight(options: EmbeddedRunOptions): number {
  const workers = options.pool?.workers ?? poolShape(options.threads).workers;
  return Math.max(4, workers * 4);
}

/** Crawls the sources one after another into the open batch; returns those crawled to their end. */
async function crawlSources(
  run: EmbeddedRun,
  sourceObjects: readonly SkillSource[],
  batch: OpenBatch<ChangedSkill>,
): Promise<Completed[]> {
  const { options, writer, tally } = run;
  const completed: Completed[] = [];
  for (const [i, source] of sourceObjects.entries()) {
    if (options.signal?.aborted) break;
    const { spec } = source;
    const runSource = run.sources[i]!;
    const crawled = await crawlSource({
      source,
      runSource,
      known: writer.knownForSource(spec.id, options.model.id),
      previous: writer.sourceState(spec.id),
      reembed: run.reembed,
      maxFileBytes: options.maxFileBytes ?? 1024 * 1024,
      signal: options.signal,
      log: (msg, fields) => options.log?.(msg, { source: spec.id, ...fields }),
      counts: tally.counts,
      batch,
    });
    runSource.status = crawled.status;
    if (crawled.status === 'completed') completed.push({ spec, state: crawled.state });
    if (crawled.failure) tally.failedSources.push({ id: spec.id, message: crawled.failure.message });
  }
  return completed;
}

/** Ends the run once every batch is written: tombstones, source states, its status. */
function endRun(run: EmbeddedRun, completed: readonly Completed[]): RunSummary['status'] {
  const { options, writer, runId, specs, tally } = run;
  const interrupted = options.signal?.aborted === true;
  // Tombstones only for sources crawled to the end, and only now that all their batches are written.
  // The same goes for what a source remembers (its commit, ETags): saved only once its skills are written.
  if (!interrupted) {
    for (const { spec, state } of completed) {
      tally.counts.removed += writer.tombstoneUnseen(spec.id, runId);
      writer.saveSource(runId, spec, state);
    }
  }
  // A run that could crawl none of its sources (a typo'd path, an unreachable host) is a failure, never an
  // empty "completed" run: the caller exits non-zero. Some sources failing is a completed run with failedSources.
  const noneCrawled = specs.length > 0 && tally.failedSources.length === specs.length;
  const status = interrupted ? 'interrupted' : noneCrawled ? 'failed' : 'completed';
  // Every source seen to the end was re-embedded: the model's vectors are now all of the new text config.
  if (run.reembed && !interrupted && completed.length === specs.length)
    writer.updateTextConfig(options.model.id, TEXT_CONFIG);
  writer.finishRun(runId, status, tally.counts, run.sources);
  writer.checkpoint();
  return status;
}
