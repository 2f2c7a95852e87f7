/**
 * Turns what a user typed into an FTS5 MATCH expression that FTS5 always accepts.
 *
 * Strategy: never pass user syntax through. The text is split into words with a Unicode-aware regex; each word
 * becomes a quoted FTS5 string (`"word"`), so quotes, `-`, `:`, `^`, parentheses, `NEAR`, `AND`/`OR`/`NOT` can
 * never act as operators. Words are joined with OR: BM25 sums per-term scores, so skills matching more (and
 * rarer) terms still rank first, while a natural-language query ("how do I fuzz a rust crate") does not come
 * back empty the way AND would. Common English stopwords are dropped unless nothing else is left.
 *
 * - A word keeps internal connectors (`skill-creator`, `p5.js`, `foo_bar`, `don't`): inside quotes FTS5 splits it
 *   with the same tokenizer, i.e. it becomes a phrase, which is what the user meant.
 * - A trailing `*` right after a word (`fuzz*`) is kept as a prefix query, `"fuzz"*`; any other `*` is dropped.
 * - CJK: the index tokenizer (unicode61) does not segment CJK text, so a run of Han/Kana/Hangul is one token
 *   in the index. Such words are searched as prefixes (`"机器学习"*`), which matches stored runs that start
 *   with them; that is the best the schema's tokenizer allows without a trigram table.
 * - Emoji and punctuation-only input give no words: the result is null (search nothing), never an error.
 */

/** A word: starts with a letter or digit; letters, digits and marks, joined by single connectors. */
const WORD = /[\p{L}\p{N}][\p{L}\p{N}\p{M}]*(?:['’._\-/][\p{L}\p{N}\p{M}]+)*(\*)?/gu;
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

/** Bounds the work one query can cause (each term is a posting-list scan). */
const MAX_TERMS = 32;
const MAX_INPUT_CHARS = 2000;

// Short list on purpose: words that carry no meaning in a skill search. Negations stay out ("not" is a word
// some descriptions hinge on, but it is harmless either way with OR).
const STOPWORDS = new Set(
  (
    'a an and are as at be but by can could do does for from how i if in into is it its me my of on or ' +
    'please should so some that the their then there these this to use using want was what when where which ' +
    'who why will with would you your'
  ).split(' '),
);

/** Quotes one FTS5 string (doubling inner quotes; WORD never yields any, this keeps the helper safe alone). */
function quote(term: string): string {
  return `"${term.replace(/"/g, '""')}"`;
}

/** One searchable word of a query, quoted for FTS5 (`"word"` or `"word"*`); `cjk` when it holds CJK/Hangul. */
export interface FtsTerm {
  fts: string;
  cjk: boolean;
}

/**
 * The searchable words of `userText`, each as a valid FTS5 string, deduplicated, stopwords dropped unless
 * nothing else is left, at most 32. Never throws; [] when there is no word.
 */
export function ftsTerms(userText: string): FtsTerm[] {
  if (typeof userText !== 'string') return [];
  const text = userText.normalize('NFC').slice(0, MAX_INPUT_CHARS);
  const seen = new Set<string>();
  const terms: { word: string; prefix: boolean; cjk: boolean }[] = [];
  for (const m of text.matchAll(WORD)) {
    const word = (m[0].endsWith('*') ? m[0].slice(0, -1) : m[0]).toLowerCase();
    const cjk = CJK.test(word);
    const prefix = m[1] === '*' || cjk;
    const key = `${word}${prefix ? '*' : ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    terms.push({ word, prefix, cjk });
  }
  const meaningful = terms.filter((t) => t.prefix || !STOPWORDS.has(t.word));
  const chosen = (meaningful.length > 0 ? meaningful : terms).slice(0, MAX_TERMS);
  return chosen.map((t) => ({ fts: `${quote(t.word)}${t.prefix ? '*' : ''}`, cjk: t.cjk }));
}

/**
 * The FTS5 MATCH expression for `userText`, or null when it holds no searchable word. Never throws on any
 * string; the result is always valid FTS5 syntax.
 */
export function toFtsQuery(userText: string): string | null {
  const terms = ftsTerms(userText);
  return terms.length === 0 ? null : terms.map((t) => t.fts).join(' OR ');
}

/**
 * Share of the text's letters that are CJK or Hangul. The default model's vocabulary has none of them, so
 * above one half its query vector says nothing and hybrid search leaves the vector list out.
 */
export function cjkShare(userText: string): number {
  const letters = userText.match(/\p{L}/gu)?.length ?? 0;
  if (letters === 0) return 0;
  return (userText.match(new RegExp(CJK.source, 'gu'))?.length ?? 0) / letters;
}
