import { Worker } from 'bullmq';
import type { Logger } from 'pino';
import { QUEUES } from '../shared/queues.js';
import type { RedisTarget } from '../shared/redis-connection.js';
import { closeWorkers } from './close-workers.js';
import { embedBatchJob } from './embed-batch-job.js';
import { EmbedPoolSwitch } from './embed-pool-switch.js';
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
   * Jobs in hand at once. Default 16: their texts are pooled and sent to the threads sorted by token count (a
   * window of a few hundred texts pads little; one job's 32 texts sorted alone padded most ORT calls), and the
   * next window is already queued for the threads while one is embedded, so they never wait for a fetch.
   */
  concurrency?: number;
  onJob?: (e: { ms: number; ok: boolean; texts: number }) => void;
  /** CPU ms the pool threads spent inside the model, per task (Linux only). */
  onModelCpu?: (ms: number) => void;
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
 * Inference never runs on this event loop, which must stay free to renew job locks (tokenizing does: ~0.1 ms a
 * text with the default model's tokenizer). The result goes on to the
 * `write` queue under a deterministic job id, so a batch redelivered after a crash is not written twice.
 */
export async function startWorkerRole(options: WorkerRoleOptions): Promise<WorkerRole> {
  const { target, log } = options;
  const pools = new EmbedPoolSwitch({
    threads: options.threads,
    defaultModelDir: options.defaultModelDir,
    log,
    ...(options.onModelCpu ? { onModelCpu: options.onModelCpu } : {}),
  });
  const concurrency = options.concurrency ?? Math.max(16, pools.workers * 4);
  const queues = new PipelineQueues(target);
  if (options.warm !== false) log.info({ model: await pools.warm() }, 'model loaded');
  const ctx = { pools, queues, log, onJob: options.onJob };
  const worker = new Worker(
    QUEUES.embed,
    (job) => embedBatchJob(ctx, job),
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
    { prefix: target.prefix, threads: options.threads, workers: pools.workers, concurrency },
    'worker ready',
  );
  let closing = false;
  return {
    queues,
    ready: () => !closing && worker.isRunning(),
    utilisation: () => pools.utilisation(),
    async close(graceMs = 60_000) {
      if (closing) return;
      closing = true;
      await closeWorkers([worker], graceMs, () =>
        log.warn({ graceMs }, 'grace period over: closing with jobs in hand (they will be redelivered)'),
      );
      await pools.close();
      await queues.close();
    },
  };
}
