/**
 * One thread of the raw ORT ceiling: its own session (options as in src/workers/embedder.ts), all input
 * tensors built before the clock starts, then `session.run` on batches claimed from a shared counter until
 * none are left. Nothing but `session.run` happens between "go" and "done".
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

export interface CeilingBatch {
  /** Row-major [B, T] token ids, zero-padded. */
  ids: BigInt64Array;
  mask: BigInt64Array;
  B: number;
  T: number;
}

export interface CeilingWorkerData {
  onnxPath: string;
  intraOpThreads: number;
  batches: CeilingBatch[];
  /** Order in which batches are claimed (longest first, so the last claims are short and threads end together). */
  order: number[];
  /** Int32Array[1] over a SharedArrayBuffer: index into `order` of the next unclaimed batch. */
  next: SharedArrayBuffer;
}

export type CeilingWorkerMessage =
  { type: 'ready' } | { type: 'done'; texts: number; runs: number; busyMs: number };

const data = workerData as CeilingWorkerData;
const port = parentPort;
if (!port) throw new Error('ort-ceiling-worker must run in a worker thread');

const session = await ort.InferenceSession.create(data.onnxPath, {
  intraOpNumThreads: data.intraOpThreads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '0' } } },
  logSeverityLevel: 3,
});
const wantsTokenTypes = session.inputNames.includes('token_type_ids');
const feeds = data.batches.map((b) => {
  const f: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', b.ids, [b.B, b.T]),
    attention_mask: new ort.Tensor('int64', b.mask, [b.B, b.T]),
  };
  if (wantsTokenTypes) f.token_type_ids = new ort.Tensor('int64', new BigInt64Array(b.B * b.T), [b.B, b.T]);
  return f;
});
// One untimed run first: ORT allocates its arenas and kernels on the first call.
const shortest = data.order[data.order.length - 1];
if (shortest !== undefined) await session.run(feeds[shortest]!);

const next = new Int32Array(data.next);
port.once('message', () => {
  void (async () => {
    const started = performance.now();
    let texts = 0;
    let runs = 0;
    for (;;) {
      const k = Atomics.add(next, 0, 1);
      if (k >= data.order.length) break;
      const i = data.order[k]!;
      await session.run(feeds[i]!);
      texts += data.batches[i]!.B;
      runs++;
    }
    const done: CeilingWorkerMessage = { type: 'done', texts, runs, busyMs: performance.now() - started };
    port.postMessage(done);
    // The thread then ends by itself (no listener left); it is never terminated mid-session.
    await session.release();
  })();
});
const ready: CeilingWorkerMessage = { type: 'ready' };
port.postMessage(ready);
