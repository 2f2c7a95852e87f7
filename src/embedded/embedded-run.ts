import { resolve } from 'node:path';
import type { ModelSpec } from '../model/model-spec.js';
import { TEXT_CONFIG } from '../model/text-config.js';
import picomatch from 'picomatch';
import { createSource } from '../producer/create-source.js';
import { dirSourceId } from '../producer/source-arg.js';
import type { SkillSource, SourceSpec, SourceState } from '../producer/source.js';
import { redactUrl } from '../shared/redact.js';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import type { EmbeddingRecord, ErrorRecord, RunCounts, RunSource, SkillRecord } from '../shared/records.js';
import { poolShape } from '../workers/cpu-budget.js';
import { EmbedPool } from '../workers/embed-pool.js';
import { IndexWriter, type SeenSkill } from '../writer/index-writer.js';
import { routeItem, runSourceOf, unchangedByStat } from '../stages/triage.js';
import { EmbedQueue } from '../stages/embed-queue.js';

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
  pool?: Pick<EmbedPool, 'workers' | 'embed'>;
  /** Skills per write transaction (and per embed task). Default 128. */
  batchSize?: number;
  /** Batches embedded or waiting to be written at once; the crawler waits beyond it. Default 2 × workers. */
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
  /** Sources that could not be crawled, with the reason. */
  failedSources: { id: string; message: string }[];
}

interface PendingSkill {
  record: SkillRecord;
  textHash: string;
  text: string;
}

/**
 * Embedded mode: crawl → triage → embed on the piscina pool → write, in one process with bounded queues.
 * At most `maxInFlight` batches exist between crawler and writer, so memory does not grow with the corpus.
 */
