import type Database from 'better-sqlite3';
import {
  filterPredicate,
  hasFilters,
  warningCodesOf,
  type FilterableSkill,
  type NormalizedFilters,
} from './filters.js';
import type { FtsHit } from './fts-hit.js';

const CJK_RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+/gu;
const MAX_QUERY_BIGRAMS = 64;

/** The distinct 2-character pieces of the CJK runs of a text (a 1-character run counts as itself). */
export function cjkBigrams(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.normalize('NFC').matchAll(CJK_RUN)) {
    const run = [...m[0]];
    if (run.length === 1) out.add(run[0] as string);
    for (let i = 0; i + 2 <= run.length; i++) out.add(`${run[i]}${run[i + 1]}`);
  }
  return out;
}

interface Doc extends FilterableSkill {
  id: string;
  bigrams: Set<string>;
}

/**
 * Search for Chinese, Japanese and Korean text. SQLite's unicode61 tokenizer keeps a run of CJK characters
 * as one token, so FTS5 can only match whole runs, and a query almost never repeats a document's run
 * exactly. Overlapping character bigrams are the classic fix (as in Lucene's CJK analyzer): a skill scores
 * the IDF-weighted sum of the query bigrams its name and description contain.
 *
 * It works in memory over the name and description of live skills that contain CJK text (a few hundred of
 * the corpus's 1,467), rebuilt when another connection commits (`PRAGMA data_version`), so the schema needs
 * no extra index and the writer pays nothing.
 */
export class CjkSearch {
  private docs: Doc[] = [];
  private df = new Map<string, number>();
  private dataVersion = -1;
  private readonly rows: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.rows = db.prepare(
      `SELECT id, source_id AS sourceId, path, license, warnings, name || ' ' || description AS text
         FROM skills WHERE removed_at IS NULL`,
    );
  }

  private refresh(): void {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (version === this.dataVersion) return;
    this.db.transaction(() => {
      this.dataVersion = this.db.pragma('data_version', { simple: true }) as number;
      const docs: Doc[] = [];
      const df = new Map<string, number>();
      type Row = Omit<FilterableSkill, 'warningCodes'> & { id: string; text: string; warnings: string };
      for (const r of this.rows.iterate() as Iterable<Row>) {
        const bigrams = cjkBigrams(r.text);
        if (bigrams.size === 0) continue;
        const { id, sourceId, path, license } = r;
        docs.push({ id, sourceId, path, license, warningCodes: warningCodesOf(r.warnings), bigrams });
        for (const b of bigrams) df.set(b, (df.get(b) ?? 0) + 1);
      }
      this.docs = docs;
      this.df = df;
    })();
  }

  /** The best `limit` skills for the CJK part of `userText`, best first; [] when it has none. */
  search(userText: string, limit: number, filters: NormalizedFilters): FtsHit[] {
    const query = [...cjkBigrams(userText)].slice(0, MAX_QUERY_BIGRAMS);
    if (query.length === 0) return [];
    this.refresh();
    const n = this.docs.length;
    const weights = query.map((b) => [b, Math.log(1 + n / (this.df.get(b) ?? n + 1))] as const);
    const keep = hasFilters(filters) ? filterPredicate(filters) : undefined;
    const hits: FtsHit[] = [];
    for (const doc of this.docs) {
      if (keep && !keep(doc)) continue;
      let score = 0;
      for (const [b, w] of weights) if (doc.bigrams.has(b)) score += w;
      // Negated like bm25 (lower is better), so callers can treat both alike.
      if (score > 0) hits.push({ id: doc.id, bm25: -score });
    }
    hits.sort((a, b) => a.bm25 - b.bm25 || (a.id < b.id ? -1 : 1));
    return hits.slice(0, limit);
  }
}
