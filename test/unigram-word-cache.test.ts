import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { cacheUnigramWords } from '../src/workers/unigram-word-cache.js';
import { corpusDir } from './helpers.js';

interface TokenizerFiles {
  json: { model: { type: string; vocab: [string, number][] } };
  config: object;
}

/** The first 600 characters of every SKILL.md of the corpus: front matter, prose, code, CJK, emoji. */
function corpusTexts(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name === 'SKILL.md') out.push(readFileSync(join(dir, e.name), 'utf8').slice(0, 600));
    }
  };
  walk(corpusDir);
  return out;
}

describe('cacheUnigramWords: a Unigram tokenizer segments each word once', () => {
  let files: TokenizerFiles;
  beforeAll(async () => {
    const dir = await ensureDefaultModel();
    files = {
      json: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as TokenizerFiles['json'],
      config: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as object,
    };
  });

  it('gives the library’s ids on every corpus text and on awkward strings', () => {
    const plain = new Tokenizer(files.json, files.config);
    const cached = new Tokenizer(files.json, files.config);
    expect(cacheUnigramWords(cached, files.json.model)).toBe(true);
    const texts = [
      ...corpusTexts(),
      '',
      ' ',
      '   leading and  double  spaces ',
      'unknown ☃☃ glyphs ☃ fused',
      '混合 English 和中文 text',
      'ＦＵＬＬＷＩＤＴＨ ｋａｎａ ｶﾀｶﾅ',
      'a'.repeat(500),
      'tab\there\nnewline\r\nend',
    ];
    expect(texts.length).toBeGreaterThan(1400);
    // Twice: the second pass is served from the word cache.
    for (let pass = 0; pass < 2; pass++) {
      const mismatches = texts.filter(
        (t) =>
          cached.encode(t, { add_special_tokens: true }).ids.join(' ') !==
          plain.encode(t, { add_special_tokens: true }).ids.join(' '),
      );
      expect(mismatches).toEqual([]);
    }
  });

  it('leaves a tokenizer alone when a piece holds the word mark inside, or the model is not Unigram', () => {
    const inner = structuredClone(files.json);
    inner.model.vocab.push(['ab\u2581cd', -20]);
    expect(cacheUnigramWords(new Tokenizer(inner, files.config), inner.model)).toBe(false);
    expect(cacheUnigramWords(new Tokenizer(files.json, files.config), { type: 'WordPiece' })).toBe(false);
  });
});