export async function runEmbedded(options: EmbeddedRunOptions): Promise<RunSummary> {
  const started = performance.now();
  const batchSize = options.batchSize ?? 128;
  const specs: SourceSpec[] = options.sources.map((s) =>
    'root' in s ? { id: s.id ?? dirSourceId(s.root), kind: 'dir', location: resolve(s.root) } : s,
  );
  const dup = specs.find((s, i) => specs.findIndex((o) => o.id === s.id) !== i);
  if (dup) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `two sources have the id "${dup.id}": skill ids would collide; give one another id (sources file) or index them separately`,
    );
  }
  // Created up front, so a malformed location fails before anything is written.
  const sourceObjects = specs.map((spec) => (options.createSource ?? createSource)(spec));
  const sources: RunSource[] = specs.map(runSourceOf);
  const { model } = options;
  const writer = IndexWriter.open({ path: options.db });
  let pool: EmbedPool | undefined;
  const counts: RunCounts = {
    seen: 0,
    indexed: 0,
    unchanged: 0,
    removed: 0,
    failed: 0,
    embedded: 0,
    warnings: 0,
  };
  let tokens = 0;
  let done = 0;
  const failedSources: { id: string; message: string }[] = [];
  let runId: number | undefined;
  try {
    const { storedTextConfig } = writer.registerModel({
      id: model.id,
      dim: model.dim,
      pooling: model.pooling,
      textConfig: TEXT_CONFIG,
    });
    // The stored vectors were made from other text (TEXT_CONFIG changed): re-embed every skill of this run;
    // texts already re-embedded by an interrupted earlier attempt are found by their new text hash.
    const reembed = JSON.stringify(storedTextConfig) !== JSON.stringify(TEXT_CONFIG);
    runId = writer.beginRun({ mode: 'embedded', sources, modelId: model.id });
    const thisRun = runId;
    // The pool (and the model in every thread) is started only when something needs embedding, so an
    // unchanged re-index never pays for it.
    const embedPool = (): Pick<EmbedPool, 'embed'> =>
      options.pool ?? (pool ??= new EmbedPool({ model, threads: options.threads }));
    // Enough batches in flight that the crawler fills the next sort window while workers embed this one.
    const workers = options.pool?.workers ?? poolShape(options.threads).workers;
    const maxInFlight = options.maxInFlight ?? Math.max(4, workers * 4);
    const queue = new EmbedQueue((texts) =>
      embedPool()
        .embed(texts)
        .then((r) => {
          tokens += r.tokens;
          counts.embedded += texts.length;
          return r;
        }),
    );

    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    // Texts being embedded right now, so a text met twice in one run goes through the model once.
    const embedding = new Map<string, Promise<Float32Array>>();
    const report = (): void => options.onProgress?.({ ...counts, done });

    let pending: PendingSkill[] = [];
    let errors: ErrorRecord[] = [];
    let seen: SeenSkill[] = [];

    const flush = async (): Promise<void> => {
      const skills = pending;
      const batchErrors = errors;
      const batchSeen = seen;
      pending = [];
      errors = [];
      seen = [];
      if (skills.length === 0 && batchErrors.length === 0 && batchSeen.length === 0) return;
      // Backpressure: the crawler stops here until a batch slot is free. Queued texts go out first, since
      // the batches in flight may be waiting for them.
      if (inFlight.size >= maxInFlight) queue.dispatch();
      while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
      if (failure) throw failure;

      const vectors = new Map<string, Promise<Float32Array> | Uint8Array>();
      const mine: string[] = [];
      for (const s of skills) {
        if (vectors.has(s.textHash)) continue;
        const stored = writer.vectorForText(model.id, s.textHash);
        const running = embedding.get(s.textHash);
        if (stored) vectors.set(s.textHash, stored);
        else if (running) vectors.set(s.textHash, running);
        else {
          const v = queue.embed(s.text);
          v.catch(() => undefined); // the batch task below reports the failure
          vectors.set(s.textHash, v);
          embedding.set(s.textHash, v);
          mine.push(s.textHash);
        }
      }
      const task = (async () => {
        const embeddings: EmbeddingRecord[] = [];
        for (const s of skills) {
          const v = vectors.get(s.textHash) as Promise<Float32Array> | Uint8Array;
          const vector = v instanceof Uint8Array ? v : await v;
          embeddings.push({
            skillId: s.record.id,
            modelId: model.id,
            chunk: 0,
            vector,
            textHash: s.textHash,
          });
        }
        const { changed } = writer.writeBatch({
          runId: thisRun,
          skills: skills.map((s) => s.record),
          embeddings,
          errors: batchErrors,
          seen: batchSeen,
        });
        counts.indexed += changed;
        // Sent for writing with their content already stored: only their vectors are new (another model, a new
        // text config). They are unchanged skills, re-embedded, so that seen = indexed + unchanged + failed.
        counts.unchanged += skills.length - changed;
        counts.reembedded = (counts.reembedded ?? 0) + skills.length - changed;
        done += skills.length + batchErrors.length + batchSeen.length;
        // Written: later batches find these vectors in the database.
        for (const h of mine) embedding.delete(h);
        report();
      })();
      const tracked = task.then(
        () => void inFlight.delete(tracked),
        (err: unknown) => {
          inFlight.delete(tracked);
          failure ??= err;
        },
      );
      inFlight.add(tracked);
    };

    const completed: { spec: SourceSpec; state: SourceState | undefined }[] = [];
    for (const [i, source] of sourceObjects.entries()) {
      if (options.signal?.aborted) break;
      const { spec } = source;
      const runSource = sources[i]!;
      const known = writer.knownForSource(spec.id, model.id);
      const wants = globFilter(spec.include, spec.exclude);
      let partial = false;
      const leftOut = new Set<string>();
      const crawl = source.crawl({
        isUnchanged: (id, statKey) => unchangedByStat(known, id, statKey, reembed),
        wants,
        previous: writer.sourceState(spec.id),
        maxFileBytes: options.maxFileBytes ?? 1024 * 1024,
        signal: options.signal,
        log: (msg, fields) => options.log?.(msg, { source: spec.id, ...fields }),
      });
      try {
        for (;;) {
          const next = await crawl.next();
          if (next.done) {
            if (partial) {
              runSource.status = 'partial';
              runSource.error =
                'some folders could not be read: no tombstones, state not saved (see index_errors)';
            } else if (!options.signal?.aborted) {
              completed.push({ spec, state: next.value });
              runSource.status = 'completed';
              const commit = next.value?.commit;
              if (typeof commit === 'string') runSource.commit = commit;
            } else runSource.status = 'interrupted';
            break;
          }
          const routed = routeItem(next.value, spec, known, reembed, {
            counts,
            errors,
            seen,
            leftOut,
            changed: (t) => pending.push(t),
          });
          if (routed.partial) partial = true;
          if (pending.length >= batchSize || seen.length + errors.length >= 4 * batchSize) await flush();
        }
      } catch (err) {
        // Let the source clean up (git's cat-file process, open handles) before the error goes on.
        await crawl.return(undefined).catch(() => undefined);
        if (!(err instanceof IndexerError) || err.code !== ERROR_CODES.SOURCE_FAILED) throw err;
        // One source failing must not stop the others: record it on the run and go on.
        const message = redactUrl(err.message);
        failedSources.push({ id: spec.id, message });
        runSource.status = 'failed';
        runSource.error = message;
        errors.push({ sourceId: spec.id, path: '.', code: err.code, message });
      }
    }
    await flush();
    queue.dispatch();
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (failure) throw failure;

    const interrupted = options.signal?.aborted === true;
    // Tombstones only for sources crawled to the end, and only now that all their batches are written.
    // The same goes for what a source remembers (its commit, ETags): saved only once its skills are written.
    if (!interrupted) {
      for (const { spec, state } of completed) {
        counts.removed += writer.tombstoneUnseen(spec.id, runId);
        writer.saveSource(runId, spec, state);
      }
    }
    // A run that could crawl none of its sources (a typo'd path, an unreachable host) is a failure, never an
    // empty "completed" run: the caller exits non-zero. Some sources failing is a completed run with failedSources.
    const noneCrawled = specs.length > 0 && failedSources.length === specs.length;
    const status = interrupted ? 'interrupted' : noneCrawled ? 'failed' : 'completed';
    // Every source seen to the end was re-embedded: the model's vectors are now all of the new text config.
    if (reembed && !interrupted && completed.length === specs.length)
      writer.updateTextConfig(model.id, TEXT_CONFIG);
    writer.finishRun(runId, status, counts, sources);
    writer.checkpoint();
    report();
    return {
      runId,
      db: resolve(options.db),
      status,
      model: { id: model.id, dim: model.dim },
      sources,
      counts,
      durationMs: Math.round(performance.now() - started),
      tokens,
      failedSources,
    };
  } catch (err) {
    // Batches already written stay (each was one transaction); the run is marked so `status` tells.
    if (runId !== undefined) writer.finishRun(runId, 'failed', counts);
    throw err;
  } finally {
    await pool?.close();
    writer.close();
  }
}

/**
 * The include/exclude filter of a source over skill folder paths (POSIX, relative; `.` = the root). No
 * include list means everything; exclude wins over include.
 */
export function globFilter(
  include?: readonly string[],
  exclude?: readonly string[],
): (path: string) => boolean {
  const inc = include && include.length > 0 ? picomatch([...include], { dot: true }) : undefined;
  const exc = exclude && exclude.length > 0 ? picomatch([...exclude], { dot: true }) : undefined;
  return (path) => (!inc || inc(path)) && !(exc && exc(path));
}
