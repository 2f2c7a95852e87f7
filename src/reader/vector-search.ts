import { endianness } from 'node:os';
import type Database from 'better-sqlite3';
import {
  filterPredicate,
  hasFilters,
  warningCodesOf,
  type FilterableSkill,
  type NormalizedFilters,
} from './filters.js';
import { Int8Matrix } from './int8-matrix.js';
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
 * The rerank's window: the best max(64, 4 × the hits asked for) skills of the int8 scan; the hits are the exact
 * top among them. int8 rounding moves a cosine by ~0.001 while the 10th and the 64th hit of a query are ~0.05
 * apart, so the exact top 10 is always among them (recall@10 against the exact scan: `npm run bench`, 20×
 * section). The rerank reads the window best first and stops as soon as the scan's error bound shows that no
 * candidate left can enter the hits: ~70 reads instead of 200 for 50 hits at 29k skills, same hits.
 */
const RERANK_MIN = 64;
const RERANK_FACTOR = 4;

/**
 * A reload that must read at least this share of the vectors reads all of them in one scan of the table
 * (~3× cheaper per vector than one lookup each): every first load, and a re-embed of most of the index.
 */
const BULK_READ_SHARE = 1 / 8;

/** One live vector's metadata, in the load's order (by skill, then chunk). */
type MetaRow = Omit<SkillMeta, 'warningCodes'> & { chunk: number; textHash: string; warnings: string };

/**
 * Nearest-neighbour search over one model's vectors, kept in memory as int8 codes with one scale per row
 * (vector ≈ scale × codes: a quarter of the float32 matrix, 15 MB instead of 60 MB at 29k skills), scanned in
 * full (a WebAssembly SIMD kernel, `int8-kernels.ts`), then the best candidates re-scored exactly from their
 * float32 vectors in the database: the scores and the order returned are those of the exact cosine.
 *
 * Freshness: `PRAGMA data_version` changes whenever another connection commits; the matrix is reloaded on the
 * first search after that, so a reader kept open for days sees every new batch and never returns a tombstoned
 * skill. The load is one short read transaction (never held between calls: that would pin the WAL).
 * Reloads are incremental (see {@link VectorSearch.refresh}): a commit costs a metadata scan plus the vectors it
 * added or changed, not a reload of every vector. The rerank reads a few dozen vectors by primary key, each
 * its own short read.
 *
 * Cost at 29k skills (measured on a busy 2-core machine): the scan ~2 ms, the rerank ~70 reads by primary key
 * for 50 hits, plus the query embedding (~2 ms); the scan grows with N × dim. An ANN index (HNSW: hnswlib-node,
 * sqlite-vec …) becomes worth its build time and recall loss well past 100k vectors.
 */
export class VectorSearch {
  private dataVersion: number | undefined;
  /** Row r's vector ≈ scales[r] × codes of row r; only the first `size` rows are live. */
  private matrix: Int8Matrix;
  /** Largest row scale: bounds the scan's rounding error ({@link Int8Matrix.scan}). */
  private maxScale = 0;
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
  private readonly allVectorsStmt: Database.Statement;
  /** One vector decoded from its BLOB (an aligned copy: BLOB offsets need not be multiples of 4). */
  private readonly scratch: Float32Array;

