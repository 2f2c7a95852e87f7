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
 * Candidates the int8 scan hands to the exact rerank: at least this many, and at least 4 × the hits asked for.
 * int8 rounding moves a cosine by ~0.001 while the 10th and the 64th hit of a query are ~0.05 apart, so the
 * exact top 10 is always among them (recall@10 against the exact scan: `npm run bench`, 20× section).
 */
const RERANK_MIN = 64;
const RERANK_FACTOR = 4;

/**
 * Nearest-neighbour search over one model's vectors, kept in memory as int8 codes with one scale per row
 * (vector ≈ scale × codes: a quarter of the float32 matrix, 15 MB instead of 60 MB at 29k skills), scanned in
 * full, then the best candidates re-scored exactly from their float32 vectors in the database: the scores and
 * the order returned are those of the exact cosine.
 *
 * Freshness: `PRAGMA data_version` changes whenever another connection commits; the matrix is reloaded on the
 * first search after that, so a reader kept open for days sees every new batch and never returns a tombstoned
 * skill. The load is one short read transaction (never held between calls: that would pin the WAL).
 * Reloads are incremental (see {@link VectorSearch.refresh}): a commit costs a metadata scan plus the vectors it
 * added or changed, not a reload of every vector. The rerank reads a few dozen vectors by primary key, each
 * its own short read.
 *
 * Cost: the scan is N × dim multiply-adds, ~0.5 µs per 512-d row on one core (Node 20): ~15 ms at 29k skills,
 * ~50 ms per 100k, plus ~0.5 ms of rerank reads and the query embedding (~1–2 ms). An ANN index (HNSW:
 * hnswlib-node, sqlite-vec …) becomes worth its build time and recall loss around 100k vectors, or earlier if
 * the latency budget is below the scan time.
 */
export class VectorSearch {
  private dataVersion: number | undefined;
  /** Row r's vector ≈ scales[r] × codes[r·dim … (r+1)·dim). */
  private codes = new Int8Array(0);
  private scales = new Float32Array(0);
  /** For each row, the index of its skill in `skills` (a skill may own several chunk rows), and its chunk. */
  private rowSkill = new Int32Array(0);
  private rowChunk = new Int32Array(0);
  /** Rows of skill s are skillStart[s] … skillStart[s + 1] − 1 (the load orders rows by skill). */
  private skillStart = new Int32Array(1);
  private skills: SkillMeta[] = [];
  /** `skill_id\0chunk` → [text_hash, row], to reuse unchanged rows on reload. */
  private rowOf = new Map<string, [string, number]>();
  private readonly metaStmt: Database.Statement;
  private readonly vectorStmt: Database.Statement;
  /** One vector decoded from its BLOB (an aligned copy: BLOB offsets need not be multiples of 4). */
  private readonly scratch: Float32Array;

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
    this.scratch = new Float32Array(model.dim);
  }

  /** Rows currently loaded (vectors, not skills). */
  get size(): number {
    return this.rowSkill.length;
  }

  /** The stored float32 vector of a row, decoded into `scratch`; false when it is gone or malformed. */
  private readVector(skillId: string, chunk: number): boolean {
    const { dim, id: modelId } = this.model;
    const blob = this.vectorStmt.get(skillId, modelId, chunk) as Buffer | undefined;
    if (!blob || blob.byteLength !== dim * 4) return false;
    if (LITTLE_ENDIAN_HOST) new Uint8Array(this.scratch.buffer).set(blob);
    else {
      const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
      for (let d = 0; d < dim; d++) this.scratch[d] = view.getFloat32(d * 4, true);
    }
    return true;
  }

  /**
   * Brings the matrix up to date if another connection committed since the last load. Incremental: the
   * metadata of every live vector is scanned (a few ms for the corpus), unchanged rows are copied from the
   * old matrix, and only new or re-embedded vectors are read and quantized. A reader open during a re-index
   * therefore pays for what the writer changed, not for the whole index, on the first search after each commit.
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
      const codes = new Int8Array(meta.length * dim);
      const scales = new Float32Array(meta.length);
      const rowSkill = new Int32Array(meta.length);
      const rowChunk = new Int32Array(meta.length);
      const skillStart: number[] = [];
      const skills: SkillMeta[] = [];
      const rowOf = new Map<string, [string, number]>();
      const v = this.scratch;
      let row = 0;
      for (const r of meta) {
        const key = `${r.id}\0${r.chunk}`;
        const old = this.rowOf.get(key);
        if (old && old[0] === r.textHash) {
          codes.set(this.codes.subarray(old[1] * dim, (old[1] + 1) * dim), row * dim);
          scales[row] = this.scales[old[1]] as number;
        } else {
          if (!this.readVector(r.id, r.chunk)) continue;
          // Symmetric per-row quantization: the largest |component| maps to ±127.
          let maxAbs = 0;
          for (let d = 0; d < dim; d++) maxAbs = Math.max(maxAbs, Math.abs(v[d] as number));
          const scale = maxAbs / 127;
          const inv = scale > 0 ? 1 / scale : 0;
          for (let d = 0; d < dim; d++) codes[row * dim + d] = Math.round((v[d] as number) * inv);
          scales[row] = scale;
        }
        if (skills.at(-1)?.id !== r.id) {
          const { id, sourceId, path, license } = r;
          skills.push({ id, sourceId, path, license, warningCodes: warningCodesOf(r.warnings) });
          skillStart.push(row);
        }
        rowSkill[row] = skills.length - 1;
        rowChunk[row] = r.chunk;
        rowOf.set(key, [r.textHash, row]);
        row++;
      }
      skillStart.push(row);
      this.codes = codes.subarray(0, row * dim);
      this.scales = scales.subarray(0, row);
      this.rowSkill = rowSkill.subarray(0, row);
      this.rowChunk = rowChunk.subarray(0, row);
      this.skillStart = Int32Array.from(skillStart);
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
    // 1. Approximate scores from the int8 codes, best row per skill.
    const approx = new Float64Array(this.skills.length).fill(-Infinity);
    const c = this.codes;
    const rows = this.rowSkill.length;
    for (let r = 0; r < rows; r++) {
      const s = this.rowSkill[r] as number;
      if (allowed && !allowed[s]) continue;
      let dot = 0;
      const base = r * dim;
      for (let d = 0; d < dim; d++) dot += (c[base + d] as number) * (query[d] as number);
      dot *= this.scales[r] as number;
      if (dot > (approx[s] as number)) approx[s] = dot;
    }
    // 2. Exact cosine of every row of the best candidates, from the stored float32 vectors.
    const candidates = topK(approx, Math.max(RERANK_MIN, limit * RERANK_FACTOR));
    const exact = new Float64Array(this.skills.length).fill(-Infinity);
    const v = this.scratch;
    for (const s of candidates) {
      const skill = this.skills[s] as SkillMeta;
      for (let r = this.skillStart[s] as number; r < (this.skillStart[s + 1] as number); r++) {
        let dot = 0;
        if (this.readVector(skill.id, this.rowChunk[r] as number)) {
          for (let d = 0; d < dim; d++) dot += (v[d] as number) * (query[d] as number);
        } else {
          // Deleted or re-embedded since the load: the row's int8 score stands until the next refresh.
          const base = r * dim;
          for (let d = 0; d < dim; d++) dot += (c[base + d] as number) * (query[d] as number);
          dot *= this.scales[r] as number;
        }
        if (dot > (exact[s] as number)) exact[s] = dot;
      }
    }
    return topK(exact, limit).map((s) => ({
      id: (this.skills[s] as SkillMeta).id,
      score: exact[s] as number,
    }));
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
