/**
 * Child process: the raw ORT ceiling on the corpus texts. Texts are tokenized up front with the pipeline's own
 * tokenizer (createEmbedder().tokenize, untimed), sorted by token length and cut into batches of `batchSize` (the
 * bench passes the embedder's DEFAULT_MAX_BATCH); only the `session.run` calls are timed, spread over worker
 * threads that each own a session. Two shapes:
 * `workers × 1 intra-op thread` (the pool's shape) and `1 worker × threads intra-op` (for reference).
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { loadModelSpec } from '../src/model/model-spec.js';
import { createEmbedder } from '../src/workers/embedder.js';
import { benchFile, childMain, maxRssKb, type BenchSource } from './child.js';
import { corpusTexts } from './corpus-texts.js';
import type { CeilingBatch, CeilingWorkerData, CeilingWorkerMessage } from './ort-ceiling-worker.js';

export interface CeilingInput {
  sources: BenchSource[];
  modelDir: string;
  threads: number;
  batchSize: number;
  /** Runs of each shape; the best is the ceiling. */
  reps: number;
}

export interface CeilingShape {
  workers: number;
  intraOpThreads: number;
  texts: number;
  /** From "go" to the last thread done, ms. */
  wallMs: number;
  textsPerSec: number;
  tokensPerSec: number;
  /** Per thread: time spent inside its run loop, ms (of the best run). */
  busyMs: number[];
  /** texts/s of every run of this shape; the fields above are the best one. */
  allTextsPerSec: number[];
}

export interface CeilingResult {
  corpus: { seen: number; valid: number; rejected: number; uniqueTexts: number; crawlParseMs: number };
  tokens: {
    total: number;
    mean: number;
    max: number;
    /** Real tokens ÷ padded tokens over the sorted batches (1 = no padding). */
    paddingEfficiency: number;
    tokenizeMs: number;
  };
  batches: number;
  batchSize: number;
  shapes: CeilingShape[];
  maxRssKb: number;
}

async function runShape(
  onnxPath: string,
  batches: CeilingBatch[],
  order: number[],
  workers: number,
  intraOpThreads: number,
  totalTokens: number,
): Promise<Omit<CeilingShape, 'allTextsPerSec'>> {
  const next = new SharedArrayBuffer(4);
  const data: CeilingWorkerData = { onnxPath, intraOpThreads, batches, order, next };
  const threads = Array.from(
    { length: workers },
    () => new Worker(benchFile('ort-ceiling-worker'), { workerData: data }),
  );
  // Listened for now: a thread may finish and exit before its "done" message is even read.
  const exited = threads.map((w) => once(w, 'exit'));
  // One message reader per thread; a thread that dies fails the measurement instead of hanging it.
  const messages = threads.map((w) => {
    const queue: CeilingWorkerMessage[] = [];
    const waiters: { resolve: (m: CeilingWorkerMessage) => void; reject: (e: unknown) => void }[] = [];
    let failure: unknown;
    w.on('message', (m: CeilingWorkerMessage) => {
      const waiter = waiters.shift();
      if (waiter) waiter.resolve(m);
      else queue.push(m);
    });
    w.on('error', (err) => {
      failure = err;
      for (const waiter of waiters.splice(0)) waiter.reject(err);
    });
    return (): Promise<CeilingWorkerMessage> =>
      new Promise((resolve, reject) => {
        const m = queue.shift();
        if (m) resolve(m);
        else if (failure) reject(failure);
        else waiters.push({ resolve, reject });
      });
  });
  // Every session loaded and warmed up before the clock starts.
  await Promise.all(messages.map((m) => m()));
  const started = performance.now();
  for (const w of threads) w.postMessage('go');
  const done = await Promise.all(messages.map((m) => m()));
  const wallMs = performance.now() - started;
  await Promise.all(exited);
  let texts = 0;
  const busyMs: number[] = [];
  for (const m of done) {
    if (m.type !== 'done') throw new Error('ceiling worker sent no result');
    texts += m.texts;
    busyMs.push(m.busyMs);
  }
  return {
    workers,
    intraOpThreads,
    texts,
    wallMs,
    textsPerSec: texts / (wallMs / 1000),
    tokensPerSec: totalTokens / (wallMs / 1000),
    busyMs,
  };
}

childMain<CeilingInput, CeilingResult>(async (input) => {
  const corpus = await corpusTexts(input.sources);
  process.stderr.write(
    `[bench] ceiling: ${corpus.texts.length} distinct texts from ${corpus.valid} valid skills; tokenizing\n`,
  );
  const spec = loadModelSpec(input.modelDir);
  const embedder = await createEmbedder(spec);
  const tokenizeStarted = performance.now();
  const tokenized = corpus.texts.map((t) => embedder.tokenize(t));
  const tokenizeMs = performance.now() - tokenizeStarted;
  await embedder.release();
  tokenized.sort((a, b) => a.length - b.length);

  const batches: CeilingBatch[] = [];
  let realTokens = 0;
  let paddedTokens = 0;
  for (let start = 0; start < tokenized.length; start += input.batchSize) {
    const rows = tokenized.slice(start, start + input.batchSize);
    const B = rows.length;
    const T = Math.max(1, ...rows.map((r) => r.length));
    const ids = new BigInt64Array(B * T);
    const mask = new BigInt64Array(B * T);
    rows.forEach((seq, i) => {
      for (let j = 0; j < seq.length; j++) {
        ids[i * T + j] = BigInt(seq[j]!);
        mask[i * T + j] = 1n;
      }
      realTokens += seq.length;
    });
    paddedTokens += B * T;
    batches.push({ ids, mask, B, T });
  }
  // Longest batches first: the threads finish at nearly the same time.
  const order = batches.map((_, i) => batches.length - 1 - i);

  const shapes: CeilingShape[] = [];
  const configs: [number, number][] = [[input.threads, 1]];
  if (input.threads > 1) configs.push([1, input.threads]);
  for (const [workers, intraOp] of configs) {
    globalThis.gc?.();
    const runs: Omit<CeilingShape, 'allTextsPerSec'>[] = [];
    for (let rep = 0; rep < input.reps; rep++) {
      runs.push(await runShape(spec.onnxPath, batches, order, workers, intraOp, realTokens));
    }
    const best = runs.reduce((a, b) => (b.textsPerSec > a.textsPerSec ? b : a));
    process.stderr.write(
      `[bench] ceiling: ${workers} worker(s) × intra-op ${intraOp}: ` +
        `${runs.map((r) => r.textsPerSec.toFixed(1)).join(', ')} texts/s\n`,
    );
    shapes.push({ ...best, allTextsPerSec: runs.map((r) => r.textsPerSec) });
  }
  return {
    corpus: {
      seen: corpus.seen,
      valid: corpus.valid,
      rejected: corpus.rejected,
      uniqueTexts: corpus.texts.length,
      crawlParseMs: corpus.crawlParseMs,
    },
    tokens: {
      total: realTokens,
      mean: realTokens / Math.max(1, tokenized.length),
      max: tokenized.at(-1)?.length ?? 0,
      paddingEfficiency: realTokens / Math.max(1, paddedTokens),
      tokenizeMs,
    },
    batches: batches.length,
    batchSize: input.batchSize,
    shapes,
    maxRssKb: maxRssKb(),
  };
});
