import { MAX_WORDS, WORD_MARK, spansWords } from './unigram-word-cache.js';

/**
 * Text → token ids for the tokenizers it supports. `limit`: only the first `limit` ids are wanted (the rest may
 * be left off, which saves looking up the words past them).
 */
export interface FastIds {
  (text: string, limit?: number): number[];
  /** How many words the cache holds now (for tests of its reset). */
  cachedWords(): number;
}

/**
 * The Unigram model's pieces as the library sees them. `ids`: `new Map(vocab.map((x, i) => [x, i]))` (a repeated
 * piece gets its last id). The trie is over code points, like the library's CharTrie: node 0 is the root,
 * `children[node]` maps a code point to a node, `pieceId[node]` is the id of the piece ending there (-1: none)
 * and `pieceScore[node]` its score, the unknown id's replaced by `unkScore` = `min(scores) - 10`.
 */
interface Vocabulary {
  ids: Map<string, number>;
  children: (Map<number, number> | undefined)[];
  pieceId: Int32Array;
  pieceScore: Float64Array;
  unkId: number;
  unkScore: number;
}

/** A word's ids, and the text of its unknown pieces (for fusing them; null when it has none). */
interface WordIds {
  ids: readonly number[];
  unknownText: readonly (string | null)[] | null;
}

type Step = (text: string) => string;

/**
 * A direct text → ids path that gives the same ids as `@huggingface/tokenizers` 0.2.0 with {@link
 * cacheUnigramWords} installed, for a Unigram tokenizer.json of the shape SentencePiece converters write (the
 * default model's): a normalizer of NFKC/Prepend/Replace steps, no pre-tokenizer, no post-processor, no added
 * tokens, no byte fallback, no vocabulary piece with '▁' after its first character. Returns null for any other
 * tokenizer (the caller then keeps the library).
 *
 * Why: the library builds a lattice of node objects for each new word (a trie walk with generators, a clone per
 * compared node) and maps tokens back to ids; this walks a trie of Maps and solves in reused typed arrays, and caches ids
 * per word, so a known word costs one map lookup. The semantics copied from the library (tokenizers.mjs, 0.2.0:
 * Unigram, TokenLattice.viterbi, fuse_unk, Tokenizer.encode_text/encode) are noted where they matter; the test
 * (test/unigram-fast-ids.test.ts) holds it to the library's ids on every corpus text.
 *
 * `maxWords`: the size at which the word cache starts over (a parameter so the test can reach it).
 */
export function unigramFastIds(
  tokenizerJson: unknown,
  tokenizerConfig: unknown,
  maxWords = MAX_WORDS,
): FastIds | null {
  if (!isObject(tokenizerJson) || !isObject(tokenizerConfig)) return null;
  // Tokenizer.encode_text: config-level text rewriting we do not copy.
  if (tokenizerConfig.remove_space === true || tokenizerConfig.do_lowercase_and_remove_accent) return null;
  const { added_tokens: added, pre_tokenizer: pre, post_processor: post, model } = tokenizerJson;
  if (!Array.isArray(added) || added.length > 0) return null;
  if (pre !== null || post !== null || !('normalizer' in tokenizerJson) || !('decoder' in tokenizerJson))
    return null;
  const normalize = normalizerSteps(tokenizerJson.normalizer);
  if (!normalize || !isObject(model) || model.type !== 'Unigram' || model.byte_fallback) return null;
  const vocabulary = unigramVocabulary(model.vocab, model.unk_id);
  if (!vocabulary) return null;
  const { ids: pieceIds, unkId } = vocabulary;
  const lattice = new Lattice();

  let words = new Map<string, WordIds>();
  const wordIds = (word: string): WordIds => {
    let known = words.get(word);
    if (!known) {
      known = lattice.segment(word, vocabulary);
      if (words.size >= maxWords) words = new Map();
      words.set(word, known);
    }
    return known;
  };

  const textIds = (text: string, limit = Infinity): number[] => {
    // encode_text: an empty text, or one the normalizer empties, gives no tokens.
    if (text.length === 0) return [];
    let normalized = text;
    for (const step of normalize) normalized = step(normalized);
    if (normalized.length === 0) return [];
    const out: number[] = [];
    // fuse_unk runs over the tokens of the whole text (after the word cache), so a run of unknown pieces fuses
    // across words: `run` is the text of the unknown token being fused, null when the last token was known.
    let run: string | null = null;
    let start = 0;
    // Words as cacheUnigramWords splits them: at each '▁' after the first character.
    for (let i = 1; i <= normalized.length; i++) {
      if (i < normalized.length && normalized.charCodeAt(i) !== WORD_MARK) continue;
      const { ids, unknownText } = wordIds(normalized.slice(start, i));
      start = i;
      for (let k = 0; k < ids.length; k++) {
        const id = ids[k] as number;
        if (id !== unkId) {
          if (run !== null) out[out.length - 1] = fusedId(run, pieceIds, unkId);
          run = null;
          out.push(id);
          continue;
        }
        const piece = unknownText?.[k] ?? '';
        if (run === null) {
          run = piece;
          out.push(unkId);
        } else if (pieceIds.get(run) !== unkId) {
          // fuse_unk appends only while the fused text is not itself the unknown piece's text.
          run += piece;
        }
      }
      // The first `limit` tokens are final once a further one has begun (it ends any fusing run before it).
      if (out.length > limit) break;
    }
    if (run !== null) out[out.length - 1] = fusedId(run, pieceIds, unkId);
    return out;
  };
  return Object.assign(textIds, { cachedWords: () => words.size });
}

