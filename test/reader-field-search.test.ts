import { afterAll, describe, expect, it } from 'vitest';
import { FieldSearch } from '../src/reader/field-search.js';
import { normalizeFilters } from '../src/reader/filters.js';
import { ftsTerms } from '../src/reader/fts-query.js';
import { tempDir } from './helpers.js';
import { smallIndex } from './support/small-index.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const none = normalizeFilters(undefined);

describe('name + description search (BM25F)', () => {
  it('ranks a description match first however long the body is, and ignores body-only matches', () => {
    const db = smallIndex(tmp.dir, [
      {
        id: 'long',
        name: 'cargo-fuzz',
        description: 'Fuzz Rust crates to find crashes.',
        body: 'step '.repeat(5000),
      },
      { id: 'short', name: 'rust-tips', description: 'Tips for writing Rust.', body: 'fuzz crashes' },
      { id: 'body-only', name: 'misc', description: 'Unrelated helper.', body: 'fuzz rust crashes' },
    ]);
    // Whole-row bm25 divides by the row's length: the 5,000-word body buries the best description match.
    const wholeRow = db
      .prepare(
        `SELECT s.id FROM skills_fts JOIN skills s ON s.rowid = skills_fts.rowid
          WHERE skills_fts MATCH '"fuzz" OR "rust" OR "crashes"' ORDER BY bm25(skills_fts, 10, 5, 1)`,
      )
      .pluck()
      .all();
    expect(wholeRow[0]).not.toBe('long');

    const search = new FieldSearch(db);
    const hits = search.search('fuzz a rust crate until it crashes', 10, none);
    expect(hits.map((h) => h.id)).toEqual(['long', 'short']);
    expect(hits[0]?.bm25).toBeLessThan(hits[1]?.bm25 ?? 0);
    db.close();
  });

  it('returns nothing for CJK-only or wordless queries, and applies filters', () => {
    const db = smallIndex(tmp.dir, [
      { id: 'pdf', name: 'pdf', description: 'Extract text from PDF files.', body: '' },
    ]);
    const search = new FieldSearch(db);
    expect(search.search('pdf text', 10, none).map((h) => h.id)).toEqual(['pdf']);
    expect(search.search('提取文本', 10, none)).toEqual([]);
    expect(search.search('🚀 !!', 10, none)).toEqual([]);
    expect(search.search('pdf', 10, normalizeFilters({ sourceId: 'other' }))).toEqual([]);
    db.close();
  });

  it('splits a query into quoted FTS5 terms and marks the CJK ones', () => {
    expect(ftsTerms('Fuzz the 机器学习 crate*')).toEqual([
      { fts: '"fuzz"', cjk: false },
      { fts: '"机器学习"*', cjk: true },
      { fts: '"crate"*', cjk: false },
    ]);
    expect(ftsTerms('')).toEqual([]);
  });
});
