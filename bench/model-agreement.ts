/**
 * Child process: how close the int8 model's vectors are to the float32 model's, over every distinct corpus
 * text. Both embed the same texts in the same batches (sorted by token length, batches of 32, one session with
 * intra-op = the thread budget), so the only difference is the model.
 */
import { loadModelSpec } from '../src/model/model-spec.js';
import { createEmbedder } from '../src/workers/embedder.js';
import { childMain, type BenchSource } from './child.js';
import { corpusTexts } from './corpus-texts.js';

export interface AgreementInput {
  sources: BenchSource[];
  /** The reference model folder (float32) and the one compared with it (int8). */
  referenceDir: string;
  candidateDir: string;
  threads: number;
  batchSize: number;
}

export interface AgreementResult {
  texts: number;
  referenceId: string;
  candidateId: string;
  cosineMean: number;
  cosineMin: number;
  /** Share of texts with cosine ≥ 0.99. */
  atLeast099: number;
}

async function embedAll(
  dir: string,
  texts: string[],
  threads: number,
  batchSize: number,
): Promise<{ id: string; vectors: Float32Array[] }> {
  const embedder = await createEmbedder(loadModelSpec(dir), { intraOpThreads: threads, maxBatch: batchSize });
  try {
    const order = texts
      .map((t, i) => ({ i, n: embedder.tokenize(t).length }))
      .sort((a, b) => a.n - b.n || a.i - b.i);
    const vectors: Float32Array[] = new Array<Float32Array>(texts.length);
    for (let at = 0; at < order.length; at += batchSize) {
      const batch = order.slice(at, at + batchSize);
      const { vectors: flat } = await embedder.embed(batch.map((b) => texts[b.i]!));
      const dim = flat.length / batch.length;
      batch.forEach((b, j) => (vectors[b.i] = flat.slice(j * dim, (j + 1) * dim)));
    }
    return { id: embedder.spec.id, vectors };
  } finally {
    await embedder.release();
  }
}

childMain<AgreementInput, AgreementResult>(async (input) => {
  const { texts } = await corpusTexts(input.sources);
  const ref = await embedAll(input.referenceDir, texts, input.threads, input.batchSize);
  const cand = await embedAll(input.candidateDir, texts, input.threads, input.batchSize);
  const cosines = texts.map((_, i) => {
    const a = ref.vectors[i]!;
    const b = cand.vectors[i]!;
    let dot = 0;
    for (let d = 0; d < a.length; d++) dot += a[d]! * b[d]!;
    return dot; // both are unit length
  });
  return {
    texts: texts.length,
    referenceId: ref.id,
    candidateId: cand.id,
    cosineMean: cosines.reduce((s, c) => s + c, 0) / Math.max(cosines.length, 1),
    cosineMin: Math.min(...cosines),
    atLeast099: cosines.filter((c) => c >= 0.99).length / Math.max(cosines.length, 1),
  };
});
