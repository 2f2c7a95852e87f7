/**
 * Dynamic int8 quantization of an ONNX model, done on the graph we build (no Python, no onnxruntime tooling).
 *
 * Every `MatMul` (and `Gemm` without transposes or scaling) whose right-hand side is a 2-D float32 initializer
 * [K, N] becomes the pattern onnxruntime's own `quantize_dynamic` writes, which its graph optimizer fuses into
 * one integer kernel (MatMulIntegerToFloat) that runs on AVX2/VNNI:
 *
 *   x ─DynamicQuantizeLinear─▶ x_q (u8), x_scale, x_zero ─MatMulInteger(x_q, W_q s8, x_zero, 0)─▶ int32
 *     ─Cast─▶ float ─Mul(x_scale · w_scale[N])─▶ y            (Gemm: + its bias C)
 *
 * Weights are quantized per output channel and symmetric: w_scale[n] = max_k |W[k,n]| / 63 (7 bits: see
 * {@link WEIGHT_QMAX}), zero point 0.
 * Activations are quantized at run time per tensor (asymmetric u8). Everything else — the embedding table,
 * layer norms, softmax, the attention products of two activations — stays float32.
 */
import { DataType, int, type OnnxTypes } from './onnx-graph.js';

/** What {@link quantizeMatMulWeights} changed, for logs and tests. */
export interface QuantizeReport {
  /** Nodes rewritten to integer matrix products. */
  quantized: number;
  /** MatMul/Gemm nodes left in float32 (both operands are activations, or an unsupported Gemm). */
  skipped: number;
}

/**
 * Largest weight magnitude after quantization: 7 bits, not 8. On AVX2 without VNNI, onnxruntime multiplies u8
 * activations by s8 weights with VPMADDUBSW, which adds two products into a saturating int16: 255·127·2
 * overflows it, 255·63·2 does not. Measured over the corpus (2-core AMD EPYC, AVX2 only): full-range weights
 * gave cosine to float32 mean 0.982 / min 0.921, 7-bit weights 0.998 / 0.996 at the same speed (u8 weights avoid
 * the overflow too, but run at about 0.75× the speed). The same choice as onnxruntime's `reduce_range`.
 */
export const WEIGHT_QMAX = 63;

/** Float32 values of an initializer stored as raw little-endian bytes (how our builder writes them). */
function floatData(t: OnnxTypes.ITensorProto): Float32Array {
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    // Copy: raw bytes may not be 4-byte aligned inside their buffer.
    return new Float32Array(new Uint8Array(raw).buffer.slice(0));
  }
  if (t.floatData && t.floatData.length > 0) return Float32Array.from(t.floatData);
  throw new Error(`initializer ${t.name} has no float data`);
}

