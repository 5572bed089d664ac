/**
 * Weights of an ONNX model, read straight from the file (ModelProto → GraphProto → initializer
 * TensorProtos, and Constant nodes). Field numbers are onnx.proto3's:
 * https://github.com/onnx/onnx/blob/main/onnx/onnx.proto
 */
import { readFile } from 'node:fs/promises';
import { FacesenseError, ModelError } from '../core/errors.js';
import { protoFields, utf8, varints, WIRE_BYTES, WIRE_FIXED32, WIRE_FIXED64, type ProtoField } from './protobuf.js';

/** A float tensor: `dims` in ONNX order (Conv weights: out, in, kH, kW), data row-major. */
export interface FloatTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Tensor attributes (Constant nodes' `value`), still encoded. */
  readonly tensorAttributes: ReadonlyMap<string, Uint8Array>;
}

export interface OnnxGraph {
  readonly source: string;
  /** Graph input names that are not initializers: the model's real inputs. */
  readonly inputs: readonly string[];
  readonly nodes: readonly OnnxNode[];
  /** Initializer name → encoded TensorProto (decoded on demand by `tensor`). */
  readonly initializers: ReadonlyMap<string, Uint8Array>;
}

// ONNX TensorProto.DataType values we can read.
const FLOAT = 1;
const FLOAT16 = 10;
const DOUBLE = 11;
const DATA_TYPE_NAMES: Readonly<Record<number, string>> = { 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool', 16: 'bfloat16' };

function sub(fields: Iterable<ProtoField>, no: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of fields) if (f.no === no && f.wire === WIRE_BYTES) out.push(f.bytes);
  return out;
}

/** Reads the graph of an ONNX model file's bytes. */
export function parseOnnxGraph(bytes: Uint8Array, source: string): OnnxGraph {
  const model = [...protoFields(bytes, source)];
  const graphs = sub(model, 7); // ModelProto.graph
  const graphBytes = graphs[graphs.length - 1];
  if (graphBytes === undefined) throw new ModelError('MODEL_INVALID', 'not an ONNX model: no graph (ModelProto field 7) in the file', { source });
  const nodes: OnnxNode[] = [];
  const initializers = new Map<string, Uint8Array>();
  const declaredInputs: string[] = [];
  for (const f of protoFields(graphBytes, source)) {
    if (f.wire !== WIRE_BYTES) continue;
    if (f.no === 1) nodes.push(parseNode(f.bytes, source));
    else if (f.no === 5) initializers.set(tensorName(f.bytes, source), f.bytes);
    else if (f.no === 11) declaredInputs.push(valueInfoName(f.bytes, source));
  }
  return { source, inputs: declaredInputs.filter((n) => !initializers.has(n)), nodes, initializers };
}

function parseNode(bytes: Uint8Array, source: string): OnnxNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const tensorAttributes = new Map<string, Uint8Array>();
  let name = '';
  let opType = '';
  for (const f of protoFields(bytes, source)) {
    if (f.no === 1) inputs.push(utf8(f, source));
    else if (f.no === 2) outputs.push(utf8(f, source));
    else if (f.no === 3) name = utf8(f, source);
    else if (f.no === 4) opType = utf8(f, source);
    else if (f.no === 5 && f.wire === WIRE_BYTES) {
      // AttributeProto: name = 1, t = 5 (a tensor)
      let attr = '';
      let t: Uint8Array | undefined;
      for (const a of protoFields(f.bytes, source)) {
        if (a.no === 1) attr = utf8(a, source);
        else if (a.no === 5 && a.wire === WIRE_BYTES) t = a.bytes;
      }
      if (t !== undefined) tensorAttributes.set(attr, t);
    }
  }
  return { name, opType, inputs, outputs, tensorAttributes };
}

function tensorName(bytes: Uint8Array, source: string): string {
  for (const f of protoFields(bytes, source)) if (f.no === 8) return utf8(f, source);
  return '';
}

