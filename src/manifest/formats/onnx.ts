/**
 * Reads ONNX model metadata (a protobuf ModelProto, see onnx/onnx.proto) without loading the
 * model: the protobuf is walked field by field from disk, descending only into the few messages
 * that carry metadata and seeking over everything else (tensor bytes, nodes, docs).
 */
import { ModelFileReader, type ModelInput, elementCount } from './fileReader.ts'
import type { OnnxMetadata, ReadFormatOptions, TensorInfo } from './types.ts'

const FORMAT = 'ONNX'

/** A protobuf varint never exceeds 10 bytes (64 bits, 7 per byte). */
const MAX_VARINT_BYTES = 10
/** Names, producer strings, dim params: anything longer is not metadata we want in a manifest. */
const MAX_STRING_BYTES = 1024 * 1024
/** A packed `dims` list: 8 dims take < 100 bytes, so this only stops a corrupt length from allocating. */
const MAX_PACKED_DIMS_BYTES = 64 * 1024

const WIRE_VARINT = 0
const WIRE_FIXED64 = 1
const WIRE_LENGTH_DELIMITED = 2
const WIRE_FIXED32 = 5
const WIRE_TYPE_NAMES: Record<number, string> = { 0: 'varint', 1: '64-bit', 2: 'length-delimited', 5: '32-bit' }

/** TensorProto.DataLocation.EXTERNAL */
const DATA_LOCATION_EXTERNAL = 1

/** TensorProto.DataType → the lowercase names used in manifests. */
const ONNX_DTYPES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
  17: 'float8e4m3fn',
  18: 'float8e4m3fnuz',
  19: 'float8e5m2',
  20: 'float8e5m2fnuz',
  21: 'uint4',
  22: 'int4',
  23: 'float4e2m1'
}

/** Field numbers from onnx.proto, named only for the messages this reader descends into. */
const FIELDS = {
  ModelProto: { irVersion: 1, producerName: 2, producerVersion: 3, graph: 7, opsetImport: 8 },
  OperatorSetIdProto: { domain: 1, version: 2 },
  GraphProto: { node: 1, name: 2, initializer: 5, input: 11, output: 12 },
  TensorProto: { dims: 1, dataType: 2, name: 8, rawData: 9, externalData: 13, dataLocation: 14 },
  ValueInfoProto: { name: 1, type: 2 },
  TypeProto: { tensorType: 1, sequenceType: 4, mapType: 5, sparseTensorType: 8, optionalType: 9 },
  'TypeProto.Tensor': { elemType: 1, shape: 2 },
  TensorShapeProto: { dim: 1 },
  'TensorShapeProto.Dimension': { dimValue: 1, dimParam: 2 }
} as const

type MessageName = keyof typeof FIELDS

/** Non-tensor value types have no element type or shape; the kind is what a caller can use. */
const NON_TENSOR_TYPES: Record<number, string> = {
  [FIELDS.TypeProto.sequenceType]: 'sequence',
  [FIELDS.TypeProto.mapType]: 'map',
  [FIELDS.TypeProto.optionalType]: 'optional'
}

const NOT_ONNX_HINT = 'The file is not an ONNX ModelProto. Check that it was exported as ONNX (e.g. torch.onnx.export) and not renamed from another format.'

/** One protobuf field as found on disk: where it is, and for varints its value. */
interface Field {
  message: MessageName
  number: number
  wireType: number
  /** Offset of the field's tag. */
  offset: number
  /** The value's bytes: [start, end). For length-delimited fields, the payload. */
  start: number
  end: number
  varint: bigint
}

interface Varint { value: bigint, end: number }

interface Initializer { name: string, dims: number[], external: boolean }

interface GraphSummary {
  name: string
  initializers: Initializer[]
  inputs: TensorInfo[]
  outputs: TensorInfo[]
}

export async function readOnnxMetadata (path: ModelInput, options: ReadFormatOptions = {}): Promise<OnnxMetadata> {
  return await ModelFileReader.with(path, FORMAT, options.signal, readModel)
}

