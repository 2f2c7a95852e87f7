import type Database from 'better-sqlite3';
import { FILTER_SQL, filterParams, type NormalizedFilters } from './filters.js';
import { CjkSearch } from './cjk-search.js';
import type { FtsHit } from './fts-hit.js';
import { toFtsQuery } from './fts-query.js';
import { reciprocalRankFusion } from './fusion.js';

/**
 * BM25 column weights for (name, description, body). A skill is found by what it is called and by the
 * description written to say when to use it; the body is long, mostly how-to, and matches many queries by accident.
 */
export const BM25_WEIGHTS = { name: 10, description: 5, body: 1 } as const;

/** Full-text search over live skills, filtered in SQL. One prepared statement, one short read per call. */
export class FtsSearch {
  private readonly stmt: Database.Statement;
  private readonly cjk: CjkSearch;

  constructor(db: Database.Database) {
    // skills_fts holds live skills only (its triggers drop tombstoned rows); the removed_at test guards a
    // file whose FTS table was rebuilt by hand.
    this.stmt = db.prepare(
      `SELECT s.id AS id, bm25(skills_fts, ${BM25_WEIGHTS.name}, ${BM25_WEIGHTS.description}, ${BM25_WEIGHTS.body}) AS bm25
         FROM skills_fts JOIN skills s ON s.rowid = skills_fts.rowid
        WHERE skills_fts MATCH @match AND s.removed_at IS NULL AND ${FILTER_SQL}
        ORDER BY bm25, s.id
        LIMIT @limit`,
    );
    this.cjk = new CjkSearch(db);
  }

  /**
   * The best `limit` live skills for the user's text; [] when the text holds no searchable word. Text with
   * CJK runs is also searched by character bigrams ({@link CjkSearch}), and the two rankings are fused.
   */
  search(userText: string, limit: number, filters: NormalizedFilters): FtsHit[] {
    const params = { limit, ...filterParams(filters) };
    const match = toFtsQuery(userText);
    const words = match === null ? [] : (this.stmt.all({ match, ...params }) as FtsHit[]);
    const pieces = this.cjk.search(userText, limit, filters);
    if (pieces.length === 0) return words;
    if (words.length === 0) return pieces;
    const bm25 = new Map([...pieces, ...words].map((h) => [h.id, h.bm25]));
    return reciprocalRankFusion([pieces.map((h) => h.id), words.map((h) => h.id)])
      .slice(0, limit)
      .map((f) => ({ id: f.id, bm25: bm25.get(f.id) ?? 0 }));
  }
}
