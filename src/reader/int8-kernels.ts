/**
 * The two hot loops of the vector side, as a WebAssembly SIMD module (no toolchain, no binary file: ~300 bytes
 * assembled at first use from the WAT-like text below):
 *
 * - `scan(codes, rows, stride, query, out)`: for each of `rows` int8 rows, Σ codes[d] × query[d] with an int16
 *   query, exactly, as one int32 per row (`i16x8.load8x8_s` + `i32x4.dot_i16x8_s`, 16 components a step);
 * - `quantize(src, dst, stride)`: one float32 vector → int8 codes, the largest |component| mapped to ±127 (f32
 *   arithmetic, round half to even), returning the scale (vector ≈ scale × codes).
 *
 * Why: the scan is N × dim multiply-adds on every vector search; in JavaScript it cost 21–30 ms of CPU per 29k
 * rows of 512 (int8 × float64 and int32 variants, unrolled or not, on a busy machine), in SIMD 2 ms on the same
 * machine. And WebAssembly is compiled when instantiated (Liftoff), so a one-shot CLI process quantizing the
 * whole index on its first search does not run that loop in the interpreter before the JIT catches up (~70 ms
 * of the 1× corpus's first load).
 *
 * `jsKernels` computes the same integers and the same scales in plain JavaScript: used on a big-endian host
 * (WebAssembly memory is little-endian, JavaScript views use the host's order) or without WebAssembly SIMD, and
 * by the tests to check the module against it.
 */

/** Both kernels, over one memory (`buffer`): pointers are byte offsets into it. */
export interface Int8Kernels {
  scan(codes: number, rows: number, stride: number, query: number, out: number): void;
  quantize(src: number, dst: number, stride: number): number;
}

/** Rows and vectors are padded to a multiple of this many components (one SIMD step of both kernels). */
export const KERNEL_STEP = 16;

// ---- a minimal WebAssembly assembler: the instructions the two functions below use, in WAT's names -------

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
};
const utf8 = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

/** An instruction's opcode bytes, and the immediate that follows it in the text (if any). */
type Op = [bytes: number[], immediate?: 'u32' | 's32' | 'f32' | 'lane' | { align: number }];
/** SIMD opcodes: prefix 0xfd, then the opcode as LEB128. */
const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const OPS: Record<string, Op> = {
  'local.get': [[0x20], 'u32'],
  'local.set': [[0x21], 'u32'],
  'local.tee': [[0x22], 'u32'],
  'i32.const': [[0x41], 's32'],
  'f32.const': [[0x43], 'f32'],
  loop: [[0x03, 0x40]],
  end: [[0x0b]],
  br_if: [[0x0d], 'u32'],
  return: [[0x0f]],
  select: [[0x1b]],
  'i32.store': [[0x36], { align: 2 }],
  'i32.eqz': [[0x45]],
  'i32.lt_u': [[0x49]],
  'f32.gt': [[0x5e]],
  'i32.add': [[0x6a]],
  'i32.mul': [[0x6c]],
  'f32.div': [[0x95]],
  'f32.max': [[0x97]],
  'v128.load': [simd(0x00), { align: 4 }],
  'i16x8.load8x8_s': [simd(0x01), { align: 3 }],
  'v128.store': [simd(0x0b), { align: 4 }],
  'v128.zero': [[...simd(0x0c), ...new Array<number>(16).fill(0)]], // v128.const 0
  'f32x4.splat': [simd(0x13)],
  'i32x4.extract_lane': [simd(0x1b), 'lane'],
  'f32x4.extract_lane': [simd(0x1f), 'lane'],
  'i8x16.narrow_i16x8_s': [simd(0x65)],
  'f32x4.nearest': [simd(0x6a)],
  'i16x8.narrow_i32x4_s': [simd(0x85)],
  'i32x4.add': [simd(0xae)],
  'i32x4.dot_i16x8_s': [simd(0xba)],
  'f32x4.abs': [simd(0xe0)],
  'f32x4.mul': [simd(0xe6)],
  'f32x4.max': [simd(0xe9)],
  'i32x4.trunc_sat_f32x4_s': [simd(0xf8)],
};

