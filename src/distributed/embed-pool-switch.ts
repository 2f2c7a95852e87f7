import { UnrecoverableError } from 'bullmq';
import type { Logger } from 'pino';
import { resolveModelDir } from '../model/default-model.js';
import { loadModelSpec, type ModelSpec } from '../model/model-spec.js';
import type { RunModel } from '../shared/distributed-messages.js';
import { IndexerError } from '../shared/errors.js';
import { poolShape } from '../workers/cpu-budget.js';
import { EmbedPool } from '../workers/embed-pool.js';
import { EmbedQueue } from '../stages/embed-queue.js';

/** Options of {@link EmbedPoolSwitch}. */
export interface EmbedPoolSwitchOptions {
  /** CPU threads for inference in this process. */
  threads: number;
  /** The built-in model's folder, built on first need (jobs that name no folder use it). */
  defaultModelDir: () => Promise<string>;
  log: Logger;
  /** CPU ms a pool thread spent inside the model for one task (Linux only: see `EmbedResult.modelCpuMs`). */
  onModelCpu?: (ms: number) => void;
}

/**
 * The embed worker's pool: one at a time, for the model of the jobs in hand; a job for another model (a re-embed
 * backfill) swaps it. Model folders are resolved and checked once each.
 */
export class EmbedPoolSwitch {
  /** Pool threads: texts are sent to them while fewer than this many tasks run. */
  readonly workers: number;
  private current: { id: string; pool: EmbedPool; queue: EmbedQueue } | undefined;
  private dispatchScheduled = false;
  private swapping: Promise<unknown> = Promise.resolve();
  private readonly specs = new Map<string, ModelSpec>();
  private busy = 0;

  constructor(private readonly opts: EmbedPoolSwitchOptions) {
    this.workers = poolShape(opts.threads).workers;
  }

  /** Share of the pool's threads busy right now (0…1). */
  utilisation(): number {
    return Math.min(1, this.busy / this.workers);
  }

  /**
   * The model a job names, checked against this machine's folder. A missing or different model cannot be
   * helped by a retry here: the job fails for good (`UnrecoverableError`) and waits in the failed set.
   */
  async resolve(m: RunModel): Promise<ModelSpec> {
    // A built-in model's name (`backfill --model use-lite-en`) is resolved to this machine's cached build.
    const dir = m.dir === undefined ? await this.opts.defaultModelDir() : await resolveModelDir(m.dir);
    let spec = this.specs.get(dir);
    if (!spec) {
      try {
        spec = loadModelSpec(dir);
      } catch (err) {
        // The folder is missing or broken on this machine: mount the model and `skillsmith-index failed retry`.
        throw new UnrecoverableError(
          `model ${m.id}: ${err instanceof IndexerError ? err.message : String(err)}`,
        );
      }
      this.specs.set(dir, spec);
    }
    if (spec.id !== m.id) {
      throw new UnrecoverableError(
        `the run embeds with model ${m.id} but ${dir} on this worker holds ${spec.id}: workers and producer must see the same model`,
      );
    }
    return spec;
  }

  /**
   * Loads the default model before jobs are taken: ready means ready to embed, and the first batch does not pay
   * for the session load (a job for another model swaps the pool when it comes). Returns its id.
   */
  async warm(): Promise<string> {
    const dir = await this.opts.defaultModelDir();
    const known = this.specs.get(dir) ?? loadModelSpec(dir);
    this.specs.set(dir, known);
    const spec = await this.resolve({ id: known.id, dim: known.dim });
    await this.queueFor(spec);
    // The tokenizer runs on this thread: build it now too (a broken tokenizer.json fails here, not in a job).
    this.current?.pool.tokenize('');
    await this.current?.pool.warm();
    return spec.id;
  }

  /** The vectors of distinct texts, in order, by the model `spec`. */
  async embed(spec: ModelSpec, texts: string[]): Promise<Float32Array[]> {
    let queue = await this.queueFor(spec);
    // Another job's model may have swapped the pool between queueFor's return and here (jobs for two models
    // in the same tick): texts must never go into a queue whose pool is closing.
    while (this.current?.queue !== queue) queue = await this.queueFor(spec);
    const pending = texts.map((t) => queue.embed(t));
    // A thread is free: send now (after this tick, so jobs fetched together share the sort).
    if (!this.dispatchScheduled && this.busy < this.workers) {
      this.dispatchScheduled = true;
      setImmediate(() => {
        this.dispatchScheduled = false;
        if (this.busy < this.workers) queue.dispatch();
      });
    }
    return Promise.all(pending);
  }

  async close(): Promise<void> {
    await this.swapping;
    await this.current?.pool.close();
  }

  private async queueFor(spec: ModelSpec): Promise<EmbedQueue> {
    await this.swapping;
    if (this.current?.id === spec.id) return this.current.queue;
    const old = this.current;
    const pool = new EmbedPool({ model: spec, threads: this.opts.threads });
    // Texts are sent to the threads on demand: while every thread has a task, texts of newly fetched jobs
    // wait and pile up; when a thread frees, everything waiting goes out sorted by token count. The sort window
    // is whatever arrived during one task, so the pool never idles for a window to fill and pads little. (The
    // queue's own window, 64 texts at first and doubling to 1024, only sends early when texts pile up.)
    const queue: EmbedQueue = new EmbedQueue(
      {
        tokenize: (text) => pool.tokenize(text),
        embedTokens: async (ids) => {
          this.busy++;
          try {
            const result = await pool.embedTokens(ids);
            if (result.modelCpuMs !== undefined) this.opts.onModelCpu?.(result.modelCpuMs);
            return result;
          } finally {
            this.busy--;
            if (this.busy < this.workers) {
              queue.dispatch();
              // After a swap, the threads this task held are free for the new model's queue: without this, texts
              // that queued behind the old model's tasks (fewer than a window) would wait for a job to come.
              if (this.current && this.current.queue !== queue) this.current.queue.dispatch();
            }
          }
        },
      },
      { window: 1024 },
    );
    this.current = { id: spec.id, pool, queue };
    this.opts.log.info({ model: spec.id }, 'embed pool started');
    if (old) {
      old.queue.dispatch();
      this.swapping = old.pool.close();
    }
    return queue;
  }
}
