/**
 * Child process: the int8 model against the float32 one on every distinct corpus text, paired batch by batch.
 * Both sessions live in this process with the options of src/workers/embedder.ts and `intraOpThreads` threads
 * (the bench uses 1: the shape of one pool thread, and the one least disturbed by other processes); the texts are tokenized once, sorted by length and cut into the same
 * batches. For each batch the two models run one after the other, in alternating order, and only
 * `session.run` is timed: a drift of the machine's speed (other processes) hits both alike, so the ratio holds
 * on a busy machine where two separate ceiling runs would not compare. The outputs of the first pass give the
 * cosine of every text's two vectors.
 */
import * as ort from 'onnxruntime-node';
import { loadModelSpec } from '../src/model/model-spec.js';
import { createEmbedder } from '../src/workers/embedder.js';
import { childMain, type BenchSource } from './child.js';
import { corpusTexts } from './corpus-texts.js';

export interface AgreementInput {
  sources: BenchSource[];
  /** The reference model folder (float32) and the one compared with it (int8); same tokenizer. */
  referenceDir: string;
  candidateDir: string;
  /** ORT intra-op threads of each session. */
  intraOpThreads: number;
  batchSize: number;
  /** Timed passes over all batches. */
  passes: number;
}

export interface AgreementResult {
  texts: number;
  /** Texts per session.run call (sorted by length), the same for both models. */
  batchSize: number;
  referenceId: string;
  candidateId: string;
  cosineMean: number;
  cosineMin: number;
  /** Share of texts with cosine ≥ 0.99. */
  atLeast099: number;
  /** Summed session.run time of each model over all passes, ms, and texts/s from it. */
  referenceRunMs: number;
  candidateRunMs: number;
  referenceTextsPerSec: number;
  candidateTextsPerSec: number;
  /** candidate texts/s ÷ reference texts/s. */
  speedup: number;
}

async function session(onnxPath: string, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(onnxPath, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
    logSeverityLevel: 3,
  });
}

childMain<AgreementInput, AgreementResult>(async (input) => {
  const { texts } = await corpusTexts(input.sources);
  const refSpec = loadModelSpec(input.referenceDir);
  const candSpec = loadModelSpec(input.candidateDir);
  const tokenizer = await createEmbedder(candSpec);
  const tokens = texts.map((t) => tokenizer.tokenize(t));
  await tokenizer.release();
  const order = tokens.map((_, i) => i).sort((a, b) => tokens[a]!.length - tokens[b]!.length || a - b);

  const batches: { rows: number[]; feeds: Record<string, ort.Tensor> }[] = [];
  for (let at = 0; at < order.length; at += input.batchSize) {
    const rows = order.slice(at, at + input.batchSize);
    const T = Math.max(1, ...rows.map((r) => tokens[r]!.length));
    const ids = new BigInt64Array(rows.length * T);
    const mask = new BigInt64Array(rows.length * T);
    rows.forEach((r, i) =>
      tokens[r]!.forEach((id, j) => {
        ids[i * T + j] = BigInt(id);
        mask[i * T + j] = 1n;
      }),
    );
    batches.push({
      rows,
      feeds: {
        input_ids: new ort.Tensor('int64', ids, [rows.length, T]),
        attention_mask: new ort.Tensor('int64', mask, [rows.length, T]),
      },
    });
  }

  const ref = await session(refSpec.onnxPath, input.intraOpThreads);
  const cand = await session(candSpec.onnxPath, input.intraOpThreads);
  const refOut = refSpec.output ?? ref.outputNames[0]!;
  const candOut = candSpec.output ?? cand.outputNames[0]!;
  // Untimed first runs: arenas and kernels are set up on the first call.
  await ref.run(batches[0]!.feeds);
  await cand.run(batches[0]!.feeds);

  const cosines = new Float64Array(texts.length);
  let refMs = 0;
  let candMs = 0;
  for (let pass = 0; pass < input.passes; pass++) {
    for (const [k, b] of batches.entries()) {
      const runOne = async (s: ort.InferenceSession, out: string): Promise<[Float32Array, number]> => {
        const t0 = performance.now();
        const r = await s.run(b.feeds);
        return [r[out]!.data as Float32Array, performance.now() - t0];
      };
      const refFirst = (k + pass) % 2 === 0;
      let r: [Float32Array, number];
      let c: [Float32Array, number];
      if (refFirst) {
        r = await runOne(ref, refOut);
        c = await runOne(cand, candOut);
      } else {
        c = await runOne(cand, candOut);
        r = await runOne(ref, refOut);
      }
      refMs += r[1];
      candMs += c[1];
      if (pass === 0) {
        const dim = r[0].length / b.rows.length;
        b.rows.forEach((row, i) => {
          let dot = 0;
          for (let d = 0; d < dim; d++) dot += r[0][i * dim + d]! * c[0][i * dim + d]!;
          cosines[row] = dot; // both are unit length
        });
      }
    }
  }
  await ref.release();
  await cand.release();

  const n = Math.max(texts.length, 1);
  const timedTexts = texts.length * input.passes;
  return {
    texts: texts.length,
    batchSize: input.batchSize,
    referenceId: refSpec.id,
    candidateId: candSpec.id,
    cosineMean: cosines.reduce((s, c) => s + c, 0) / n,
    cosineMin: Math.min(...cosines),
    atLeast099: cosines.filter((c) => c >= 0.99).length / n,
    referenceRunMs: refMs,
    candidateRunMs: candMs,
    referenceTextsPerSec: timedTexts / (refMs / 1000),
    candidateTextsPerSec: timedTexts / (candMs / 1000),
    speedup: refMs / candMs,
  };
});
