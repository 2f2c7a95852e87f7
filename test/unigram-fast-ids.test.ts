import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { builtinModelSpec, defaultModelName, ensureDefaultModel } from '../src/model/default-model.js';
import { createTextTokenizer } from '../src/workers/text-tokenizer.js';
import { unigramFastIds } from '../src/workers/unigram-fast-ids.js';
import { cacheUnigramWords } from '../src/workers/unigram-word-cache.js';
import { corpusDir } from './helpers.js';

interface TokenizerJson {
  pre_tokenizer: unknown;
  post_processor: unknown;
  added_tokens: unknown[];
  normalizer: { type: string; normalizers: { type: string; [key: string]: unknown }[] };
  model: { type: string; vocab: [string, number][]; byte_fallback?: boolean; [key: string]: unknown };
}

/** Every SKILL.md of the corpus, whole. */
function corpusFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name === 'SKILL.md') out.push(readFileSync(join(dir, e.name), 'utf8'));
    }
  };
  walk(corpusDir);
  return out;
}

/** Strings where a difference from the library would show: normalization, unknown pieces, word marks. */
const AWKWARD = [
  '',
  ' ',
  '     ',
  '\u2581',
  '\u2581\u2581 a\u2581b',
  '   leading and  double  spaces ',
  'emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷',
  '混合 English 和中文 text，句号。',
  '日本語のテキストとカタカナ',
  'combining e\u0301 a\u0308 n\u0303 and stacked a\u0301\u0302\u0303',
  'ligatures ﬁ ﬂ ﬃ and ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ １２３ ｶﾀｶﾅ',
  'NFKC ① ² ℌ ㎏ ™ Ⅻ',
  'control \u0000 \u0001\u0002 tab\there\nnewline\r\nend \u007f \u200b zero-width',
  'unknown ☃☃ glyphs ☃ fused ☃☃☃x☃ 𝔘𝔫𝔦',
  '☃ ☃ ☃', // unknown pieces in consecutive words
  '\u0000reserved_0\u0000\u0000reserved_0\u0000☃☃ \u0000reserved_1\u0000', // the unknown piece's own text
  'lone \ud800 surrogates \udc00\ud800x',
  'a'.repeat(500),
  'supercalifragilisticexpialidocious'.repeat(20),
  '-'.repeat(300) + '|' + '='.repeat(300),
  'x'.repeat(2000) + ' y',
];