/** Per-column symmetric int8: the quantized [K, N] matrix and one scale per column. */
export function quantizePerColumn(
  w: Float32Array,
  rows: number,
  cols: number,
  qmax = WEIGHT_QMAX,
): { q: Int8Array; scales: Float32Array } {
  const scales = new Float32Array(cols);
  for (let k = 0; k < rows; k++) {
    for (let n = 0; n < cols; n++) {
      const a = Math.abs(w[k * cols + n]!);
      if (a > scales[n]!) scales[n] = a;
    }
  }
  // A column of zeros gets scale 1 (any scale represents it exactly) rather than a division by zero.
  for (let n = 0; n < cols; n++) scales[n] = scales[n]! > 0 ? scales[n]! / qmax : 1;
  const q = new Int8Array(rows * cols);
  for (let i = 0; i < q.length; i++) {
    const v = Math.round(w[i]! / scales[i % cols]!);
    q[i] = v > qmax ? qmax : v < -qmax ? -qmax : v;
  }
  return { q, scales };
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function attr(node: OnnxTypes.INodeProto, name: string): OnnxTypes.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/** A Gemm we can treat as `A·B + C`: no transposes, alpha and beta 1. */
function isPlainGemm(node: OnnxTypes.INodeProto): boolean {
  const transA = Number(attr(node, 'transA')?.i ?? 0);
  const transB = Number(attr(node, 'transB')?.i ?? 0);
  const alpha = attr(node, 'alpha')?.f ?? 1;
  const beta = attr(node, 'beta')?.f ?? 1;
  return transA === 0 && transB === 0 && alpha === 1 && beta === 1;
}

/**
 * Returns a copy of `model` with its weight matrix products quantized to int8 (see the file comment). The input
 * is not modified. Inputs, outputs and every other node are unchanged, so the result is a drop-in replacement.
 */
export function quantizeMatMulWeights(model: OnnxTypes.IModelProto): {
  model: OnnxTypes.IModelProto;
  report: QuantizeReport;
} {
  const graph = model.graph;
  if (!graph) throw new Error('model has no graph');
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const nodes: OnnxTypes.INodeProto[] = [];
  const newInits: OnnxTypes.ITensorProto[] = [];
  const quantizedWeights = new Map<string, { q: string; scale: string; zero: string }>();
  const report: QuantizeReport = { quantized: 0, skipped: 0 };

  /** The int8 copy of a weight, made once even if several nodes share it. */
  const quantizedWeight = (
    name: string,
    t: OnnxTypes.ITensorProto,
  ): { q: string; scale: string; zero: string } => {
    const done = quantizedWeights.get(name);
    if (done) return done;
    const [rows, cols] = (t.dims ?? []).map(Number) as [number, number];
    const { q, scales } = quantizePerColumn(floatData(t), rows, cols);
    const names = { q: `${name}_quantized`, scale: `${name}_scale`, zero: `${name}_zero_point` };
    newInits.push(
      { name: names.q, dataType: DataType.INT8, dims: [rows, cols], rawData: bytesOf(q) },
      { name: names.scale, dataType: DataType.FLOAT, dims: [cols], rawData: bytesOf(scales) },
      { name: names.zero, dataType: DataType.INT8, dims: [cols], rawData: new Uint8Array(cols) },
    );
    quantizedWeights.set(name, names);
    return names;
  };

  for (const node of graph.node ?? []) {
    const isMatMul = node.opType === 'MatMul';
    const isGemm = node.opType === 'Gemm';
    if (!isMatMul && !isGemm) {
      nodes.push(node);
      continue;
    }
    const [a, bName, c] = node.input ?? [];
    const w = bName === undefined ? undefined : inits.get(bName);
    const quantizable =
      a !== undefined &&
      w !== undefined &&
      w.dataType === DataType.FLOAT &&
      w.dims?.length === 2 &&
      (isMatMul || isPlainGemm(node));
    if (!quantizable) {
      report.skipped++;
      nodes.push(node);
      continue;
    }
    const base = node.name || `${node.opType}_${report.quantized}`;
    const out = node.output?.[0];
    if (!out) throw new Error(`${base} has no output`);
    const qw = quantizedWeight(bName!, w);
    const [xq, xScale, xZero] = [`${base}_x_quantized`, `${base}_x_scale`, `${base}_x_zero_point`];
    const [acc, accF, scale] = [`${base}_int32`, `${base}_int32_float`, `${base}_scale`];
    const product = isGemm && c ? `${base}_product` : out;
    nodes.push(
      { opType: 'DynamicQuantizeLinear', name: `${base}_quant`, input: [a], output: [xq, xScale, xZero] },
      {
        opType: 'MatMulInteger',
        name: `${base}_MatMulInteger`,
        input: [xq, qw.q, xZero, qw.zero],
        output: [acc],
      },
      {
        opType: 'Cast',
        name: `${base}_cast`,
        input: [acc],
        output: [accF],
        attribute: [{ name: 'to', ...int(DataType.FLOAT) }],
      },
      { opType: 'Mul', name: `${base}_scales_mul`, input: [xScale, qw.scale], output: [scale] },
      { opType: 'Mul', name: `${base}_output_scale_mul`, input: [accF, scale], output: [product] },
    );
    if (product !== out)
      nodes.push({ opType: 'Add', name: `${base}_bias`, input: [product, c!], output: [out] });
    report.quantized++;
  }

  // Drop float weights no node reads any more; keep everything else in its original order.
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  const initializer = [...(graph.initializer ?? []).filter((t) => used.has(t.name ?? '')), ...newInits];
  return {
    model: { ...model, graph: { ...graph, node: nodes, initializer } },
    report,
  };
}