/** encode: a fused run's id is its text's id if that is a piece, else the unknown id. */
function fusedId(text: string, ids: Map<string, number>, unkId: number): number {
  return ids.get(text) ?? unkId;
}

/**
 * Unigram.tokenize of one word: the best path through the lattice of every piece at every code point, exactly
 * as TokenLattice.viterbi finds it. Nodes go in as populate_nodes inserts them (by start, then shorter pieces
 * first; an unknown node of one code point, scored unk_score, where no one-code-point piece starts); each node
 * takes the first (strictly) best of the nodes ending where it starts, in insertion order, comparing
 * `left backtrace score + node score` as the library does, so float ties break the same way. A node's best left
 * node is final when it is inserted (all nodes ending where it starts start before it), so the lattice is filled
 * and solved in one pass. Its arrays are kept between words (grown as needed) to spare the garbage collector.
 */
class Lattice {
  /** Code points of the word, and their starts in UTF-16 units (one more: the word's length). */
  private cps = new Int32Array(64);
  private bounds = new Int32Array(65);
  /** Per end position: first and last node ending there (insertion order), -1 when none. */
  private head = new Int32Array(65);
  private tail = new Int32Array(65);
  /** Per node: start, end, id, backtrace score, best left node, next node with the same end. */
  private start = new Int32Array(256);
  private end = new Int32Array(256);
  private id = new Int32Array(256);
  private backtrace = new Float64Array(256);
  private prev = new Int32Array(256);
  private next = new Int32Array(256);
  private count = 0;

  segment(word: string, v: Vocabulary): WordIds {
    // Code points as Array.from / for-of split them: a lone surrogate is one.
    if (this.cps.length < word.length) this.growPositions(word.length);
    let n = 0;
    for (let u = 0; u < word.length; n++) {
      const cp = word.codePointAt(u) as number;
      this.cps[n] = cp;
      this.bounds[n] = u;
      u += cp > 0xffff ? 2 : 1;
    }
    this.bounds[n] = word.length;
    this.head.fill(-1, 0, n + 1);
    this.tail.fill(-1, 0, n + 1);
    // Node 0: the lattice's start (BOS), ending at 0 with backtrace score 0.
    this.count = 0;
    this.append(0, 0, -1, 0, -1);
    const { children, pieceId, pieceScore, unkId, unkScore } = v;
    for (let start = 0; start < n; start++) {
      let single = false;
      let node = 0;
      for (let end = start + 1; end <= n; end++) {
        // CharTrie.common_prefix_search: stops where no piece goes on with this code point.
        const next = children[node]?.get(this.cps[end - 1] as number);
        if (next === undefined) break;
        node = next;
        const id = pieceId[node] as number;
        if (id < 0) continue;
        this.insert(start, end, id, pieceScore[node] as number);
        if (end === start + 1) single = true;
      }
      if (!single) this.insert(start, start + 1, unkId, unkScore);
    }
    // The end node (EOS, score 0) takes the best node ending at the last position; walk back from it.
    const ids: number[] = [];
    const unknownText: (string | null)[] = [];
    let hasUnknown = false;
    for (let node = this.bestEndingAt(n, 0); node > 0; node = this.prev[node] as number) {
      const id = this.id[node] as number;
      ids.push(id);
      const unknown = id === unkId;
      hasUnknown ||= unknown;
      const text = unknown
        ? word.slice(this.bounds[this.start[node] as number], this.bounds[this.end[node] as number])
        : null;
      unknownText.push(text);
    }
    ids.reverse();
    unknownText.reverse();
    return { ids, unknownText: hasUnknown ? unknownText : null };
  }

  /** TokenLattice.viterbi's choice for a node of `score` starting at `pos`: the first strictly best. */
  private bestEndingAt(pos: number, score: number): number {
    let best = -1;
    let bestScore = 0;
    for (let left = this.head[pos] as number; left !== -1; left = this.next[left] as number) {
      const s = (this.backtrace[left] as number) + score;
      if (best === -1 || s > bestScore) {
        best = left;
        bestScore = s;
      }
    }
    return best;
  }

