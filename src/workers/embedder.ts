import { isMainThread } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { ModelSpec } from '../model/model-spec.js';
import type { EmbedResult } from '../shared/messages.js';
import { DEFAULT_MAX_BATCH } from './ort-batch.js';
import { disableOrtTelemetry } from './ort-telemetry.js';
import { createTextTokenizer, type TextTokenizer } from './text-tokenizer.js';
import { threadCpuNs } from './thread-cpu.js';

/** Options of {@link createEmbedder}. */
export interface EmbedderOptions {
  /** ORT intra-op threads. Default 1: the pool gets its parallelism from worker threads. */
  intraOpThreads?: number;
  /** Texts per ORT call at most. Default {@link DEFAULT_MAX_BATCH}. */
  maxBatch?: number;
  /**
   * Read this thread's CPU clock around every ORT call and report the sum as `EmbedResult.modelCpuMs` (Linux
   * only; two reads of ~20 µs per call). Default false: the pool's threads turn it on, a query embedder need not.
   */
  measureCpu?: boolean;
}

/** One ORT session, loaded once (and a tokenizer, loaded on first use); embeds groups of texts. */
export interface Embedder {
  readonly spec: ModelSpec;
  /** Token ids of one text, with the model's special tokens, truncated to maxTokens. */
  tokenize(text: string): number[];
  embed(texts: readonly string[]): Promise<EmbedResult>;
  /** The vectors of texts already tokenized (by {@link tokenize} or a {@link TextTokenizer} of the same model). */
  embedTokens(ids: readonly (readonly number[])[]): Promise<EmbedResult>;
  release(): Promise<void>;
}

/**
 * Loads the ORT session of a model folder (and its tokenizer when first asked to tokenize). Used inside each
 * pool worker thread and by the benchmark's baselines, so both measure the same code.
 */
export async function createEmbedder(spec: ModelSpec, options: EmbedderOptions = {}): Promise<Embedder> {
  if (isMainThread) disableOrtTelemetry();
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  const session = await ort.InferenceSession.create(spec.onnxPath, {
    intraOpNumThreads: options.intraOpThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Spinning threads burn a core while idle, which starves the other workers and the writer.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
    logSeverityLevel: 3,
  });
  const output = spec.output ?? session.outputNames[0];
  if (!output) throw new Error(`model ${spec.id} has no outputs`);
  const wantsTokenTypes = session.inputNames.includes('token_type_ids');

  // Loaded on first use: pool workers get token ids and never need it.
  let tokenizer: TextTokenizer | undefined;
  const tokenize = (text: string): number[] => (tokenizer ??= createTextTokenizer(spec))(text);

  async function runBatch(
    batch: readonly (readonly number[])[],
    into: Float32Array,
    rows: number[],
  ): Promise<number | undefined> {
    const B = batch.length;
    const T = Math.max(1, ...batch.map((ids) => ids.length));
    const ids = new BigInt64Array(B * T);
    const mask = new BigInt64Array(B * T);
    batch.forEach((seq, i) => {
      for (let j = 0; j < seq.length; j++) {
        ids[i * T + j] = BigInt(seq[j] as number);
        mask[i * T + j] = 1n;
      }
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [B, T]),
      attention_mask: new ort.Tensor('int64', mask, [B, T]),
    };
    if (wantsTokenTypes) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(B * T), [B, T]);
    const cpu0 = options.measureCpu ? threadCpuNs() : undefined;
    const out = await session.run(feeds);
    // ORT runs the call on this thread (intra-op 1 in the pool); with more intra-op threads this misses theirs.
    const cpuNs = cpu0 === undefined ? undefined : (threadCpuNs() ?? cpu0) - cpu0;
    const tensor = out[output as string];
    if (!tensor) throw new Error(`model ${spec.id} did not produce output ${output}`);
    const data = tensor.data as Float32Array;
    const D = spec.dim;
    for (let i = 0; i < B; i++) {
      const dst = (rows[i] as number) * D;
      if (spec.pooling === 'in-graph') {
        into.set(data.subarray(i * D, (i + 1) * D), dst);
      } else if (spec.pooling === 'cls') {
        into.set(data.subarray(i * T * D, i * T * D + D), dst);
      } else {
        // Mean over the real tokens only (padding excluded).
        const n = batch[i]!.length;
        for (let t = 0; t < n; t++) {
          const base = (i * T + t) * D;
          for (let d = 0; d < D; d++)
            into[dst + d] = (into[dst + d] as number) + (data[base + d] as number) / n;
        }
      }
      if (spec.normalize) {
        let ss = 0;
        for (let d = 0; d < D; d++) ss += (into[dst + d] as number) ** 2;
        const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
        for (let d = 0; d < D; d++) into[dst + d] = (into[dst + d] as number) * inv;
      }
    }
    return cpuNs;
  }

  return {
    spec,
    tokenize,
    async embed(texts) {
      return await embedTokens(texts.map(tokenize));
    },
    embedTokens,
    async release() {
      await session.release();
    },
  };

  async function embedTokens(tokenized: readonly (readonly number[])[]): Promise<EmbedResult> {
    // Bucket by token length: sorted micro-batches pad little, which is worth ~30 % on short texts.
    const order = tokenized.map((_, i) => i).sort((a, b) => tokenized[a]!.length - tokenized[b]!.length);
    const vectors = new Float32Array(tokenized.length * spec.dim);
    let tokens = 0;
    let cpuNs: number | undefined = options.measureCpu ? 0 : undefined;
    for (let start = 0; start < order.length; start += maxBatch) {
      const rows = order.slice(start, start + maxBatch);
      const batch = rows.map((r) => tokenized[r]!);
      tokens += batch.reduce((n, s) => n + s.length, 0);
      const ns = await runBatch(batch, vectors, rows);
      cpuNs = ns === undefined || cpuNs === undefined ? undefined : cpuNs + ns;
    }
    return { vectors, dim: spec.dim, tokens, ...(cpuNs === undefined ? {} : { modelCpuMs: cpuNs / 1e6 }) };
  }
}