describe('unigramFastIds: text → ids without the library’s lattice', () => {
  let json: TokenizerJson;
  let config: object;
  let library: (text: string) => number[];
  let maxTokens: number;
  let modelDir: string;
  let files: string[];
  beforeAll(async () => {
    modelDir = await ensureDefaultModel();
    json = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')) as TokenizerJson;
    config = JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')) as object;
    const cached = new Tokenizer(json, config);
    expect(cacheUnigramWords(cached, json.model)).toBe(true);
    library = (text) => cached.encode(text, { add_special_tokens: true }).ids;
    maxTokens = builtinModelSpec(defaultModelName, modelDir).maxTokens;
    files = corpusFiles();
  });

  it('gives the ids of the library with the word cache on every corpus text, clipped and first 600 chars', () => {
    expect(files.length).toBeGreaterThan(1400);
    const fast = unigramFastIds(json, config);
    expect(fast).not.toBeNull();
    const clipped = files.map((t) => t.slice(0, maxTokens * 24));
    const heads = files.map((t) => t.slice(0, 600));
    const expected = new Map([...clipped, ...heads].map((t) => [t, library(t).join(' ')]));
    // Twice: the second pass comes from the word cache.
    for (let pass = 0; pass < 2; pass++) {
      for (const texts of [clipped, heads]) {
        const differ = texts.filter((t) => fast!(t).join(' ') !== expected.get(t));
        expect(differ).toEqual([]);
      }
      const limited = clipped.filter(
        (t) =>
          fast!(t, maxTokens).slice(0, maxTokens).join(' ') !==
          expected.get(t)!.split(' ').slice(0, maxTokens).join(' '),
      );
      expect(limited).toEqual([]);
    }
  });

  it('gives the library’s ids on awkward strings, alone, joined and repeated', () => {
    const fast = unigramFastIds(json, config)!;
    const texts = [...AWKWARD, AWKWARD.join(' '), AWKWARD.join(''), AWKWARD.join('\u2581')];
    for (let pass = 0; pass < 2; pass++) {
      for (const t of texts) expect({ t, ids: fast(t) }).toEqual({ t, ids: library(t) });
    }
    // Unknown characters in a row fuse into one unknown token (a check that the strings reach that path).
    expect(fast('☃☃☃').filter((id) => id === 0)).toHaveLength(1);
  });

  it('is what createTextTokenizer returns for the default model', () => {
    const tokenize = createTextTokenizer(builtinModelSpec(defaultModelName, modelDir));
    for (const t of [...files.slice(0, 200), ...AWKWARD]) {
      expect(tokenize(t)).toEqual(library(t.slice(0, maxTokens * 24)).slice(0, maxTokens));
    }
  });

  it('starts the word cache over when full, with the same ids', () => {
    const fast = unigramFastIds(json, config, 50)!;
    const texts = files.slice(0, 100).map((t) => t.slice(0, 600));
    for (let pass = 0; pass < 2; pass++) {
      for (const t of texts) {
        expect(fast(t)).toEqual(library(t));
        expect(fast.cachedWords()).toBeLessThanOrEqual(50);
      }
    }
    expect(fast.cachedWords()).toBeGreaterThan(0);
  });

  it('declines a tokenizer of another shape', () => {
    const variant = (change: (j: TokenizerJson) => void): TokenizerJson => {
      const copy = structuredClone(json);
      change(copy);
      return copy;
    };
    expect(unigramFastIds(json, config)).not.toBeNull();
    const others: TokenizerJson[] = [
      variant(
        (j) => (j.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always' }),
      ),
      variant((j) => (j.post_processor = { type: 'TemplateProcessing', single: [], pair: [] })),
      variant((j) => j.added_tokens.push({ id: 0, content: '<unk>', special: true })),
      variant((j) => (j.model = { type: 'WordPiece', vocab: { a: 0 }, unk_token: 'a' } as never)),
      variant((j) => (j.model.byte_fallback = true)),
      variant((j) => j.model.vocab.push(['ab\u2581cd', -20])),
      variant((j) => (j.model.unk_id = undefined)),
      variant((j) => j.normalizer.normalizers.push({ type: 'Lowercase' })),
      variant(
        (j) =>
          (j.normalizer.normalizers[2] = { type: 'Replace', pattern: { Regex: ' +' }, content: '\u2581' }),
      ),
      variant(
        (j) => (j.normalizer.normalizers[2] = { type: 'Replace', pattern: { String: ' ' }, content: '$&' }),
      ),
    ];
    for (const other of others) expect(unigramFastIds(other, config)).toBeNull();
    expect(unigramFastIds(json, { ...config, remove_space: true })).toBeNull();
    expect(unigramFastIds(json, { ...config, do_lowercase_and_remove_accent: true })).toBeNull();
  });

  it('fuses unknown pieces as the library does when the fused text is itself a piece', () => {
    // Positive scores make two unknown pieces (15 + 15) beat the piece '☃☄' (25): fuse_unk then joins them into
    // text the vocabulary has, and encode maps that text to its id. Also the unknown piece's own text.
    const tiny = {
      ...structuredClone(json),
      model: {
        type: 'Unigram',
        unk_id: 0,
        byte_fallback: false,
        vocab: [
          ['<unk>', 25],
          ['\u2581', 50],
          ['☃☄', 25],
          ['a', 40],
          ['\u2581a', 45],
        ],
      },
    };
    const lib = new Tokenizer(tiny, config);
    cacheUnigramWords(lib, tiny.model);
    const fast = unigramFastIds(tiny, config)!;
    expect(fast).not.toBeNull();
    for (const t of ['☃☄', 'a☃☄a', '☃☄☃', '<unk>☃', '☃<unk>', 'a <unk><unk> ☃ ☄a', ...AWKWARD]) {
      expect({ t, ids: fast(t) }).toEqual({ t, ids: lib.encode(t, { add_special_tokens: true }).ids });
    }
    expect(fast('☃☄')).toContain(2);
  });

  it('handles the normalizer steps it accepts as the library does', () => {
    // A subset (no NFKC) and another form: still the library's ids.
    const variants = [
      (j: TokenizerJson) => j.normalizer.normalizers.splice(0, 1),
      (j: TokenizerJson) => (j.normalizer.normalizers[0] = { type: 'NFC' }),
    ];
    for (const change of variants) {
      const copy = structuredClone(json);
      change(copy);
      const fast = unigramFastIds(copy, config)!;
      expect(fast).not.toBeNull();
      const lib = new Tokenizer(copy, config);
      cacheUnigramWords(lib, copy.model);
      for (const t of AWKWARD) expect(fast(t)).toEqual(lib.encode(t, { add_special_tokens: true }).ids);
    }
  });
});