async function readModel (reader: ModelFileReader): Promise<OnnxMetadata> {
  const F = FIELDS.ModelProto
  let irVersion: number | undefined
  let producerName = ''
  let producerVersion = ''
  let graph: GraphSummary | undefined
  const opset: OnnxMetadata['opset'] = []

  await walkMessage(reader, 'ModelProto', 0, reader.size, async (field) => {
    switch (field.number) {
      case F.irVersion: irVersion = int64(reader, field); break
      case F.producerName: producerName = await readString(reader, field); break
      case F.producerVersion: producerVersion = await readString(reader, field); break
      // Protobuf merges repeated occurrences of a message field, so a second graph extends the first.
      case F.graph: graph = await readGraph(reader, field, graph); break
      case F.opsetImport: opset.push(await readOpset(reader, field)); break
    }
  })

  if (irVersion === undefined && graph === undefined) {
    throw reader.invalid('not a valid ONNX file: it has neither an ir_version nor a graph', { hint: NOT_ONNX_HINT })
  }
  if (graph === undefined) {
    throw reader.invalid('ONNX model has no graph', { hint: 'The ModelProto carries no GraphProto (field 7), so there is nothing to run. Re-export the model.' })
  }
  if (irVersion === undefined) {
    throw reader.invalid('ONNX model has no ir_version', { hint: 'ModelProto.ir_version (field 1) is required by the ONNX spec. Re-export the model with a current exporter.' })
  }
  return summarize(irVersion, producerName, producerVersion, opset, graph)
}

function summarize (irVersion: number, producerName: string, producerVersion: string, opset: OnnxMetadata['opset'], graph: GraphSummary): OnnxMetadata {
  // Before IR version 4 every initializer was also listed as a graph input; those are weights,
  // not inputs a caller feeds, so they are left out (as onnxruntime does).
  const initializerNames = new Set(graph.initializers.map((init) => init.name))
  return {
    format: 'onnx',
    irVersion,
    producerName,
    producerVersion,
    opset,
    inputs: graph.inputs.filter((input) => !initializerNames.has(input.name)),
    outputs: graph.outputs,
    parameterCount: graph.initializers.reduce((sum, init) => sum + elementCount(init.dims), 0),
    graphName: graph.name,
    usesExternalData: graph.initializers.some((init) => init.external)
  }
}

async function readOpset (reader: ModelFileReader, field: Field): Promise<{ domain: string, version: number }> {
  const F = FIELDS.OperatorSetIdProto
  const opset = { domain: '', version: 0 }
  await walkEmbedded(reader, field, 'OperatorSetIdProto', async (inner) => {
    if (inner.number === F.domain) opset.domain = await readString(reader, inner)
    else if (inner.number === F.version) opset.version = int64(reader, inner)
  })
  return opset
}

async function readGraph (reader: ModelFileReader, field: Field, previous: GraphSummary | undefined): Promise<GraphSummary> {
  const F = FIELDS.GraphProto
  const graph = previous ?? { name: '', initializers: [], inputs: [], outputs: [] }
  await walkEmbedded(reader, field, 'GraphProto', async (inner) => {
    switch (inner.number) {
      case F.name: graph.name = await readString(reader, inner); break
      case F.initializer: graph.initializers.push(await readInitializer(reader, inner)); break
      case F.input: graph.inputs.push(await readValueInfo(reader, inner)); break
      case F.output: graph.outputs.push(await readValueInfo(reader, inner)); break
    }
  })
  return graph
}

/** Reads an initializer's name, dims and data location; its data (raw_data etc.) is skipped. */
async function readInitializer (reader: ModelFileReader, field: Field): Promise<Initializer> {
  const F = FIELDS.TensorProto
  const tensor: Initializer = { name: '', dims: [], external: false }
  await walkEmbedded(reader, field, 'TensorProto', async (inner) => {
    switch (inner.number) {
      case F.name: tensor.name = await readString(reader, inner); break
      case F.dims: tensor.dims.push(...await readDims(reader, inner)); break
      case F.externalData: tensor.external = true; break
      case F.dataLocation:
        if (int64(reader, inner) === DATA_LOCATION_EXTERNAL) tensor.external = true
        break
    }
  })
  const negative = tensor.dims.find((dim) => dim < 0)
  if (negative !== undefined) {
    throw reader.invalid(`ONNX initializer '${tensor.name}' has a negative dimension (${negative})`, { hint: 'Initializer shapes must be fixed and non-negative. Re-export the model.' })
  }
  return tensor
}

/** `repeated int64 dims` may be written unpacked (one varint per field) or packed (one blob). */
async function readDims (reader: ModelFileReader, field: Field): Promise<number[]> {
  if (field.wireType === WIRE_VARINT) return [int64(reader, field)]
  expectWireType(reader, field, WIRE_LENGTH_DELIMITED)
  if (field.end - field.start > MAX_PACKED_DIMS_BYTES) {
    throw reader.invalid(`ONNX field ${fieldLabel(field)} at offset ${field.offset} holds ${field.end - field.start} bytes of dims, more than any real tensor shape`, { hint: NOT_ONNX_HINT })
  }
  const dims: number[] = []
  let pos = field.start
  while (pos < field.end) {
    const varint = await readVarint(reader, pos, field.end, `packed ${fieldLabel(field)}`)
    dims.push(toSafeInt64(reader, varint.value, field, pos))
    pos = varint.end
  }
  return dims
}

