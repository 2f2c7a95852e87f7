import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { resolveModelDir } from '../model/default-model.js';
import { loadModelSpec, type ModelSpec } from '../model/model-spec.js';
import { EmbedJobSchema, type RunModel, type WriteBatchJob } from '../shared/distributed-messages.js';
import { IndexerError } from '../shared/errors.js';
import { jobId, QUEUES } from '../shared/queues.js';
import type { RedisTarget } from '../shared/redis-connection.js';
import { poolShape } from '../workers/cpu-budget.js';
import { EmbedPool } from '../workers/embed-pool.js';
import { EmbedQueue } from '../stages/embed-queue.js';
import { vectorToBlob } from '../writer/vector-blob.js';
import { PipelineQueues, workerOptions } from './pipeline-queues.js';

/** Options of {@link startWorkerRole}. */
export interface WorkerRoleOptions {
  target: RedisTarget;
  log: Logger;
  /**
   * Job lock duration in ms: a job whose process died is redelivered after this (and the stalled check runs
   * as often). Default: above the slowest job of the queue (see LOCK_MS).
   */
  lockMs?: number;
  /** CPU threads for inference in this process. */
  threads: number;
  /** The built-in model's folder, built on first need (jobs that name no folder use it). */
  defaultModelDir: () => Promise<string>;
  /**
   * Jobs in hand at once. Default 16: their texts are pooled and sent to the threads sorted by length (a window
   * of ~256 texts, 8 jobs, pads little; one job's 32 texts sorted alone padded most ORT calls), and the next
   * window is already queued for the threads while one is embedded, so they never wait for a fetch.
   */
  concurrency?: number;
  onJob?: (e: { ms: number; ok: boolean; texts: number }) => void;
  /** Load the default model before taking jobs. Default true. */
  warm?: boolean;
}

/** A running embed worker. */
export interface WorkerRole {
  /** The deployment's queues as this role opened them (for queue-depth metrics); closed with the role. */
  readonly queues: PipelineQueues;
  ready(): boolean;
  /** Share of the pool's threads busy right now (0…1). */
  utilisation(): number;
  close(graceMs?: number): Promise<void>;
}

/**
 * The `work` role: a BullMQ Worker on the `embed` queue whose processor hands each batch to the piscina pool.
 * Inference never runs on this event loop, which must stay free to renew job locks. The result goes on to the
 * `write` queue under a deterministic job id, so a batch redelivered after a crash is not written twice.
 */
