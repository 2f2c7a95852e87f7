import { endianness } from 'node:os';
import type Database from 'better-sqlite3';
import {
  filterPredicate,
  hasFilters,
  warningCodesOf,
  type FilterableSkill,
  type NormalizedFilters,
} from './filters.js';
import type { IndexModel } from './types.js';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** One vector hit: cosine similarity (the stored vectors and the query are unit length). */
export interface VectorHit {
  id: string;
  score: number;
}

interface SkillMeta extends FilterableSkill {
  id: string;
}

/**
 * Exact nearest-neighbour search over one model's vectors, kept in memory as one Float32Array (rows × dim).
 *
 * Freshness: `PRAGMA data_version` changes whenever another connection commits; the matrix is reloaded on the
 * first search after that, so a reader kept open for days sees every new batch and never returns a tombstoned
 * skill. The load is one short read transaction (never held between calls: that would pin the WAL).
 * Reloads are incremental (see {@link VectorSearch.refresh}): a commit costs a metadata scan plus the vectors it
 * added or changed, not a reload of every vector.
 *
 * Cost: the scan is N × dim multiply-adds, ~0.55 µs per 512-d row on one core here (Node 20): ~6 ms per 10k
 * skills, ~55 ms per 100k (plus the query embedding, ~1–2 ms). The 1,467-skill corpus scans in < 1 ms. An ANN
 * index (HNSW: hnswlib-node, sqlite-vec …) becomes worth its build time and recall loss around 100k vectors, or
 * earlier if the latency budget is below the scan time.
 */
export class VectorSearch {
  private dataVersion: number | undefined;
  private matrix = new Float32Array(0);
  /** For each matrix row, the index of its skill in `skills` (a skill may own several chunk rows). */
  private rowSkill = new Int32Array(0);
  private skills: SkillMeta[] = [];
  /** `skill_id\0chunk` → [text_hash, matrix row], to reuse unchanged vectors on reload. */
  private rowOf = new Map<string, [string, number]>();
  private readonly metaStmt: Database.Statement;
  private readonly vectorStmt: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    readonly model: IndexModel,
  ) {
    // The covering index gives (skill, chunk, text_hash) without touching the 2 KB vector rows; only vectors
    // that are new or whose text changed are then read one by one.
    this.metaStmt = db.prepare(
      `SELECT e.skill_id AS id, e.chunk AS chunk, e.text_hash AS textHash, s.source_id AS sourceId, s.path AS path,
              s.license AS license, s.warnings AS warnings
         FROM skill_embeddings e INDEXED BY skill_embeddings_skill JOIN skills s ON s.id = e.skill_id
        WHERE e.model_id = ? AND e.dim = ? AND s.removed_at IS NULL
        ORDER BY e.skill_id, e.chunk`,
    );
    this.vectorStmt = db
      .prepare(`SELECT vector FROM skill_embeddings WHERE skill_id = ? AND model_id = ? AND chunk = ?`)
      .pluck();
  }

  /** Rows currently loaded (vectors, not skills). */
  get size(): number {
    return this.rowSkill.length;
  }

  /**
   * Brings the matrix up to date if another connection committed since the last load. Incremental: the
   * metadata of every live vector is scanned (a few ms for the corpus), unchanged vectors are copied from the
   * old matrix, and only new or re-embedded ones are read. A reader open during a re-index therefore pays
   * for what the writer changed, not for the whole index, on the first search after each commit.
   */
  refresh(): void {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (version === this.dataVersion) return;
    const { dim, id: modelId } = this.model;
    this.db.transaction(() => {
      // Read the version inside the same snapshot as the rows, so a commit racing the load forces a reload.
      this.dataVersion = this.db.pragma('data_version', { simple: true }) as number;
      const meta = this.metaStmt.all(modelId, dim) as (Omit<SkillMeta, 'warningCodes'> & {
        chunk: number;
        textHash: string;
        warnings: string;
      })[];
      const matrix = new Float32Array(meta.length * dim);
      const rowSkill = new Int32Array(meta.length);
      const skills: SkillMeta[] = [];
      const rowOf = new Map<string, [string, number]>();
      let row = 0;
      for (const r of meta) {
        const key = `${r.id}\0${r.chunk}`;
        const old = this.rowOf.get(key);
        if (old && old[0] === r.textHash) {
          matrix.set(this.matrix.subarray(old[1] * dim, (old[1] + 1) * dim), row * dim);
        } else {
          const blob = this.vectorStmt.get(r.id, modelId, r.chunk) as Buffer | undefined;
          if (!blob || blob.byteLength !== dim * 4) continue;
          if (LITTLE_ENDIAN_HOST) new Uint8Array(matrix.buffer).set(blob, row * dim * 4);
          else {
            const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
            for (let d = 0; d < dim; d++) matrix[row * dim + d] = view.getFloat32(d * 4, true);
          }
        }
        if (skills.at(-1)?.id !== r.id) {
          const { id, sourceId, path, license } = r;
          skills.push({ id, sourceId, path, license, warningCodes: warningCodesOf(r.warnings) });
        }
        rowSkill[row] = skills.length - 1;
        rowOf.set(key, [r.textHash, row]);
        row++;
      }
      this.matrix = matrix.subarray(0, row * dim);
      this.rowSkill = rowSkill.subarray(0, row);
      this.skills = skills;
      this.rowOf = rowOf;
    })();
  }

  /** The `limit` skills most similar to `query` (unit length, `model.dim` long), best first; one hit per skill. */
  search(query: Float32Array, limit: number, filters: NormalizedFilters): VectorHit[] {
    this.refresh();
    const { dim } = this.model;
    if (query.length !== dim) throw new Error(`query vector has dim ${query.length}, index has ${dim}`);
    const keep = hasFilters(filters) ? filterPredicate(filters) : undefined;
    const allowed = keep && this.skills.map((s) => keep(s));
    const best = new Float64Array(this.skills.length).fill(-Infinity);
    const m = this.matrix;
    const rows = this.rowSkill.length;
    for (let r = 0; r < rows; r++) {
      const s = this.rowSkill[r] as number;
      if (allowed && !allowed[s]) continue;
      let dot = 0;
      const base = r * dim;
      for (let d = 0; d < dim; d++) dot += (m[base + d] as number) * (query[d] as number);
      if (dot > (best[s] as number)) best[s] = dot;
    }
    return topK(best, limit).map((s) => ({ id: (this.skills[s] as SkillMeta).id, score: best[s] as number }));
  }
}

/** Indices of the `limit` highest finite scores, best first (ties: lower index, i.e. skill id order). */
function topK(scores: Float64Array, limit: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i] as number;
    if (v === -Infinity) continue;
    if (out.length === limit && v <= (scores[out[out.length - 1] as number] as number)) continue;
    // Binary search for the insertion point in the descending list (after equal scores: stable).
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((scores[out[mid] as number] as number) >= v) lo = mid + 1;
      else hi = mid;
    }
    out.splice(lo, 0, i);
    if (out.length > limit) out.pop();
  }
  return out;
}
