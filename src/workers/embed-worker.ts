/**
 * Piscina worker entry: one ORT session per thread, loaded once when the thread starts
 * (piscina awaits the module's top-level await before handing the thread any task).
 */
import { parentPort } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import {
  EMBED_WORKER_READY,
  type EmbedResult,
  type EmbedTask,
  type EmbedWorkerData,
} from '../shared/messages.js';
import { createEmbedder } from './embedder.js';

const data = workerData as EmbedWorkerData;
// A model that cannot load (truncated file, wrong graph) must fail every task, not the thread: piscina stops
// replacing threads that die while starting, and the tasks queued for them would then never settle.
const loaded = await createEmbedder(data.model, {
  intraOpThreads: data.intraOpThreads,
  // The model's own CPU per task: the run summary's modelCpuMs and the work role's metric.
  measureCpu: true,
}).then(
  (embedder) => ({ embedder }),
  (error: unknown) => ({ error }),
);
// Tell the pool the session is loaded (or failed): terminating a thread while ORT is still creating its
// session aborts the whole process.
parentPort?.postMessage({ [EMBED_WORKER_READY]: true });

export default async function embedTask(task: EmbedTask): Promise<EmbedResult> {
  if ('error' in loaded) throw loaded.error;
  const result = await loaded.embedder.embedTokens(task.ids);
  // Transfer the vectors' buffer to the caller instead of copying it through structured clone.
  const movable = {
    get [transferableSymbol]() {
      return [result.vectors.buffer];
    },
    get [valueSymbol]() {
      return result;
    },
  };
  return move(movable as never) as unknown as EmbedResult;
}