function valueInfoName(bytes: Uint8Array, source: string): string {
  for (const f of protoFields(bytes, source)) if (f.no === 1) return utf8(f, source);
  return '';
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Infinity : Number.NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Decodes an encoded TensorProto of float, float16 or double values into float32. */
export function decodeTensor(bytes: Uint8Array, source: string): FloatTensor {
  const dims: number[] = [];
  let dataType = 0;
  let name = '';
  let raw: Uint8Array | undefined;
  let external = false;
  const values: number[] = [];
  const halves: number[] = [];
  for (const f of protoFields(bytes, source)) {
    switch (f.no) {
      case 1:
        dims.push(...varints(f, source));
        break;
      case 2:
        dataType = varints(f, source)[0] ?? 0;
        break;
      case 4: // float_data: packed fixed32 (or one fixed32 per field); float16 values sit in int32_data (5)
      case 10: // double_data
        if (f.wire === WIRE_BYTES || f.wire === WIRE_FIXED32 || f.wire === WIRE_FIXED64) {
          const dv = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
          const step = f.no === 4 ? 4 : 8;
          for (let o = 0; o + step <= f.bytes.byteLength; o += step) values.push(step === 4 ? dv.getFloat32(o, true) : dv.getFloat64(o, true));
        }
        break;
      case 5: // int32_data: where float16 values are kept as bit patterns
        halves.push(...varints(f, source));
        break;
      case 8:
        name = utf8(f, source);
        break;
      case 9:
        if (f.wire === WIRE_BYTES) raw = f.bytes;
        break;
      case 14:
        external = (varints(f, source)[0] ?? 0) === 1;
        break;
    }
  }
  const what = `tensor "${name}"`;
  if (external) throw new ModelError('MODEL_INVALID', `${what} keeps its data in an external file, which is not supported; save the model with its weights inside (onnx.save(..., save_as_external_data=False))`, { source });
  if (dataType !== FLOAT && dataType !== FLOAT16 && dataType !== DOUBLE) {
    throw new ModelError('MODEL_INVALID', `${what} has data type ${DATA_TYPE_NAMES[dataType] ?? dataType}; only float, float16 and double weights can be read`, { source });
  }
  const n = dims.reduce((a, b) => a * b, 1);
  let data: Float32Array;
  if (raw !== undefined) {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const step = dataType === FLOAT ? 4 : dataType === DOUBLE ? 8 : 2;
    if (raw.byteLength !== n * step) throw new ModelError('MODEL_INVALID', `${what}: shape [${dims.join(', ')}] needs ${n * step} bytes of raw data, it has ${raw.byteLength}`, { source });
    data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = step === 4 ? dv.getFloat32(4 * i, true) : step === 8 ? dv.getFloat64(8 * i, true) : halfToFloat(dv.getUint16(2 * i, true));
  } else {
    if (dataType === FLOAT16) values.push(...halves.map(halfToFloat));
    if (values.length !== n) throw new ModelError('MODEL_INVALID', `${what}: shape [${dims.join(', ')}] needs ${n} values, it has ${values.length}`, { source });
    data = Float32Array.from(values);
  }
  return { name, dims, data };
}

/** The tensor a node input names, if it is a constant: an initializer, or a Constant node's value. */
export function constantTensor(graph: OnnxGraph, name: string): FloatTensor | undefined {
  const init = graph.initializers.get(name);
  if (init !== undefined) return { ...decodeTensor(init, graph.source), name };
  const node = graph.nodes.find((n) => n.opType === 'Constant' && n.outputs.includes(name));
  const value = node?.tensorAttributes.get('value');
  return value === undefined ? undefined : { ...decodeTensor(value, graph.source), name };
}

/** The weight of a model's first convolution, and the node it belongs to. */
export interface ConvWeight extends FloatTensor {
  readonly node: string;
}

/**
 * The first convolution's weight (dims out × in × kH × kW): a Conv reading a graph input (the image)
 * when there is one, else the first Conv in graph order (ONNX graphs are topologically sorted).
 */
export function firstConvWeight(graph: OnnxGraph): ConvWeight {
  const convs = graph.nodes.filter((n) => n.opType === 'Conv' && n.inputs.length >= 2);
  const conv = convs.find((n) => graph.inputs.includes(n.inputs[0]!)) ?? convs[0];
  if (conv === undefined) throw new ModelError('MODEL_INVALID', `the model has no Conv node (ops: ${[...new Set(graph.nodes.map((n) => n.opType))].join(', ') || 'none'})`, { source: graph.source });
  const w = constantTensor(graph, conv.inputs[1]!);
  if (w === undefined) throw new ModelError('MODEL_INVALID', `the weight "${conv.inputs[1]}" of Conv "${conv.name}" is computed, not stored; cannot read its filters`, { source: graph.source });
  if (w.dims.length !== 4) throw new ModelError('MODEL_INVALID', `the weight of Conv "${conv.name}" has shape [${w.dims.join(', ')}], expected 4 dims (out, in, kH, kW)`, { source: graph.source });
  return { ...w, node: conv.name };
}

/** Reads a model file and returns its first convolution's weight. */
export async function readFirstConvWeight(path: string): Promise<ConvWeight> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new FacesenseError(code === 'ENOENT' ? 'MODEL_NOT_FOUND' : 'INPUT_UNREADABLE', `cannot read the model file (${code ?? String(cause)})`, { source: path, cause });
  }
  return firstConvWeight(parseOnnxGraph(bytes, path));
}