async function readValueInfo (reader: ModelFileReader, field: Field): Promise<TensorInfo> {
  const F = FIELDS.ValueInfoProto
  const info: TensorInfo = { name: '', dtype: '?', shape: [] }
  await walkEmbedded(reader, field, 'ValueInfoProto', async (inner) => {
    if (inner.number === F.name) info.name = await readString(reader, inner)
    else if (inner.number === F.type) Object.assign(info, await readType(reader, inner))
  })
  return info
}

async function readType (reader: ModelFileReader, field: Field): Promise<Pick<TensorInfo, 'dtype' | 'shape'>> {
  const F = FIELDS.TypeProto
  let type: Pick<TensorInfo, 'dtype' | 'shape'> = { dtype: '?', shape: [] }
  await walkEmbedded(reader, field, 'TypeProto', async (inner) => {
    if (inner.number === F.tensorType || inner.number === F.sparseTensorType) {
      type = await readTensorType(reader, inner)
    } else if (NON_TENSOR_TYPES[inner.number] !== undefined) {
      type = { dtype: NON_TENSOR_TYPES[inner.number], shape: [] }
    }
  })
  return type
}

async function readTensorType (reader: ModelFileReader, field: Field): Promise<Pick<TensorInfo, 'dtype' | 'shape'>> {
  const F = FIELDS['TypeProto.Tensor']
  const type: Pick<TensorInfo, 'dtype' | 'shape'> = { dtype: '?', shape: [] }
  await walkEmbedded(reader, field, 'TypeProto.Tensor', async (inner) => {
    if (inner.number === F.elemType) type.dtype = dtypeName(int64(reader, inner))
    else if (inner.number === F.shape) type.shape.push(...await readShape(reader, inner))
  })
  return type
}

async function readShape (reader: ModelFileReader, field: Field): Promise<Array<number | string>> {
  const shape: Array<number | string> = []
  await walkEmbedded(reader, field, 'TensorShapeProto', async (inner) => {
    if (inner.number === FIELDS.TensorShapeProto.dim) shape.push(await readDimension(reader, inner))
  })
  return shape
}

/** A dimension is a fixed size, a symbolic name, or (neither set) unknown: '?'. */
async function readDimension (reader: ModelFileReader, field: Field): Promise<number | string> {
  const F = FIELDS['TensorShapeProto.Dimension']
  let dim: number | string = '?'
  await walkEmbedded(reader, field, 'TensorShapeProto.Dimension', async (inner) => {
    if (inner.number === F.dimValue) {
      const value = int64(reader, inner)
      // Some exporters write -1 for "dynamic" instead of a dim_param.
      dim = value >= 0 ? value : '?'
    } else if (inner.number === F.dimParam) {
      const param = await readString(reader, inner)
      dim = param === '' ? '?' : param
    }
  })
  return dim
}

function dtypeName (dataType: number): string {
  return ONNX_DTYPES[dataType] ?? (dataType === 0 ? '?' : `onnx-type-${dataType}`)
}

// ---------------------------------------------------------------------------------------------
// Minimal streaming protobuf walker

type FieldVisitor = (field: Field) => Promise<void>

/** Visits each field of the message stored in [start, end), in file order. */
async function walkMessage (reader: ModelFileReader, message: MessageName, start: number, end: number, visit: FieldVisitor): Promise<void> {
  let pos = start
  while (pos < end) {
    const field = await readField(reader, message, pos, end)
    await visit(field)
    pos = field.end
  }
}

/** Visits the fields of the embedded message that `field` holds. */
async function walkEmbedded (reader: ModelFileReader, field: Field, message: MessageName, visit: FieldVisitor): Promise<void> {
  expectWireType(reader, field, WIRE_LENGTH_DELIMITED)
  await walkMessage(reader, message, field.start, field.end, visit)
}

async function readField (reader: ModelFileReader, message: MessageName, offset: number, end: number): Promise<Field> {
  const tag = await readVarint(reader, offset, end, `${message} field tag`)
  const number = Number(tag.value >> 3n)
  const wireType = Number(tag.value & 7n)
  if (number === 0) {
    throw reader.invalid(`not a valid ONNX file: protobuf field number 0 at offset ${offset} (inside ${message})`, { hint: NOT_ONNX_HINT })
  }
  const field: Field = { message, number, wireType, offset, start: tag.end, end: tag.end, varint: 0n }
  switch (wireType) {
    case WIRE_VARINT: {
      const value = await readVarint(reader, tag.end, end, fieldLabel(field))
      field.varint = value.value
      field.end = value.end
      break
    }
    case WIRE_FIXED64: field.end = tag.end + 8; break
    case WIRE_FIXED32: field.end = tag.end + 4; break
    case WIRE_LENGTH_DELIMITED: {
      const length = await readVarint(reader, tag.end, end, `length of ${fieldLabel(field)}`)
      field.start = length.end
      field.end = length.end + Number(length.value)
      break
    }
    default:
      throw reader.invalid(`not a valid ONNX file: invalid protobuf wire type ${wireType} at offset ${offset} (inside ${message})`, { hint: NOT_ONNX_HINT })
  }
  checkFieldEnd(reader, field, end)
  return field
}

