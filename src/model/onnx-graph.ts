/**
 * A small ONNX graph writer over onnx-proto: constants, nodes and value infos, for the graphs this project
 * builds itself (the USE-lite model and its int8 variant).
 */
// onnx-proto is CommonJS with `module.exports = $root`: Node's ESM loader cannot see named exports in it, so
// `import { onnx } from 'onnx-proto'` type-checks but fails at runtime. Take the namespace off the default export.
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

export const { onnx } = onnxProto;
export type { OnnxTypes };
export const DataType = onnx.TensorProto.DataType;
const AttrType = onnx.AttributeProto.AttributeType;

export type Attribute = Omit<OnnxTypes.IAttributeProto, 'name'>;
export const int = (i: number): Attribute => ({ type: AttrType.INT, i });
export const float = (f: number): Attribute => ({ type: AttrType.FLOAT, f });
export const ints = (values: number[]): Attribute => ({ type: AttrType.INTS, ints: values });

/** Accumulates nodes and initializers; every helper returns the name of the tensor it produced. */
export class GraphBuilder {
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

/** A graph input or output declaration: element type and shape (strings are symbolic dimensions). */
export function tensorInfo(
  name: string,
  elemType: number,
  dims: (string | number)[],
): OnnxTypes.IValueInfoProto {
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

/** Serialise a model to the bytes of a `.onnx` file. */
export function encodeModel(model: OnnxTypes.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}