/** Encodes a function body written in WAT's flat syntax (`;;` comments; memory immediates are offsets). */
export function assemble(text: string): number[] {
  const words = text
    .replace(/;;[^\n]*/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
  const out: number[] = [];
  for (let i = 0; i < words.length; i++) {
    const op = OPS[words[i] as string];
    if (!op) throw new Error(`int8 kernels: unknown instruction ${words[i]}`);
    out.push(...op[0]);
    const imm = op[1];
    if (imm === undefined) continue;
    const arg = Number(words[++i]);
    if (!Number.isFinite(arg)) throw new Error(`int8 kernels: ${words[i - 1]} needs a number`);
    if (imm === 'u32') out.push(...uleb(arg));
    else if (imm === 's32') out.push(...sleb(arg));
    else if (imm === 'f32') out.push(...new Uint8Array(new Float32Array([arg]).buffer));
    else if (imm === 'lane') out.push(arg);
    else out.push(imm.align, ...uleb(arg));
  }
  return out;
}

/**
 * scan(codes, rows, stride, query, out): for each row, `acc` gathers 16 products a step in 4 lanes, and the
 * lanes' sum is stored at `out`. The caller scales the int16 query so that no sum leaves int32.
 */
const SCAN = `
  ;; params 0 codes, 1 rows, 2 stride, 3 query, 4 out; locals 5 p, 6 rowEnd, 7 q, 8 acc (v128), 9 end
  local.get 1  i32.eqz  br_if 0                                      ;; no rows: return
  local.get 0  local.set 5                                           ;; p = codes
  local.get 0  local.get 1  local.get 2  i32.mul  i32.add  local.set 9  ;; end = codes + rows × stride
  loop                                                               ;; each row
    v128.zero  local.set 8
    local.get 3  local.set 7
    local.get 5  local.get 2  i32.add  local.set 6
    loop                                                             ;; 16 components a step
      local.get 8
      local.get 5  i16x8.load8x8_s 0  local.get 7  v128.load 0   i32x4.dot_i16x8_s  i32x4.add
      local.get 5  i16x8.load8x8_s 8  local.get 7  v128.load 16  i32x4.dot_i16x8_s  i32x4.add
      local.set 8
      local.get 7  i32.const 32  i32.add  local.set 7
      local.get 5  i32.const 16  i32.add  local.tee 5  local.get 6  i32.lt_u  br_if 0
    end
    local.get 4                                                      ;; *out = the lanes' sum
    local.get 8  i32x4.extract_lane 0  local.get 8  i32x4.extract_lane 1  i32.add
    local.get 8  i32x4.extract_lane 2  i32.add  local.get 8  i32x4.extract_lane 3  i32.add
    i32.store 0
    local.get 4  i32.const 4  i32.add  local.set 4
    local.get 5  local.get 9  i32.lt_u  br_if 0
  end
  end`;

/**
 * quantize(src, dst, stride) → scale. First pass: m, the largest |component|. Second pass, 16 components a
 * step: × 127/m, rounded to nearest (ties to even), narrowed i32 → i16 → i8 with saturation, stored at `dst`.
 */
const QUANTIZE = `
  ;; params 0 src, 1 dst, 2 stride; locals 3 p, 4 end, 5 acc (v128), 6 m (f32), 7 inv (v128)
  local.get 0  local.set 3
  local.get 0  local.get 2  i32.const 4  i32.mul  i32.add  local.set 4  ;; end = src + stride × 4
  v128.zero  local.set 5
  loop
    local.get 5  local.get 3  v128.load 0  f32x4.abs  f32x4.max  local.set 5
    local.get 3  i32.const 16  i32.add  local.tee 3  local.get 4  i32.lt_u  br_if 0
  end
  local.get 5  f32x4.extract_lane 0  local.get 5  f32x4.extract_lane 1  f32.max
  local.get 5  f32x4.extract_lane 2  local.get 5  f32x4.extract_lane 3  f32.max  f32.max  local.set 6
  f32.const 127  local.get 6  f32.div  f32.const 0  local.get 6  f32.const 0  f32.gt  select  ;; m > 0 ? 127/m : 0
  f32x4.splat  local.set 7
  local.get 0  local.set 3
  loop
    local.get 1
    local.get 3  v128.load 0   local.get 7  f32x4.mul  f32x4.nearest  i32x4.trunc_sat_f32x4_s
    local.get 3  v128.load 16  local.get 7  f32x4.mul  f32x4.nearest  i32x4.trunc_sat_f32x4_s
    i16x8.narrow_i32x4_s
    local.get 3  v128.load 32  local.get 7  f32x4.mul  f32x4.nearest  i32x4.trunc_sat_f32x4_s
    local.get 3  v128.load 48  local.get 7  f32x4.mul  f32x4.nearest  i32x4.trunc_sat_f32x4_s
    i16x8.narrow_i32x4_s
    i8x16.narrow_i16x8_s
    v128.store 0
    local.get 1  i32.const 16  i32.add  local.set 1
    local.get 3  i32.const 64  i32.add  local.tee 3  local.get 4  i32.lt_u  br_if 0
  end
  local.get 6  f32.const 127  f32.div  return
  end`;

/** The module: imports `env.memory`, exports `scan` (type 0) and `quantize` (type 1). */
export function kernelModuleBytes(): Uint8Array {
  const body = (locals: number[][], code: string): number[] => {
    const bytes = [...vec(locals), ...assemble(code)];
    return [...uleb(bytes.length), ...bytes];
  };
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(
      1,
      vec([
        [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), 0],
        [0x60, ...vec([[I32], [I32], [I32]]), 1, F32],
      ]),
    ),
    ...section(2, vec([[...utf8('env'), ...utf8('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vec([[0], [1]])),
    ...section(
      7,
      vec([
        [...utf8('scan'), 0x00, 0],
        [...utf8('quantize'), 0x00, 1],
      ]),
    ),
    ...section(
      10,
      vec([
        body(
          [
            [3, I32],
            [1, V128],
            [1, I32],
          ],
          SCAN,
        ),
        body(
          [
            [2, I32],
            [1, V128],
            [1, F32],
            [1, V128],
          ],
          QUANTIZE,
        ),
      ]),
    ),
  ]);
}

/** The few WebAssembly APIs used here (the project's TypeScript libs declare none: they come with the DOM's). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Memory: new (descriptor: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is missing or the host is big-endian. */
function kernelModule(): object | null {
  if (compiled !== undefined) return compiled;
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const bytes = kernelModuleBytes();
  compiled = littleEndian && wasm !== undefined && wasm.validate(bytes) ? new wasm.Module(bytes) : null;
  return compiled;
}

/** Round half to even, like `f32x4.nearest` (Math.round rounds halves up). */
function nearestEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/** The same kernels in JavaScript, over an ArrayBuffer: identical integers and scales (see the tests). */
export function jsKernels(buffer: ArrayBuffer): Int8Kernels {
  const i8 = new Int8Array(buffer);
  const i16 = new Int16Array(buffer);
  const i32 = new Int32Array(buffer);
  const f32 = new Float32Array(buffer);
  return {
    scan(codes, rows, stride, query, out) {
      const q = query >> 1;
      for (let r = 0; r < rows; r++) {
        const base = codes + r * stride;
        let sum = 0;
        for (let d = 0; d < stride; d++) sum += (i8[base + d] as number) * (i16[q + d] as number);
        i32[(out >> 2) + r] = sum;
      }
    },
    quantize(src, dst, stride) {
      const s = src >> 2;
      let m = 0;
      for (let d = 0; d < stride; d++) m = Math.max(m, Math.abs(f32[s + d] as number));
      const inv = m > 0 ? Math.fround(127 / m) : 0;
      for (let d = 0; d < stride; d++) {
        const code = nearestEven(Math.fround((f32[s + d] as number) * inv));
        i8[dst + d] = Math.max(-128, Math.min(127, code));
      }
      return Math.fround(m / 127);
    },
  };
}

/**
 * A memory of `bytes` bytes (rounded up to whole 64 KiB pages) and the kernels over it: WebAssembly when the
 * host can, else {@link jsKernels} (or when `js` is set, as the tests do).
 */
export function kernelsWithMemory(bytes: number, js = false): { buffer: ArrayBuffer; kernels: Int8Kernels } {
  const module = js ? null : kernelModule();
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  if (!module || !wasm) {
    const buffer = new ArrayBuffer(pages * 65536);
    return { buffer, kernels: jsKernels(buffer) };
  }
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const instance = new wasm.Instance(module, { env: { memory } });
  return { buffer: memory.buffer, kernels: instance.exports as unknown as Int8Kernels };
}
