import type { Tokenizer } from '@huggingface/tokenizers';

/** SentencePiece's word marker: the normalizer turns spaces into it, and pieces may start with it. */
export const WORD_MARK = 0x2581; // '▁'
/** Words remembered per tokenizer (one per pool, on its owner's thread); the map starts over when full. ~15k for the whole corpus. */
export const MAX_WORDS = 100_000;

/**
 * True when a vocabulary piece holds '▁' after its first character: such a piece spans a word boundary, so
 * words can no longer be segmented one by one (see {@link cacheUnigramWords} for why they can otherwise).
 */
export function spansWords(piece: string): boolean {
  return piece.indexOf('\u2581', 1) > 0;
}

/** The part of tokenizer.json's `model` this looks at. */
interface UnigramModelJson {
  type?: unknown;
  vocab?: unknown;
}

/**
 * Makes a Unigram tokenizer segment each word once: its `model.tokenize` (Viterbi over a lattice of every
 * vocabulary piece at every position: most of the tokenizer's time, ~0.5 ms per skill text) is replaced by one
 * that splits the normalized text at each '▁' and reuses the pieces of words it has seen. Skill texts share
 * most of their words, so the lattice runs for ~15k distinct words instead of ~390k characters of text.
 *
 * Why the result is the same: when no vocabulary piece holds '▁' after its first character, every '▁' starts a
 * piece on every path through the lattice, so the best path of the whole text is the best paths of its words
 * one after another (the scores add up; only a tie between two paths equal to the last bit of a float sum could
 * break differently, and none occurs on the corpus). Checked here against the vocabulary; a tokenizer where it does not
 * hold, or that is not Unigram, is left as it is. Ids equal the library's on every corpus text
 * (test/unigram-word-cache.test.ts). Unknown-token fusing runs afterwards on the whole list, as before.
 *
 * Returns whether the cache was installed.
 */
export function cacheUnigramWords(tokenizer: Tokenizer, modelJson: UnigramModelJson | undefined): boolean {
  const model = tokenizer.model as { tokenize?: (normalized: string) => string[] } | null;
  if (modelJson?.type !== 'Unigram' || !model || typeof model.tokenize !== 'function') return false;
  if (!Array.isArray(modelJson.vocab)) return false;
  const innerMark = (modelJson.vocab as unknown[]).some(
    (entry) => !Array.isArray(entry) || typeof entry[0] !== 'string' || spansWords(entry[0]),
  );
  if (innerMark) return false;
  const whole = model.tokenize.bind(model);
  let words = new Map<string, readonly string[]>();
  model.tokenize = (normalized: string): string[] => {
    if (normalized.length === 0) return whole(normalized);
    const out: string[] = [];
    let start = 0;
    for (let i = 1; i <= normalized.length; i++) {
      if (i < normalized.length && normalized.charCodeAt(i) !== WORD_MARK) continue;
      const word = normalized.slice(start, i);
      let pieces = words.get(word);
      if (!pieces) {
        pieces = whole(word);
        if (words.size >= MAX_WORDS) words = new Map();
        words.set(word, pieces);
      }
      for (const p of pieces) out.push(p);
      start = i;
    }
    return out;
  };
  return true;
}