/** A field must end inside the file (else the file is truncated) and inside its parent message. */
function checkFieldEnd (reader: ModelFileReader, field: Field, parentEnd: number): void {
  if (field.end > reader.size) throw reader.truncated(`field ${fieldLabel(field)}`, field.offset)
  if (field.end > parentEnd) {
    throw reader.invalid(`malformed ONNX file: field ${fieldLabel(field)} at offset ${field.offset} runs past the end of its enclosing ${field.message} (offset ${parentEnd})`, { hint: NOT_ONNX_HINT })
  }
}

/** Decodes the varint at `offset`; it must end by `end` (the enclosing message's end). */
async function readVarint (reader: ModelFileReader, offset: number, end: number, what: string): Promise<Varint> {
  const available = Math.min(MAX_VARINT_BYTES, reader.size - offset)
  if (available <= 0) throw reader.truncated(what, offset)
  const bytes = await reader.bytes(offset, available, what)
  let value = 0n
  for (let i = 0; i < bytes.length; i++) {
    value |= BigInt(bytes[i] & 0x7f) << BigInt(7 * i)
    if ((bytes[i] & 0x80) === 0) {
      const varintEnd = offset + i + 1
      if (varintEnd > end) {
        throw reader.invalid(`malformed ONNX file: ${what} at offset ${offset} runs past the end of its enclosing message (offset ${end})`, { hint: NOT_ONNX_HINT })
      }
      return { value, end: varintEnd }
    }
  }
  if (available < MAX_VARINT_BYTES) throw reader.truncated(what, offset)
  throw reader.invalid(`not a valid ONNX file: ${what} at offset ${offset} is a varint longer than ${MAX_VARINT_BYTES} bytes`, { hint: NOT_ONNX_HINT })
}

function expectWireType (reader: ModelFileReader, field: Field, wireType: number): void {
  if (field.wireType === wireType) return
  throw reader.invalid(`not a valid ONNX file: field ${fieldLabel(field)} at offset ${field.offset} has protobuf wire type ${field.wireType} (${WIRE_TYPE_NAMES[field.wireType] ?? 'unknown'}), expected ${wireType} (${WIRE_TYPE_NAMES[wireType]})`, { hint: NOT_ONNX_HINT })
}

/** An int64/int32/enum field as a number; negative values arrive as 64-bit two's complement. */
function int64 (reader: ModelFileReader, field: Field): number {
  expectWireType(reader, field, WIRE_VARINT)
  return toSafeInt64(reader, field.varint, field, field.start)
}

function toSafeInt64 (reader: ModelFileReader, raw: bigint, field: Field, offset: number): number {
  const value = BigInt.asIntN(64, raw)
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw reader.invalid(`malformed ONNX file: field ${fieldLabel(field)} at offset ${offset} holds ${value}, too large to be a real size or version`, { hint: NOT_ONNX_HINT })
  }
  return Number(value)
}

async function readString (reader: ModelFileReader, field: Field): Promise<string> {
  expectWireType(reader, field, WIRE_LENGTH_DELIMITED)
  const length = field.end - field.start
  if (length > MAX_STRING_BYTES) {
    throw reader.invalid(`ONNX string field ${fieldLabel(field)} at offset ${field.offset} is ${length} bytes, more than the ${MAX_STRING_BYTES}-byte limit for metadata`, { hint: 'Names and producer strings are expected to be short; the file may be corrupt.' })
  }
  const bytes = await reader.bytes(field.start, length, `field ${fieldLabel(field)}`)
  return new TextDecoder().decode(bytes)
}

/** e.g. "ModelProto.graph (#7)", or "ModelProto #42" for fields this reader has no name for. */
function fieldLabel (field: Pick<Field, 'message' | 'number'>): string {
  const names = FIELDS[field.message] as Record<string, number>
  const name = Object.keys(names).find((key) => names[key] === field.number)
  return name === undefined ? `${field.message} #${field.number}` : `${field.message}.${snakeCase(name)} (#${field.number})`
}

/** Field names in messages follow onnx.proto's spelling (ir_version, opset_import). */
function snakeCase (name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
}
