import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { toFtsQuery } from '../src/reader/fts-query.js';

// The same tokenizer as the schema's skills_fts.
const db = new Database(':memory:');
db.exec(
  `CREATE VIRTUAL TABLE t USING fts5(name, description, body, tokenize='unicode61 remove_diacritics 2')`,
);
const insert = db.prepare('INSERT INTO t (name, description, body) VALUES (?, ?, ?)');
insert.run('skill-creator', 'Create new skills', 'how to write a SKILL.md');
insert.run('fuzzing', 'Fuzz Rust crates with cargo-fuzz', 'libFuzzer and AFL++');
insert.run('machine-learning', '机器学习模型 训练', 'Café crème, naïve résumé');
insert.run('near', 'NEAR AND OR NOT are words here', 'column:filter ^caret "quoted"');
const match = db.prepare('SELECT name FROM t WHERE t MATCH ? ORDER BY bm25(t, 10, 5, 1)').pluck();
afterAll(() => db.close());

const run = (userText: string): string[] | null => {
  const q = toFtsQuery(userText);
  return q === null ? null : (match.all(q) as string[]);
};

const HOSTILE = [
  '',
  '   \t\n ',
  '"',
  '""',
  '"unbalanced quote',
  'a "b" c"',
  "it's o'clock",
  '-',
  '-rust',
  'rust -python',
  '--',
  '*',
  '**',
  'fuzz*',
  '*fuzz',
  'fu*zz',
  'name:rust',
  ':',
  'name:',
  '^rust',
  '^',
  '(',
  ')',
  '((rust',
  'rust)',
  '(a OR b',
  'AND',
  'OR',
  'NOT',
  'NEAR',
  'NEAR(rust fuzz, 2)',
  'rust AND',
  'OR rust',
  'NOT NOT NOT',
  'a AND b OR c NOT d',
  '+rust',
  '{name}: rust',
  '[brackets]',
  'back\\slash',
  "'; DROP TABLE t; --",
  '🦀 rust 🦀',
  '🔥🔥🔥',
  '👩‍👩‍👧',
  '机器学习',
  '机器学习 模型',
  'データベース',
  '데이터베이스',
  'café crème',
  'cafe\u0301', // decomposed é
  '\u0301\u0301', // combining marks only
  'ÅNGSTRÖM',
  'Ⅻ ½ ²',
  '\u0000 nul \u0000',
  '\uFFFF\uFFFE',
  '\uD800 lone surrogate',
  'x'.repeat(5000),
  Array.from({ length: 500 }, (_, i) => `w${i}`).join(' '),
  'skill-creator',
  'cargo-fuzz libFuzzer AFL++',
  'p5.js',
  'a/b/c',
  'foo_bar',
  'how do i',
  '1.2.3',
  '#hashtag @mention $money %percent &amp',
  'C++ C# F#',
  '\\"escaped\\"',
];

describe('toFtsQuery on hostile input', () => {
  it.each(HOSTILE.map((s) => [JSON.stringify(s).slice(0, 60), s]))(
    '%s → null or a query FTS5 accepts',
    (_label, input) => {
      const q = toFtsQuery(input);
      if (q !== null) {
        expect(typeof q).toBe('string');
        expect(() => match.all(q)).not.toThrow();
      }
    },
  );

  it('returns null when there is no word to search', () => {
    for (const s of ['', '   ', '"', '-', '*', '()', '^:', '🔥🔥🔥', '\u0301\u0301', '#@$%&']) {
      expect(toFtsQuery(s)).toBeNull();
    }
  });

  it('treats operators and syntax as plain words', () => {
    expect(run('NEAR AND OR NOT')).toEqual(['near']);
    expect(run('column:filter')).toEqual(['near']);
    expect(run('"quoted')).toEqual(['near']);
  });

  it('ORs the words, so a document matching any of them is found and more matches rank first', () => {
    expect(run('create skills with cargo')?.sort()).toEqual(['fuzzing', 'skill-creator']);
    expect(run('fuzz rust crates')?.[0]).toBe('fuzzing');
  });

  it('keeps connected words as phrases and a trailing * as a prefix query', () => {
    expect(toFtsQuery('skill-creator')).toBe('"skill-creator"');
    expect(run('skill-creator')).toEqual(['skill-creator']);
    expect(toFtsQuery('fuzz*')).toBe('"fuzz"*');
    expect(run('fuzz*')).toEqual(['fuzzing']);
  });

  it('drops stopwords unless nothing else is left', () => {
    expect(toFtsQuery('how do I fuzz a crate')).toBe('"fuzz" OR "crate"');
    expect(toFtsQuery('how do i')).toBe('"how" OR "do" OR "i"');
  });

  it('matches accented text with or without the accents, composed or not', () => {
    expect(run('cafe creme')).toEqual(['machine-learning']);
    expect(run('cafe\u0301')).toEqual(['machine-learning']);
    expect(run('RÉSUMÉ')).toEqual(['machine-learning']);
  });

  it('searches CJK runs as prefixes, since the tokenizer does not segment them', () => {
    expect(toFtsQuery('机器学习')).toBe('"机器学习"*');
    expect(run('机器学习')).toEqual(['machine-learning']);
    expect(run('🦀 rust 🦀')).toEqual(['fuzzing']);
  });

  it('bounds the number of terms', () => {
    const q = toFtsQuery(Array.from({ length: 500 }, (_, i) => `w${i}`).join(' '));
    expect(q?.split(' OR ')).toHaveLength(32);
  });
});
