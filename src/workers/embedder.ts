import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import type { ModelSpec } from '../model/model-spec.js';
import type { EmbedResult } from '../shared/messages.js';
import { disableOrtTelemetry } from './ort-telemetry.js';
import { cacheUnigramWords } from './unigram-word-cache.js';

/** Options of {@link createEmbedder}. */
export interface EmbedderOptions {
  /** ORT intra-op threads. Default 1: the pool gets its parallelism from worker threads. */
  intraOpThreads?: number;
  /** Texts per ORT call at most. Default 32. */
  maxBatch?: number;
}

/** A tokenizer and one ORT session, loaded once; embeds groups of texts. */
export interface Embedder {
  readonly spec: ModelSpec;
  /** Token ids of one text, with the model's special tokens, truncated to maxTokens. */
  tokenize(text: string): number[];
  embed(texts: readonly string[]): Promise<EmbedResult>;
  release(): Promise<void>;
}

// Enough characters for maxTokens of any sane tokenizer; stops a 144 KB text from being tokenized in full.
const CHARS_PER_TOKEN_CAP = 24;

/**
 * Loads the tokenizer and ORT session of a model folder. Used inside each pool worker thread and by the
 * benchmark's baselines, so both measure the same code.
 */
export async function createEmbedder(spec: ModelSpec, options: EmbedderOptions = {}): Promise<Embedder> {
  if (isMainThread) disableOrtTelemetry();
  const maxBatch = options.maxBatch ?? 32;
  const configPath = join(spec.dir, 'tokenizer_config.json');
  const tokenizerJson = JSON.parse(readFileSync(spec.tokenizerPath, 'utf8')) as {
    model?: { type?: unknown; unk_id?: number; unk_token?: string; vocab?: unknown };
  };
  const tokenizer = new Tokenizer(
    tokenizerJson,
    existsSync(configPath) ? (JSON.parse(readFileSync(configPath, 'utf8')) as object) : {},
  );
  cacheUnigramWords(tokenizer, tokenizerJson.model);
  // Some tokenizer models give no id for an out-of-vocabulary word (the JS WordLevel model returns null);
  // feeding that to the model would throw and fail the whole batch, so map it to the model's unknown token.
  const unkId = unknownTokenId(tokenizerJson.model);
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

  const tokenize = (text: string): number[] => {
    const clipped =
      text.length > spec.maxTokens * CHARS_PER_TOKEN_CAP
        ? text.slice(0, spec.maxTokens * CHARS_PER_TOKEN_CAP)
        : text;
    const ids = tokenizer
      .encode(clipped, { add_special_tokens: true })
      .ids.map((id: number | null): number => (Number.isInteger(id) ? (id as number) : unkId));
    return ids.length > spec.maxTokens ? ids.slice(0, spec.maxTokens) : ids;
  };

  async function runBatch(batch: number[][], into: Float32Array, rows: number[]): Promise<void> {
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
    const out = await session.run(feeds);
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
        const n = (batch[i] as number[]).length;
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
  }

  return {
    spec,
    tokenize,
    async embed(texts) {
      const tokenized = texts.map(tokenize);
      // Bucket by token length: sorted micro-batches pad little, which is worth ~30 % on short texts.
      const order = tokenized.map((_, i) => i).sort((a, b) => tokenized[a]!.length - tokenized[b]!.length);
      const vectors = new Float32Array(texts.length * spec.dim);
      let tokens = 0;
      for (let start = 0; start < order.length; start += maxBatch) {
        const rows = order.slice(start, start + maxBatch);
        const batch = rows.map((r) => tokenized[r] as number[]);
        tokens += batch.reduce((n, s) => n + s.length, 0);
        await runBatch(batch, vectors, rows);
      }
      return { vectors, dim: spec.dim, tokens };
    },
    async release() {
      await session.release();
    },
  };
}

/** The id of the unknown token of a tokenizer.json model (`unk_id`, or `unk_token` looked up), else 0. */
function unknownTokenId(model: { unk_id?: number; unk_token?: string; vocab?: unknown } | undefined): number {
  if (typeof model?.unk_id === 'number') return model.unk_id;
  const vocab = model?.vocab;
  if (model?.unk_token && vocab && typeof vocab === 'object' && !Array.isArray(vocab)) {
    const id = (vocab as Record<string, unknown>)[model.unk_token];
    if (typeof id === 'number') return id;
  }
  return 0;
}
