import type Database from 'better-sqlite3';
import {
  filterPredicate,
  hasFilters,
  warningCodesOf,
  type FilterableSkill,
  type NormalizedFilters,
} from './filters.js';
import { ftsTerms } from './fts-query.js';
import type { FtsHit } from './fts-hit.js';

/**
 * BM25F settings of {@link FieldSearch}: field weights, per-field length normalisation (b) and term
 * saturation (k1, the usual 1.2). Name and description weigh the same: with a separate length normalisation
 * per field, a name word already counts for more because names are a few words long.
 */
export const FIELD_BM25 = { name: 1, description: 1, b: 0.75, k1: 1.2 } as const;

/** Words as unicode61 counts them, closely enough for a length ratio (it also splits on the connectors). */
const TOKEN = /[\p{L}\p{N}][\p{L}\p{N}\p{M}]*/gu;
const tokenCount = (text: string): number => text.match(TOKEN)?.length ?? 0;

interface Doc extends FilterableSkill {
  id: string;
  nameLen: number;
  descLen: number;
}

/**
 * Full-text search over the name and description alone, each length-normalised on its own (BM25F).
 *
 * Why it exists beside {@link FtsSearch}: FTS5's bm25() normalises by the length of the whole row, so a skill
 * with a 5,000-word body has its name and description matches discounted many times over against a skill with a
 * short body, whatever the column weights. The name and description are written to say what a skill is and when
 * to use it, so a match there should not depend on how long the instructions below are. Hybrid search fuses this
 * list with the whole-row list and the vector list (docs/search-quality.md has the numbers).
 *
 * Matching uses skills_fts itself (one `name : "term"` and one `description : "term"` MATCH per query term), so
 * stemming and tokenization are exactly the index's; term frequency is taken as 0/1 per field, because FTS5 gives
 * per-column counts only to auxiliary functions, and in a one-line name or a short description a term rarely
 * repeats. Field lengths are counted here, in memory, and reloaded when another connection commits
 * (`PRAGMA data_version`), like {@link CjkSearch}: the schema needs nothing extra and the writer pays nothing.
 * Terms with CJK/Hangul are left out: unicode61 keeps CJK runs whole, CjkSearch handles them.
 */
export class FieldSearch {
  private docs = new Map<number, Doc>();
  private avgNameLen = 1;
  private avgDescLen = 1;
  private dataVersion = -1;
  private readonly rows: Database.Statement;
  private readonly match: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.rows = db.prepare(
      `SELECT rowid, id, source_id AS sourceId, path, license, warnings, name, description
         FROM skills WHERE removed_at IS NULL`,
    );
    this.match = db.prepare(`SELECT rowid FROM skills_fts WHERE skills_fts MATCH ?`).pluck();
  }

  private refresh(): void {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    const docs = new Map<number, Doc>();
    let names = 0;
    let descs = 0;
    type Row = Omit<FilterableSkill, 'warningCodes'> & {
      rowid: number;
      id: string;
      name: string;
      description: string;
      warnings: string;
    };
    for (const r of this.rows.iterate() as Iterable<Row>) {
      // A name is matched with its hyphens as word breaks (unicode61), so count it the same way.
      const doc = {
        id: r.id,
        sourceId: r.sourceId,
        path: r.path,
        license: r.license,
        warningCodes: warningCodesOf(r.warnings),
        nameLen: tokenCount(r.name),
        descLen: tokenCount(r.description),
      };
      docs.set(r.rowid, doc);
      names += doc.nameLen;
      descs += doc.descLen;
    }
    this.docs = docs;
    this.avgNameLen = docs.size > 0 ? Math.max(names / docs.size, 1) : 1;
    this.avgDescLen = docs.size > 0 ? Math.max(descs / docs.size, 1) : 1;
  }

  /** The best `limit` live skills for `userText` by name and description, best first; [] without a word. */
  search(userText: string, limit: number, filters: NormalizedFilters): FtsHit[] {
    const terms = ftsTerms(userText).filter((t) => !t.cjk);
    if (terms.length === 0) return [];
    // One read transaction: the lengths and every term's matches come from the same snapshot, and it ends
    // before this call returns (a reader never pins the WAL between calls).
    return this.db.transaction(() => {
      this.refresh();
      const { name: wName, description: wDesc, b, k1 } = FIELD_BM25;
      const n = this.docs.size;
      const keep = hasFilters(filters) ? filterPredicate(filters) : undefined;
      const scores = new Map<number, number>();
      for (const t of terms) {
        const inName = new Set(this.match.all(`name : ${t.fts}`) as number[]);
        const inDesc = new Set(this.match.all(`description : ${t.fts}`) as number[]);
        const matched = new Set([...inName, ...inDesc]);
        if (matched.size === 0) continue;
        const idf = Math.log(1 + (n - matched.size + 0.5) / (matched.size + 0.5));
        for (const rowid of matched) {
          const doc = this.docs.get(rowid);
          if (!doc) continue;
          let tf = 0;
          if (inName.has(rowid)) tf += wName / (1 - b + (b * doc.nameLen) / this.avgNameLen);
          if (inDesc.has(rowid)) tf += wDesc / (1 - b + (b * doc.descLen) / this.avgDescLen);
          scores.set(rowid, (scores.get(rowid) ?? 0) + (idf * tf * (k1 + 1)) / (tf + k1));
        }
      }
      const hits: FtsHit[] = [];
      for (const [rowid, score] of scores) {
        const doc = this.docs.get(rowid) as Doc;
        if (keep && !keep(doc)) continue;
        // Negated like bm25 (lower is better), so callers can treat both alike.
        hits.push({ id: doc.id, bm25: -score });
      }
      hits.sort((x, y) => x.bm25 - y.bm25 || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
      return hits.slice(0, limit);
    })();
  }
}
