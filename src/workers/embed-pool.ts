import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ModelSpec } from '../model/model-spec.js';
import {
  EMBED_WORKER_READY,
  type EmbedResult,
  type EmbedTask,
  type EmbedWorkerData,
} from '../shared/messages.js';
import { poolShape } from './cpu-budget.js';
import { disableOrtTelemetry } from './ort-telemetry.js';
import { createTextTokenizer, type TextTokenizer } from './text-tokenizer.js';

/** Options of {@link EmbedPool}. */
export interface EmbedPoolOptions {
  model: ModelSpec;
  /** Total CPU threads for inference (workers × intra-op). */
  threads: number;
}

/**
 * The worker file as compiled JavaScript, always beside the file running this code: `embed-worker.js` next to
 * `embed-pool.js` in dist/src, and next to the chunks of the bundled CLI in dist/bin (scripts/bundle-cli.mjs makes it
 * an entry there). Under vitest this module runs from `src/*.ts`; workers cannot load TypeScript, so they start
 * from the build in `dist/` (`npm test` builds first).
 */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts'))
    return here.replace(/([/\\])src([/\\]workers[/\\])embed-pool\.ts$/, '$1dist$1src$2embed-worker.js');
  return path.join(path.dirname(here), 'embed-worker.js');
}

/** A piscina pool of embed workers sized to the thread budget. */
export class EmbedPool {
  readonly workers: number;
  private readonly pool: Piscina<EmbedTask, EmbedResult>;
  private created = 0;
  private ready = 0;
  /** Tasks handed to piscina and not yet settled (resolved to undefined either way). */
  private readonly tasks = new Set<Promise<void>>();
  private readonly model: ModelSpec;
  private tokenizer: TextTokenizer | Error | undefined;

  constructor(options: EmbedPoolOptions) {
    // Before any thread starts: the threads' ORT reads the environment the main thread leaves them.
    disableOrtTelemetry();
    this.model = options.model;
    const shape = poolShape(options.threads);
    this.workers = shape.workers;
    const workerData: EmbedWorkerData = { model: options.model, intraOpThreads: shape.intraOpThreads };
    this.pool = new Piscina<EmbedTask, EmbedResult>({
      filename: workerFile(),
      minThreads: shape.workers,
      maxThreads: shape.workers,
      // No cap here: the pipeline bounds what it submits (batches in flight), so piscina's queue is bounded too.
      // Never park a thread in Atomics.wait spinning: the cores belong to ORT.
      atomics: 'disabled',
      idleTimeout: 30_000,
      workerData,
    });
    this.pool.on('workerCreate', () => this.created++);
    this.pool.on('message', (m: unknown) => {
      if (m && typeof m === 'object' && EMBED_WORKER_READY in m) this.ready++;
    });
    // Without a listener an init failure would be thrown from the emitter; tasks report it instead.
    this.pool.on('error', () => undefined);
  }

  /**
   * Resolves once every thread has loaded its model (or after `timeoutMs`): a long-running worker pays the
   * session load at start, not inside its first job.
   */
  async warm(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.ready < this.workers && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * Token ids of one text for this pool's model, on the calling thread (the tokenizer loads on first use).
   * Throws on a text the tokenizer cannot take.
   */
  tokenize(text: string): number[] {
    if (this.tokenizer === undefined) {
      // A tokenizer that cannot load fails every text with the same error, without re-reading the folder each time.
      try {
        this.tokenizer = createTextTokenizer(this.model);
      } catch (err) {
        this.tokenizer = err instanceof Error ? err : new Error(String(err));
      }
    }
    if (this.tokenizer instanceof Error) throw this.tokenizer;
    return this.tokenizer(text);
  }

  /** The vectors of texts, in order. */
  async embed(texts: readonly string[], signal?: AbortSignal): Promise<EmbedResult> {
    return await this.embedTokens(
      texts.map((t) => this.tokenize(t)),
      signal,
    );
  }

  /** The vectors of texts tokenized by {@link tokenize}, in order. */
  embedTokens(ids: number[][], signal?: AbortSignal): Promise<EmbedResult> {
    const task = this.pool.run({ ids }, signal ? { signal } : {});
    const settled = task.then(
      () => undefined,
      () => undefined,
    );
    this.tasks.add(settled);
    void settled.then(() => this.tasks.delete(settled));
    return task;
  }

  /** Waits for every task handed to the pool to settle, then stops the threads (their ORT sessions go with them). */
  async close(): Promise<void> {
    // A run that fails (disk full in the writer, say) closes the pool while batches are still being embedded.
    // piscina's close() can terminate a thread inside session.run, and ORT then aborts the whole process
    // ("terminate called after throwing an instance of 'Napi::Error'", exit 134): so let every task finish first.
    // Bounded by what callers keep in flight (a few batches).
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
    // ORT aborts the whole process if a thread is terminated while its session is still being created,
    // so let threads that are still loading finish first (bounded: a broken thread must not hang shutdown).
    const deadline = Date.now() + 60_000;
    // Polling the counter the 'message' listener keeps: no extra listeners, nothing that can reject.
    while (this.ready < this.created && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Tasks handed over while this waited (an embed queue flushed as its pool was swapped out) finish too.
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
    await this.pool.close();
  }

  /** Stops the threads now, abandoning tasks in flight. */
  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}
