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

/**
 * Matches ranked before the join with `skills`: at least this many, and 4 × the hits asked for. The join reads
 * one `skills` row per match (~10 µs each), and an OR query of a few common words matches most skills (~20k of
 * 29k at 20× the corpus): ranking first and joining the best few hundred is 4–5× faster there. When filters or
 * a tie at the window's edge leave the window short, the full query runs instead, so results never differ.
 */
const RANK_WINDOW_MIN = 200;
const RANK_WINDOW_FACTOR = 4;

/** Full-text search over live skills, filtered in SQL: one short read per call. */
export class FtsSearch {
  private readonly stmt: Database.Statement;
  private readonly windowed: Database.Statement;
  private readonly cjk: CjkSearch;

  constructor(private readonly db: Database.Database) {
    // skills_fts holds live skills only (its triggers drop tombstoned rows); the removed_at test guards a
    // file whose FTS table was rebuilt by hand.
    this.stmt = db.prepare(
      `SELECT s.id AS id, bm25(skills_fts, ${BM25_WEIGHTS.name}, ${BM25_WEIGHTS.description}, ${BM25_WEIGHTS.body}) AS bm25
         FROM skills_fts JOIN skills s ON s.rowid = skills_fts.rowid
        WHERE skills_fts MATCH @match AND s.removed_at IS NULL AND ${FILTER_SQL}
        ORDER BY bm25, s.id
        LIMIT @limit`,
    );
    // The same ranking over the best @window matches only; n and worst say whether the window held every
    // match, or where it was cut.
    this.windowed = db.prepare(
      `SELECT s.id AS id, f.bm25 AS bm25, f.n AS n, f.worst AS worst
         FROM (SELECT rowid, bm25, count(*) OVER () AS n, max(bm25) OVER () AS worst
                 FROM (SELECT rowid, bm25(skills_fts, ${BM25_WEIGHTS.name}, ${BM25_WEIGHTS.description}, ${BM25_WEIGHTS.body}) AS bm25
                         FROM skills_fts WHERE skills_fts MATCH @match ORDER BY bm25 LIMIT @window)) f
         JOIN skills s ON s.rowid = f.rowid
        WHERE s.removed_at IS NULL AND ${FILTER_SQL}
        ORDER BY f.bm25, s.id
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
    const words = match === null ? [] : this.words(match, params);
    const pieces = this.cjk.search(userText, limit, filters);
    if (pieces.length === 0) return words;
    if (words.length === 0) return pieces;
    const bm25 = new Map([...pieces, ...words].map((h) => [h.id, h.bm25]));
    return reciprocalRankFusion([pieces.map((h) => h.id), words.map((h) => h.id)])
      .slice(0, limit)
      .map((f) => ({ id: f.id, bm25: bm25.get(f.id) ?? 0 }));
  }

  /** The best `limit` word matches: from the ranked window when it settles them, else from the full query. */
  private words(match: string, params: { limit: number } & Record<string, unknown>): FtsHit[] {
    const window = Math.max(RANK_WINDOW_MIN, params.limit * RANK_WINDOW_FACTOR);
    // One snapshot for both statements, ended before returning (a reader never pins the WAL between calls).
    return this.db.transaction(() => {
      const rows = this.windowed.all({ match, window, ...params }) as (FtsHit & {
        n: number;
        worst: number;
      })[];
      const first = rows[0];
      const last = rows.at(-1);
      // Settled: the window held every match, or the last hit kept ranks strictly before every match outside it.
      const settled =
        first !== undefined &&
        last !== undefined &&
        (first.n < window || (rows.length === params.limit && last.bm25 < first.worst));
      if (settled) return rows.map((r) => ({ id: r.id, bm25: r.bm25 }));
      return this.stmt.all({ match, ...params }) as FtsHit[];
    })();
  }
}