  constructor(
    private readonly db: Database.Database,
    readonly model: IndexModel,
  ) {
    // The covering index gives (skill, chunk, text_hash) without touching the 2 KB vector rows; only vectors
    // that are new or whose text changed are then read.
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
    // `+model_id`: scan the table in its own order (sequential pages) rather than through the text-hash index
    // (one random lookup per vector, ~4× slower at 29k).
    this.allVectorsStmt = db
      .prepare(`SELECT skill_id AS id, chunk, vector FROM skill_embeddings WHERE +model_id = ? AND dim = ?`)
      .raw();
    this.scratch = new Float32Array(model.dim);
    this.matrix = new Int8Matrix(0, model.dim);
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
   * old matrix, and only new or re-embedded vectors are read and quantized (one lookup each, or one scan of
   * the table when they are many, as on the first load). A reader open during a re-index therefore pays for
   * what the writer changed, not for the whole index, on the first search after each commit.
   */
  refresh(): void {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (version === this.dataVersion) return;
    const { dim, id: modelId } = this.model;
    this.db.transaction(() => {
      // Read the version inside the same snapshot as the rows, so a commit racing the load forces a reload.
      this.dataVersion = this.db.pragma('data_version', { simple: true }) as number;
      const meta = this.metaStmt.all(modelId, dim) as MetaRow[];
      const matrix = new Int8Matrix(meta.length, dim);
      // Row i of the new matrix is meta[i] until the end, where rows that could not be read are dropped.
      const loaded = new Uint8Array(meta.length);
      const toRead = new Map<string, number>();
      meta.forEach((r, i) => {
        const key = `${r.id}\0${r.chunk}`;
        const old = this.rowOf.get(key);
        if (old && old[0] === r.textHash) {
          matrix.copyRow(i, this.matrix, old[1]);
          loaded[i] = 1;
        } else toRead.set(key, i);
      });
      const blobOk = (blob: unknown): blob is Buffer =>
        blob instanceof Uint8Array && blob.byteLength === dim * 4;
      if (toRead.size > 0 && toRead.size >= meta.length * BULK_READ_SHARE) {
        for (const [id, chunk, blob] of this.allVectorsStmt.iterate(modelId, dim) as Iterable<
          [string, number, unknown]
        >) {
          const i = toRead.get(`${id}\0${chunk}`);
          if (i === undefined || !blobOk(blob)) continue;
          matrix.setRow(i, blob);
          loaded[i] = 1;
        }
      } else {
        for (const i of toRead.values()) {
          const r = meta[i] as MetaRow;
          const blob = this.vectorStmt.get(r.id, modelId, r.chunk);
          if (!blobOk(blob)) continue;
          matrix.setRow(i, blob);
          loaded[i] = 1;
        }
      }
      this.install(meta, matrix, loaded);
    })();
  }

  /** Makes the loaded rows of `matrix` the live ones (moving rows up over any that could not be read). */
  private install(meta: MetaRow[], matrix: Int8Matrix, loaded: Uint8Array): void {
    const rowSkill = new Int32Array(meta.length);
    const rowChunk = new Int32Array(meta.length);
    const skillStart: number[] = [];
    const skills: SkillMeta[] = [];
    const rowOf = new Map<string, [string, number]>();
    let row = 0;
    meta.forEach((r, i) => {
      if (!loaded[i]) return;
      if (row !== i) matrix.copyRow(row, matrix, i);
      if (skills.at(-1)?.id !== r.id) {
        const { id, sourceId, path, license } = r;
        skills.push({ id, sourceId, path, license, warningCodes: warningCodesOf(r.warnings) });
        skillStart.push(row);
      }
      rowSkill[row] = skills.length - 1;
      rowChunk[row] = r.chunk;
      rowOf.set(`${r.id}\0${r.chunk}`, [r.textHash, row]);
      row++;
    });
    skillStart.push(row);
    this.matrix = matrix;
    this.maxScale = matrix.maxScale(row);
    this.rowSkill = rowSkill.subarray(0, row);
    this.rowChunk = rowChunk.subarray(0, row);
    this.skillStart = Int32Array.from(skillStart);
    this.skills = skills;
    this.rowOf = rowOf;
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
    const rows = this.rowSkill.length;
    const { dots, factor, errorBound } = this.matrix.scan(query, rows, this.maxScale);
    const scales = this.matrix.scales;
    for (let r = 0; r < rows; r++) {
      const s = this.rowSkill[r] as number;
      if (allowed && !allowed[s]) continue;
      const dot = (dots[r] as number) * (scales[r] as number) * factor;
      if (dot > (approx[s] as number)) approx[s] = dot;
    }
    // 2. Exact cosine of every row of the best candidates, from the stored float32 vectors, best candidate
    // first, until no candidate left can reach the hits: its exact score is at most its approximate one plus
    // errorBound, and it would need strictly more than the limit-th exact score found (ties go to the lower
    // skill index, i.e. the better approximate rank, already read). The hits are those of reading them all.
    const candidates = topK(approx, Math.max(RERANK_MIN, limit * RERANK_FACTOR));
    const exact = new Float64Array(this.skills.length).fill(-Infinity);
    const best = new MinHeap(limit);
    for (const s of candidates) {
      if (best.full && (approx[s] as number) + errorBound < best.min) break;
      exact[s] = this.exactScore(s, query);
      best.push(exact[s] as number);
    }
    return topK(exact, limit).map((s) => ({
      id: (this.skills[s] as SkillMeta).id,
      score: exact[s] as number,
    }));
  }

  /** Skill s's exact score: the best cosine of its rows, each read from the database. */
  private exactScore(s: number, query: Float32Array): number {
    const { dim } = this.model;
    const skill = this.skills[s] as SkillMeta;
    const v = this.scratch;
    let best = -Infinity;
    for (let r = this.skillStart[s] as number; r < (this.skillStart[s + 1] as number); r++) {
      let dot = 0;
      if (this.readVector(skill.id, this.rowChunk[r] as number)) {
        for (let d = 0; d < dim; d++) dot += (v[d] as number) * (query[d] as number);
      } else {
        // Deleted or re-embedded since the load: the row's int8 score stands until the next refresh.
        dot = this.matrix.dotRow(r, query);
      }
      if (dot > best) best = dot;
    }
    return best;
  }
}

/** The `size` largest numbers pushed so far, as a binary min-heap: `min` is the size-th largest once full. */
class MinHeap {
  private readonly heap: Float64Array;
  private n = 0;

  constructor(private readonly size: number) {
    this.heap = new Float64Array(Math.max(size, 1));
  }

  get full(): boolean {
    return this.n >= this.size;
  }

  get min(): number {
    return this.heap[0] as number;
  }

  push(x: number): void {
    const h = this.heap;
    if (this.n < this.size) {
      let i = this.n++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if ((h[p] as number) <= x) break;
        h[i] = h[p] as number;
        i = p;
      }
      h[i] = x;
      return;
    }
    if (this.size === 0 || x <= (h[0] as number)) return;
    // Replace the minimum and sift down.
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.n) break;
      const c = l + 1 < this.n && (h[l + 1] as number) < (h[l] as number) ? l + 1 : l;
      if ((h[c] as number) >= x) break;
      h[i] = h[c] as number;
      i = c;
    }
    h[i] = x;
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
