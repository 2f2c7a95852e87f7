/** Messages that cross the thread boundary between the pipeline and the embed workers. */
import type { ModelSpec } from '../model/model-spec.js';

/** Options a worker thread is started with (piscina `workerData`). */
export interface EmbedWorkerData {
  /**
   * The model, as the pool's owner loaded and checked it (`loadModelSpec`): plain data, so the thread needs
   * neither the folder's JSON nor zod (about 80 ms of CPU per thread before its first batch).
   */
  model: ModelSpec;
  /** ORT intra-op threads for this worker's session. */
  intraOpThreads: number;
}

/**
 * One embed task: a group of texts as token ids (tokenized by the pool's owner, which sorts by them), embedded
 * in micro-batches bucketed by token length.
 */
export interface EmbedTask {
  ids: number[][];
}

/** The result of an {@link EmbedTask}: vectors in task order, packed row-major, transferred without a copy. */
export interface EmbedResult {
  /** ids.length × dim float32, L2-normalised. */
  vectors: Float32Array;
  dim: number;
  /** Tokens that went through the model (after truncation), for throughput reporting. */
  tokens: number;
  /**
   * CPU time of the worker thread inside ORT's `session.run`, ms, where the platform reports a thread's CPU time
   * (Linux); absent elsewhere. What the model itself cost, apart from the work around it.
   */
  modelCpuMs?: number;
}

/** Key of the message a worker posts once its ORT session is loaded. */
export const EMBED_WORKER_READY = 'skillsmithEmbedWorkerReady';
