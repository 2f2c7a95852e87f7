import type Database from 'better-sqlite3';
import {
  filterPredicate,
  hasFilters,
  warningCodesOf,
  type FilterableSkill,
  type NormalizedFilters,
} from './filters.js';
import { ftsTerms, type FtsTerm } from './fts-query.js';
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

type Doc = FilterableSkill & { id: string };

/** Live skills in slots 0 … n − 1, column by column (a search touches thousands of them). */
interface Docs {
  slotOf: Map<number, number>;
  skills: Doc[];
  nameLen: Float64Array;
  descLen: Float64Array;
}

const NO_DOCS: Docs = {
  slotOf: new Map(),
  skills: [],
  nameLen: new Float64Array(0),
  descLen: new Float64Array(0),
};

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
  private docs = NO_DOCS;
  private avgNameLen = 1;
  private avgDescLen = 1;
  private dataVersion = -1;
  private readonly rows: Database.Statement;
  private readonly match: Database.Statement;
  private readonly inSnapshot: (terms: FtsTerm[], limit: number, filters: NormalizedFilters) => FtsHit[];

  constructor(private readonly db: Database.Database) {
    this.rows = db.prepare(
      `SELECT rowid, id, source_id AS sourceId, path, license, warnings, name, description
         FROM skills WHERE removed_at IS NULL`,
    );
    this.match = db.prepare(`SELECT rowid FROM skills_fts WHERE skills_fts MATCH ?`).pluck();
    // One read transaction: the lengths and every term's matches come from the same snapshot, and it ends
    // before search returns (a reader never pins the WAL between calls).
    this.inSnapshot = db.transaction((terms: FtsTerm[], limit: number, filters: NormalizedFilters) => {
      this.refresh();
      return this.rank(terms, limit, filters);
    });
  }

  private refresh(): void {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    type Row = Omit<FilterableSkill, 'warningCodes'> & {
      rowid: number;
      id: string;
      name: string;
      description: string;
      warnings: string;
    };
    const rows = this.rows.all() as Row[];
    const docs: Docs = {
      slotOf: new Map(),
      skills: [],
      nameLen: new Float64Array(rows.length),
      descLen: new Float64Array(rows.length),
    };
    let names = 0;
    let descs = 0;
    rows.forEach((r, slot) => {
      const { id, sourceId, path, license } = r;
      docs.slotOf.set(r.rowid, slot);
      docs.skills.push({ id, sourceId, path, license, warningCodes: warningCodesOf(r.warnings) });
      // A name is matched with its hyphens as word breaks (unicode61), so count it the same way.
      const nameLen = tokenCount(r.name);
      const descLen = tokenCount(r.description);
      docs.nameLen[slot] = nameLen;
      docs.descLen[slot] = descLen;
      names += nameLen;
      descs += descLen;
    });
    this.docs = docs;
    const n = rows.length;
    this.avgNameLen = n > 0 ? Math.max(names / n, 1) : 1;
    this.avgDescLen = n > 0 ? Math.max(descs / n, 1) : 1;
  }

  /** The best `limit` live skills for `userText` by name and description, best first; [] without a word. */
  search(userText: string, limit: number, filters: NormalizedFilters): FtsHit[] {
    const terms = ftsTerms(userText).filter((t) => !t.cjk);
    if (terms.length === 0) return [];
    return this.inSnapshot(terms, limit, filters);
  }

  /**
   * BM25F over the terms' matches, in typed arrays by slot: per term, one pass over its name matches and one
   * over its description matches (a common word matches thousands of skills at 20× the corpus).
   */
  private rank(terms: FtsTerm[], limit: number, filters: NormalizedFilters): FtsHit[] {
    const { name: wName, description: wDesc, b, k1 } = FIELD_BM25;
    const { slotOf, skills, nameLen, descLen } = this.docs;
    const n = skills.length;
    const score = new Float64Array(n);
    const scored: number[] = [];
    // tf of the current term per slot, set when the slot is first touched by the term; inName[slot] is the
    // term's stamp when its name matched.
    const tf = new Float64Array(n);
    const inName = new Int32Array(n);
    terms.forEach((t, i) => {
      const stamp = i + 1;
      const nameRows = this.match.all(`name : ${t.fts}`) as number[];
      const descRows = this.match.all(`description : ${t.fts}`) as number[];
      const touched: number[] = [];
      // Rows without a live skill still count towards the matches (as the idf always counted them).
      let orphans: Set<number> | undefined;
      let matched = nameRows.length;
      for (const rowid of nameRows) {
        const slot = slotOf.get(rowid);
        if (slot === undefined) {
          (orphans ??= new Set()).add(rowid);
          continue;
        }
        inName[slot] = stamp;
        tf[slot] = wName / (1 - b + (b * (nameLen[slot] as number)) / this.avgNameLen);
        touched.push(slot);
      }
      for (const rowid of descRows) {
        const slot = slotOf.get(rowid);
        if (slot === undefined) {
          if (!orphans?.has(rowid)) matched++;
          continue;
        }
        const d = wDesc / (1 - b + (b * (descLen[slot] as number)) / this.avgDescLen);
        if (inName[slot] === stamp) tf[slot] = (tf[slot] as number) + d;
        else {
          matched++;
          tf[slot] = d;
          touched.push(slot);
        }
      }
      if (matched === 0) return;
      const idf = Math.log(1 + (n - matched + 0.5) / (matched + 0.5));
      for (const slot of touched) {
        const f = tf[slot] as number;
        if (score[slot] === 0) scored.push(slot);
        score[slot] = (score[slot] as number) + (idf * f * (k1 + 1)) / (f + k1);
      }
    });
    const keep = hasFilters(filters) ? filterPredicate(filters) : undefined;
    const best = bestSlots(
      scored.filter((slot) => !keep || keep(skills[slot] as FilterableSkill)),
      limit,
      (x, y) =>
        (score[y] as number) - (score[x] as number) ||
        compareIds((skills[x] as Doc).id, (skills[y] as Doc).id),
    );
    // Negated like bm25 (lower is better), so callers can treat both alike.
    return best.map((slot) => ({ id: (skills[slot] as Doc).id, bm25: -(score[slot] as number) }));
  }
}

const compareIds = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);

/** The first `limit` items in `order`, in order, without sorting all of them (thousands, for a few dozen). */
function bestSlots(items: number[], limit: number, order: (x: number, y: number) => number): number[] {
  const out: number[] = [];
  for (const item of items) {
    if (out.length === limit && order(item, out[limit - 1] as number) >= 0) continue;
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order(out[mid] as number, item) <= 0) lo = mid + 1;
      else hi = mid;
    }
    out.splice(lo, 0, item);
    if (out.length > limit) out.pop();
  }
  return out;
}