export async function startWorkerRole(options: WorkerRoleOptions): Promise<WorkerRole> {
  const { target, log } = options;
  const shape = poolShape(options.threads);
  const concurrency = options.concurrency ?? Math.max(16, shape.workers * 4);
  const queues = new PipelineQueues(target);
  // One pool at a time: a job for another model (a re-embed backfill) swaps it. Models are resolved once.
  let current: { id: string; pool: EmbedPool; queue: EmbedQueue } | undefined;
  let dispatchScheduled = false;
  let swapping: Promise<unknown> = Promise.resolve();
  const specs = new Map<string, ModelSpec>();
  let busy = 0;

  const defaultRunModel = async (): Promise<RunModel> => {
    const dir = await options.defaultModelDir();
    const spec = specs.get(dir) ?? loadModelSpec(dir);
    specs.set(dir, spec);
    return { id: spec.id, dim: spec.dim };
  };

  const resolveModel = async (m: RunModel): Promise<ModelSpec> => {
    // A built-in model's name (`backfill --model use-lite-en`) is resolved to this machine's cached build.
    const dir = m.dir === undefined ? await options.defaultModelDir() : await resolveModelDir(m.dir);
    let spec = specs.get(dir);
    if (!spec) {
      try {
        spec = loadModelSpec(dir);
      } catch (err) {
        // The folder is missing or broken on this machine: retrying here cannot help. The job waits in the
        // failed set; mount the model and `skillsmith-index failed retry` it.
        throw new UnrecoverableError(
          `model ${m.id}: ${err instanceof IndexerError ? err.message : String(err)}`,
        );
      }
      specs.set(dir, spec);
    }
    if (spec.id !== m.id) {
      throw new UnrecoverableError(
        `the run embeds with model ${m.id} but ${dir} on this worker holds ${spec.id}: workers and producer must see the same model`,
      );
    }
    return spec;
  };

  const queueFor = async (spec: ModelSpec): Promise<EmbedQueue> => {
    await swapping;
    if (current?.id === spec.id) return current.queue;
    const old = current;
    const pool = new EmbedPool({ model: spec, threads: options.threads });
    // Texts are sent to the threads on demand: while every thread has a task, texts of newly fetched jobs
    // wait and pile up; when a thread frees, everything waiting goes out sorted by length. The sort window is
    // whatever arrived during one task, so the pool never idles for a window to fill and pads little.
    const queue: EmbedQueue = new EmbedQueue(
      async (texts) => {
        busy++;
        try {
          return await pool.embed(texts);
        } finally {
          busy--;
          if (busy < shape.workers) queue.dispatch();
        }
      },
      { window: 1024 },
    );
    current = { id: spec.id, pool, queue };
    log.info({ model: spec.id }, 'embed pool started');
    if (old) {
      old.queue.dispatch();
      swapping = old.pool.close();
    }
    return queue;
  };

  const embedBatch = async (job: Job): Promise<{ texts: number }> => {
    const t0 = performance.now();
    const parsed = EmbedJobSchema.safeParse(job.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UnrecoverableError(
        `malformed embed job: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`,
      );
    }
    const b = parsed.data;
    const jlog = log.child({ runKey: b.runKey, jobId: job.id, source: b.sourceId });
    const spec = await resolveModel(b.model);
    // Identical texts in one batch go through the model once.
    const texts = [...new Set(b.skills.filter((s) => s.text !== undefined).map((s) => s.text as string))];
    const vectors: Record<string, string> = {};
    if (texts.length > 0) {
      const queue = await queueFor(spec);
      const pending = texts.map((t) => queue.embed(t));
      // A thread is free: send now (after this tick, so jobs fetched together share the sort).
      if (!dispatchScheduled && busy < shape.workers) {
        dispatchScheduled = true;
        setImmediate(() => {
          dispatchScheduled = false;
          if (busy < shape.workers) queue.dispatch();
        });
      }
      const done = await Promise.all(pending);
      const byText = new Map<string, Float32Array>(texts.map((t, i) => [t, done[i] as Float32Array]));
      for (const s of b.skills) {
        if (s.text === undefined) continue;
        vectors[s.textHash] = vectorToBlob(byText.get(s.text) as Float32Array).toString('base64');
      }
    }
    const out: WriteBatchJob = {
      ...b,
      // Texts are not needed past this point: keep the write payload small.
      skills: b.skills.map(({ record, textHash }) => ({ record, textHash })),
      vectors,
      embedded: texts.length,
    };
    await queues.write.add('batch', out, {
      jobId: jobId('w', b.runKey, `a${b.attempt}`, b.sourceId, b.batchNo),
    });
    const ms = performance.now() - t0;
    options.onJob?.({ ms, ok: true, texts: texts.length });
    jlog.debug({ batchNo: b.batchNo, texts: texts.length, ms: Math.round(ms) }, 'batch embedded');
    return { texts: texts.length };
  };

  // Load the default model before taking jobs: ready means ready to embed, and the first batch does not pay
  // for the session load (a job for another model swaps the pool when it comes).
  if (options.warm !== false) {
    const spec = await resolveModel(await defaultRunModel());
    await queueFor(spec);
    await current?.pool.warm();
    log.info({ model: spec.id }, 'model loaded');
  }
  const worker = new Worker(
    QUEUES.embed,
    embedBatch,
    workerOptions(target, QUEUES.embed, { concurrency, name: 'work', lockMs: options.lockMs }),
  );
  worker.on('error', (err) => log.error({ err }, 'queue connection error'));
  worker.on('failed', (job, err) => {
    options.onJob?.({ ms: 0, ok: false, texts: 0 });
    log.warn(
      { err, jobId: job?.id, attempt: job?.attemptsMade, runKey: (job?.data as { runKey?: string })?.runKey },
      'embed job failed',
    );
  });
  await worker.waitUntilReady();
  log.info(
    { prefix: target.prefix, threads: options.threads, workers: shape.workers, concurrency },
    'worker ready',
  );
  let closing = false;
  return {
    queues,
    ready: () => !closing && worker.isRunning(),
    utilisation: () => Math.min(1, busy / shape.workers),
    async close(graceMs = 60_000) {
      if (closing) return;
      closing = true;
      const graceful = worker.close();
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      if ((await Promise.race([graceful, timer])) === 'timeout') {
        log.warn({ graceMs }, 'grace period over: closing with jobs in hand (they will be redelivered)');
        await worker.close(true);
      }
      await swapping;
      await current?.pool.close();
      await queues.close();
    },
  };
}
