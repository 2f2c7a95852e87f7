import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { ModelSpec } from '../model/model-spec.js';
import { unigramFastIds } from './unigram-fast-ids.js';
import { cacheUnigramWords } from './unigram-word-cache.js';

/** Turns one text into the model's token ids: special tokens added, truncated to the model's maxTokens. */
export type TextTokenizer = (text: string) => number[];

// Enough characters for maxTokens of any sane tokenizer; stops a 144 KB text from being tokenized in full.
const CHARS_PER_TOKEN_CAP = 24;

/**
 * Loads the tokenizer of a model folder. The pipeline tokenizes on the main thread, where the texts arrive, so
 * it can sort them by exact token count before they go to the workers (which then only run the model).
 * `fastIds: false` keeps the library's path where {@link unigramFastIds} would take over (for
 * bench/tokenizer-fast-path.ts, which compares the two).
 */
export function createTextTokenizer(spec: ModelSpec, opts: { fastIds?: boolean } = {}): TextTokenizer {
  const configPath = join(spec.dir, 'tokenizer_config.json');
  const tokenizerJson = JSON.parse(readFileSync(spec.tokenizerPath, 'utf8')) as {
    model?: { type?: unknown; unk_id?: number; unk_token?: string; vocab?: unknown };
  };
  const tokenizerConfig = existsSync(configPath)
    ? (JSON.parse(readFileSync(configPath, 'utf8')) as object)
    : {};
  const maxChars = spec.maxTokens * CHARS_PER_TOKEN_CAP;
  const clip = (text: string): string => (text.length > maxChars ? text.slice(0, maxChars) : text);
  const truncate = (ids: number[]): number[] =>
    ids.length > spec.maxTokens ? ids.slice(0, spec.maxTokens) : ids;
  // Same ids as the library with the word cache, without its lattice objects (the default model's tokenizer).
  const fast = opts.fastIds === false ? null : unigramFastIds(tokenizerJson, tokenizerConfig);
  // The library's tokenizer is then not built at all (~55 ms on the main thread, and its memory): the fast path
  // checked the whole shape it relies on.
  if (fast) return (text: string): number[] => truncate(fast(clip(text), spec.maxTokens));
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  cacheUnigramWords(tokenizer, tokenizerJson.model);
  // Some tokenizer models give no id for an out-of-vocabulary word (the JS WordLevel model returns null);
  // feeding that to the model would throw and fail the whole batch, so map it to the model's unknown token.
  const unkId = unknownTokenId(tokenizerJson.model);
  return (text: string): number[] =>
    truncate(
      tokenizer
        .encode(clip(text), { add_special_tokens: true })
        .ids.map((id: number | null): number => (Number.isInteger(id) ? (id as number) : unkId)),
    );
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