  private insert(start: number, end: number, id: number, score: number): void {
    const prev = this.bestEndingAt(start, score);
    this.append(start, end, id, (this.backtrace[prev] as number) + score, prev);
  }

  private append(start: number, end: number, id: number, backtrace: number, prev: number): void {
    if (this.count === this.start.length) this.growNodes();
    const k = this.count++;
    this.start[k] = start;
    this.end[k] = end;
    this.id[k] = id;
    this.backtrace[k] = backtrace;
    this.prev[k] = prev;
    this.next[k] = -1;
    const last = this.tail[end] as number;
    if (last === -1) this.head[end] = k;
    else this.next[last] = k;
    this.tail[end] = k;
  }

  private growPositions(length: number): void {
    this.cps = new Int32Array(length);
    this.bounds = new Int32Array(length + 1);
    this.head = new Int32Array(length + 1);
    this.tail = new Int32Array(length + 1);
  }

  private growNodes(): void {
    const grow = <T extends Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.start = grow(this.start);
    this.end = grow(this.end);
    this.id = grow(this.id);
    this.backtrace = grow(this.backtrace);
    this.prev = grow(this.prev);
    this.next = grow(this.next);
  }
}

/**
 * The vocabulary as {@link Vocabulary}. Null when it is not `[piece, finite score][]`, the unknown id is not one
 * of its ids, or a piece holds '▁' after its first character (then words are not independent: see
 * cacheUnigramWords).
 */
function unigramVocabulary(vocab: unknown, unkId: unknown): Vocabulary | null {
  if (!Array.isArray(vocab) || vocab.length === 0) return null;
  if (typeof unkId !== 'number' || !Number.isInteger(unkId) || unkId < 0 || unkId >= vocab.length)
    return null;
  const scores: number[] = [];
  const ids = new Map<string, number>();
  for (const entry of vocab as unknown[]) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') return null;
    if (!Number.isFinite(entry[1]) || spansWords(entry[0])) return null;
    ids.set(entry[0], scores.length);
    scores.push(entry[1]);
  }
  // maths.min: the first smallest score.
  let minScore = scores[0] as number;
  for (const s of scores) if (s < minScore) minScore = s;
  const unkScore = minScore - 10;
  const children: (Map<number, number> | undefined)[] = [undefined];
  const pieceIdList = [-1];
  const pieceScoreList = [0];
  for (const [text, id] of ids) {
    let node = 0;
    for (const ch of text) {
      const cp = ch.codePointAt(0) as number;
      let next = children[node]?.get(cp);
      if (next === undefined) {
        next = children.length;
        children.push(undefined);
        pieceIdList.push(-1);
        pieceScoreList.push(0);
        (children[node] ??= new Map()).set(cp, next);
      }
      node = next;
    }
    // The empty piece marks the root, which the walk never reports.
    if (node === 0) continue;
    pieceIdList[node] = id;
    pieceScoreList[node] = id === unkId ? unkScore : (scores[id] as number);
  }
  return {
    ids,
    children,
    pieceId: Int32Array.from(pieceIdList),
    pieceScore: Float64Array.from(pieceScoreList),
    unkId,
    unkScore,
  };
}

/**
 * The normalizer as steps, when it is null or a (nested) Sequence of NFC/NFD/NFKC/NFKD, Prepend and
 * Replace-a-string: the library's normalizers for these are `String.normalize`, `prepend + text` and
 * `replaceAll(/escaped/gu, content)`. A content with '$' (a replacement pattern) or a pattern with a surrogate
 * (where the `u` flag matches differently from a plain string) is declined. Null for anything else.
 */
function normalizerSteps(config: unknown): Step[] | null {
  if (config === null) return [];
  if (!isObject(config)) return null;
  switch (config.type) {
    case 'Sequence': {
      const parts = config.normalizers ?? [];
      if (!Array.isArray(parts)) return null;
      const steps: Step[] = [];
      for (const part of parts as unknown[]) {
        const inner = normalizerSteps(part);
        if (!inner) return null;
        steps.push(...inner);
      }
      return steps;
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = config.type;
      return [(text) => text.normalize(form)];
    }
    case 'Prepend': {
      const prepend = config.prepend;
      return typeof prepend === 'string' ? [(text) => prepend + text] : null;
    }
    case 'Replace': {
      const pattern = config.pattern;
      const content = config.content ?? '';
      if (!isObject(pattern) || 'Regex' in pattern || typeof content !== 'string' || content.includes('$'))
        return null;
      const from = pattern.String;
      if (typeof from !== 'string' || from.length === 0 || /[\ud800-\udfff]/.test(from)) return null;
      return [(text) => text.replaceAll(from, content)];
    }
    default:
      return null;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
