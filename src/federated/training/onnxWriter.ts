/**
 * A minimal ONNX ModelProto encoder (protobuf by hand): nodes with int/ints/float/string
 * attributes, float32 initializers as raw_data, typed graph inputs/outputs, opset imports.
 *
 * Copied, trimmed, from the test fixture test/fixtures/onnx.ts (src must not import test code); the protobuf wire format is shared: src/utils/protobufWriter.ts.
 */

import { concatBytes } from '../../utils/bytes.ts'
import { bytesField, floatField, messageField, stringField, varintField } from '../../utils/protobufWriter.ts'

export type OnnxAttribute =
  | { type: 'float', value: number }
  | { type: 'int', value: number }
  | { type: 'string', value: string }
  | { type: 'ints', value: number[] }

export interface OnnxNode {
  opType: string
  inputs: string[]
  outputs: string[]
  name?: string
  attributes?: Record<string, OnnxAttribute>
}

export interface OnnxInitializer {
  name: string
  dims: number[]
  /** Float32 values (written little-endian), or int64 values when `dataType` is 'int64'. */
  data: Float32Array | BigInt64Array
  dataType?: 'float32' | 'int64'
}

export interface OnnxValueInfo {
  name: string
  /** A number is a fixed dim, a string a symbolic one (e.g. 'batch'). */
  shape: Array<number | string>
}

export interface OnnxModel {
  graphName: string
  nodes: OnnxNode[]
  initializers: OnnxInitializer[]
  inputs: OnnxValueInfo[]
  outputs: OnnxValueInfo[]
  /** Default 17. */
  opsetVersion?: number
  /** Default 8 (readable by onnxruntime ≥ 1.10). */
  irVersion?: number
  producerName?: string
  producerVersion?: string
  docString?: string
  /** ModelProto.metadata_props. */
  metadata?: Record<string, string>
}

const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 }
const OPSET = { version: 2 }
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 }
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 }
const ATTRIBUTE = { name: 1, f: 2, i: 3, s: 4, ints: 8, type: 20 }
const ATTRIBUTE_TYPES = { float: 1, int: 2, string: 3, ints: 7 }
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9 }
const DATA_TYPES = { float32: 1, int64: 7 }
const STRING_ENTRY = { key: 1, value: 2 }
const VALUE_INFO = { name: 1, type: 2 }
const TYPE = { tensorType: 1 }
const TENSOR_TYPE = { elemType: 1, shape: 2 }
const SHAPE = { dim: 1 }
const DIMENSION = { dimValue: 1, dimParam: 2 }

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Encodes the model as ONNX protobuf bytes. */
export function encodeOnnxModel (model: OnnxModel): Uint8Array {
  return concatBytes([
    varintField(MODEL.irVersion, model.irVersion ?? 8),
    stringField(MODEL.producerName, model.producerName ?? 'mycelium'),
    stringField(MODEL.producerVersion, model.producerVersion ?? '0.1.0'),
    ...(model.docString !== undefined ? [stringField(MODEL.docString, model.docString)] : []),
    messageField(MODEL.graph, [
      ...model.nodes.map((node) => messageField(GRAPH.node, encodeNode(node))),
      stringField(GRAPH.name, model.graphName),
      ...model.initializers.map((tensor) => messageField(GRAPH.initializer, encodeTensor(tensor))),
      ...model.inputs.map((input) => messageField(GRAPH.input, encodeValueInfo(input))),
      ...model.outputs.map((output) => messageField(GRAPH.output, encodeValueInfo(output)))
    ]),
    messageField(MODEL.opsetImport, [varintField(OPSET.version, model.opsetVersion ?? 17)]),
    ...Object.entries(model.metadata ?? {}).map(([key, value]) =>
      messageField(MODEL.metadataProps, [stringField(STRING_ENTRY.key, key), stringField(STRING_ENTRY.value, value)]))
  ])
}

function encodeNode (node: OnnxNode): Uint8Array[] {
  return [
    ...node.inputs.map((input) => stringField(NODE.input, input)),
    ...node.outputs.map((output) => stringField(NODE.output, output)),
    ...(node.name !== undefined ? [stringField(NODE.name, node.name)] : []),
    stringField(NODE.opType, node.opType),
    ...Object.entries(node.attributes ?? {}).map(([name, value]) => messageField(NODE.attribute, encodeAttribute(name, value)))
  ]
}

function encodeAttribute (name: string, attribute: OnnxAttribute): Uint8Array[] {
  const parts = [stringField(ATTRIBUTE.name, name), varintField(ATTRIBUTE.type, ATTRIBUTE_TYPES[attribute.type])]
  switch (attribute.type) {
    case 'float': return [...parts, floatField(ATTRIBUTE.f, attribute.value)]
    case 'int': return [...parts, varintField(ATTRIBUTE.i, attribute.value)]
    case 'string': return [...parts, stringField(ATTRIBUTE.s, attribute.value)]
    case 'ints': return [...parts, ...attribute.value.map((value) => varintField(ATTRIBUTE.ints, value))]
  }
}

function encodeTensor (tensor: OnnxInitializer): Uint8Array[] {
  const dataType = tensor.dataType ?? 'float32'
  const count = tensor.dims.reduce((product, dim) => product * dim, 1)
  if (tensor.data.length !== count) throw new Error(`ONNX initializer '${tensor.name}': ${tensor.data.length} values for dims [${tensor.dims.join(', ')}]`)
  if ((dataType === 'int64') !== (tensor.data instanceof BigInt64Array)) throw new Error(`ONNX initializer '${tensor.name}': data does not match dataType ${dataType}`)
  const raw = new Uint8Array(tensor.data.length * tensor.data.BYTES_PER_ELEMENT)
  // raw_data is little-endian whatever the host.
  if (LITTLE_ENDIAN_HOST) {
    raw.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, raw.length))
  } else {
    const view = new DataView(raw.buffer)
    if (tensor.data instanceof BigInt64Array) tensor.data.forEach((value, i) => view.setBigInt64(i * 8, value, true))
    else tensor.data.forEach((value, i) => view.setFloat32(i * 4, value, true))
  }
  return [
    ...tensor.dims.map((dim) => varintField(TENSOR.dims, dim)),
    varintField(TENSOR.dataType, DATA_TYPES[dataType]),
    stringField(TENSOR.name, tensor.name),
    bytesField(TENSOR.rawData, raw)
  ]
}

function encodeValueInfo (info: OnnxValueInfo): Uint8Array[] {
  const dims = info.shape.map((dim) => messageField(SHAPE.dim, typeof dim === 'number' ? [varintField(DIMENSION.dimValue, dim)] : [stringField(DIMENSION.dimParam, dim)]))
  const tensorType = [varintField(TENSOR_TYPE.elemType, DATA_TYPES.float32), messageField(TENSOR_TYPE.shape, dims)]
  return [stringField(VALUE_INFO.name, info.name), messageField(VALUE_INFO.type, [messageField(TYPE.tensorType, tensorType)])]
}

