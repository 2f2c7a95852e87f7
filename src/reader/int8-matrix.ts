import { endianness } from 'node:os';
import { KERNEL_STEP, kernelsWithMemory, type Int8Kernels } from './int8-kernels.js';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Aligns a byte offset for SIMD loads. */
const align = (n: number): number => Math.ceil(n / 16) * 16;

/** What {@link Int8Matrix.scan} gives: row r's approximate dot product is `dots[r] × scales[r] × factor`. */
export interface Int8Scan {
  /** Exact integer dot products of each row's codes with the int16 query (a view, valid until the next scan). */
  dots: Int32Array;
  /** 1 ÷ the query's int16 scale. */
  factor: number;
  /**
   * Bound on |approximate − exact dot product| for every row: the rounding of the codes (≤ half a step, plus
   * float32 slack, per component) against the query's L1 norm, and the rounding of the query to int16.
   */
  errorBound: number;
}

/**
 * Row vectors as int8 codes with one float32 scale per row (vector ≈ scale × codes), held in one memory with
 * the scratch space of the kernels ({@link Int8Kernels}): a staging row for float32 input, the int16 query and
 * one int32 result per row. Rows are padded with zero codes to a multiple of 16 components.
 */
export class Int8Matrix {
  /** Components per row in memory (dim rounded up to a multiple of 16). */
  readonly stride: number;
  readonly codes: Int8Array;
  readonly scales: Float32Array;
  private readonly kernels: Int8Kernels;
  private readonly stage: Float32Array;
  private readonly stageBytes: Uint8Array;
  private readonly query: Int16Array;
  private readonly dots: Int32Array;
  private readonly at: { stage: number; query: number; dots: number; codes: number };

  /** Room for `capacity` rows of `dim` components; `js` forces the JavaScript kernels (tests). */
  constructor(
    readonly capacity: number,
    readonly dim: number,
    js = false,
  ) {
    this.stride = Math.max(KERNEL_STEP, Math.ceil(dim / KERNEL_STEP) * KERNEL_STEP);
    const stage = 0;
    const query = align(stage + this.stride * 4);
    const dots = align(query + this.stride * 2);
    const scales = align(dots + capacity * 4);
    const codes = align(scales + capacity * 4);
    const { buffer, kernels } = kernelsWithMemory(codes + capacity * this.stride, js);
    this.kernels = kernels;
    this.at = { stage, query, dots, codes };
    this.stage = new Float32Array(buffer, stage, this.stride);
    this.stageBytes = new Uint8Array(buffer, stage, dim * 4);
    this.query = new Int16Array(buffer, query, this.stride);
    this.dots = new Int32Array(buffer, dots, capacity);
    this.scales = new Float32Array(buffer, scales, capacity);
    this.codes = new Int8Array(buffer, codes, capacity * this.stride);
  }

  /** Quantizes a stored vector (the schema's BLOB: `dim` little-endian float32) into `row`. */
  setRow(row: number, blob: Uint8Array): void {
    if (LITTLE_ENDIAN_HOST) this.stageBytes.set(blob);
    else {
      const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
      for (let d = 0; d < this.dim; d++) this.stage[d] = view.getFloat32(d * 4, true);
    }
    const { stage, codes } = this.at;
    this.scales[row] = this.kernels.quantize(stage, codes + row * this.stride, this.stride);
  }

  /** Copies row `fromRow` of `from` (same dim) into `row`. */
  copyRow(row: number, from: Int8Matrix, fromRow: number): void {
    const s = this.stride;
    this.codes.set(from.codes.subarray(fromRow * s, (fromRow + 1) * s), row * s);
    this.scales[row] = from.scales[fromRow] as number;
  }

  /** Largest scale among the first `rows` rows (it bounds every row's rounding error). */
  maxScale(rows: number): number {
    let m = 0;
    for (let r = 0; r < rows; r++) m = Math.max(m, this.scales[r] as number);
    return m;
  }

  /** Row `row`'s approximate dot product with a float query (when its stored vector can no longer be read). */
  dotRow(row: number, query: Float32Array): number {
    const base = row * this.stride;
    let dot = 0;
    for (let d = 0; d < this.dim; d++) dot += (this.codes[base + d] as number) * (query[d] as number);
    return dot * (this.scales[row] as number);
  }

  /**
   * Approximate dot products of `query` with the first `rows` rows, in one kernel call. The query is scaled to
   * int16 so that no row's sum can leave int32 (|code| ≤ 127): at dim 512 it keeps the full ±32767.
   */
  scan(query: Float32Array, rows: number, maxScale: number): Int8Scan {
    let qMax = 0;
    let l1 = 0;
    for (let d = 0; d < this.dim; d++) {
      const a = Math.abs(query[d] as number);
      qMax = Math.max(qMax, a);
      l1 += a;
    }
    const top = Math.min(32767, Math.floor(0x7fffffff / (127 * this.stride)));
    const scale = qMax > 0 ? top / qMax : 0;
    let qError = 0;
    for (let d = 0; d < this.dim; d++) {
      const q = Math.round((query[d] as number) * scale);
      this.query[d] = q;
      qError += scale > 0 ? Math.abs(q / scale - (query[d] as number)) : 0;
    }
    this.kernels.scan(this.at.codes, rows, this.stride, this.at.query, this.at.dots);
    const factor = scale > 0 ? 1 / scale : 0;
    // Codes: |v − scale·code| ≤ scale × (½ + float32 slack) per component. Query: |code × scale| ≤ 127·scale.
    const errorBound = maxScale * (0.5001 * l1 + 127 * qError) + 1e-9;
    return { dots: this.dots.subarray(0, rows), factor, errorBound };
  }
}
