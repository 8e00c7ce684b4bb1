/**
 * The Open Inference Protocol (KServe V2) REST payloads, as in
 * kserve/open-inference-protocol specification/protocol/inference_rest.md:
 *
 *   $inference_request  = { id?, parameters?, inputs: [$request_input], outputs?: [{ name, parameters? }] }
 *   $request_input      = { name, shape, datatype, parameters?, data }
 *   $inference_response = { model_name, model_version?, id?, parameters?, outputs: [$response_output] }
 *   $response_output    = { name, shape, datatype, parameters?, data }
 *   $metadata_model_response = { name, versions?, platform, inputs: [$metadata_tensor], outputs }
 *   $metadata_tensor    = { name, datatype, shape }   (variable-size dims are -1)
 *   error body          = { error: string }
 *
 * Tensor data is row-major, flat or nested as the shape; elements are numbers, true/false for
 * BOOL and strings for BYTES. The spec leaves coercion to the server: a datatype must match the
 * model's exactly (no silent FP64→FP32); INT64/UINT64 also take decimal strings beyond 2^53 and are
 * answered as strings there; FP16 is exchanged as JSON numbers, rounded to the nearest half;
 * non-finite floats are "NaN"/"Infinity"/"-Infinity" (JSON has no numbers for them).
 *
 * Triton's binary tensor data extension is supported too, because Triton's and KServe's HTTP clients
 * send binary data by default: an input with parameters.binary_data_size takes its bytes from the
 * body after the JSON (whose length the `Inference-Header-Content-Length` header gives); an output
 * requested with parameters.binary_data (or the request's binary_data_output) is answered as bytes
 * after the JSON, little-endian, BOOL one byte each, BYTES as a uint32 length then the bytes.
 *
 * Mycelium's one request parameter: `file`, the .onnx file of a version that has several.
 */
import { BaseError, InvalidInputError } from '../../errors.ts'
import { FILE_PARAMETER } from '../constants.ts'
import { BYTES_PER_ELEMENT, TYPED_ARRAYS, dataToValues, elementCount, readJsonData, type DType, type JsonValue, type NestedValues, type Tensor, type TensorSpec } from '../tensor.ts'

export const OIP_PLATFORM = 'onnxruntime_onnx'
/** The HTTP header giving the length of the JSON part of a body that carries binary tensor data. */
export const OIP_HEADER_LENGTH_HEADER = 'inference-header-content-length'
/** What the server metadata response should list as extensions. */
export const OIP_EXTENSIONS = ['binary_tensor_data']

export const DTYPE_TO_OIP = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES'
} as const satisfies Record<DType, string>

export type OipDatatype = typeof DTYPE_TO_OIP[DType] | 'BF16'

export const OIP_TO_DTYPE: Readonly<Record<string, DType>> = Object.fromEntries(Object.entries(DTYPE_TO_OIP).map(([dtype, datatype]) => [datatype, dtype as DType]))

export type OipParameters = Record<string, string | number | boolean>

export interface OipRequestInput {
  name: string
  shape: number[]
  datatype: string
  parameters?: OipParameters
  data?: NestedValues[]
}

export interface OipRequestOutput {
  name: string
  parameters?: OipParameters
}

export interface OipInferenceRequest {
  id?: string
  parameters?: OipParameters
  inputs: OipRequestInput[]
  outputs?: OipRequestOutput[]
}

export interface OipResponseOutput {
  name: string
  shape: number[]
  datatype: string
  parameters?: OipParameters
  data?: JsonValue[]
}

export interface OipInferenceResponse {
  model_name: string
  model_version?: string
  id?: string
  parameters?: OipParameters
  outputs: OipResponseOutput[]
}

export interface OipTensorMetadata {
  name: string
  datatype: string
  shape: number[]
}

export interface OipModelMetadata {
  name: string
  versions?: string[]
  platform: string
  inputs: OipTensorMetadata[]
  outputs: OipTensorMetadata[]
}

export interface OipErrorBody {
  error: string
}

// --- shared checks ---------------------------------------------------------------------------------

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function checkParameters (value: unknown, where: string): OipParameters | undefined {
  if (value === undefined) return undefined
  if (!isPlainObject(value) || !Object.values(value).every((entry) => ['string', 'number', 'boolean'].includes(typeof entry))) {
    throw new InvalidInputError(`${where}.parameters must be an object of string, number or boolean values`)
  }
  return value as OipParameters
}

function checkShape (value: unknown, where: string): number[] {
  if (!Array.isArray(value) || !value.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) {
    throw new InvalidInputError(`${where}.shape must be an array of non-negative integers`)
  }
  return value
}

function datatypeToDtype (datatype: unknown, where: string): DType {
  const dtype = typeof datatype === 'string' ? OIP_TO_DTYPE[datatype] : undefined
  if (dtype !== undefined) return dtype
  if (datatype === 'BF16') throw new InvalidInputError(`${where}.datatype BF16 is not supported by onnxruntime-node`)
  throw new InvalidInputError(`${where}.datatype ${JSON.stringify(datatype) ?? 'is missing'}${datatype === undefined ? '' : ' is not an OIP datatype'}; expected one of ${Object.keys(OIP_TO_DTYPE).join(', ')}`)
}

/** The bytes following the JSON of a body, consumed tensor by tensor. */
class BinaryReader {
  private offset = 0
  private readonly bytes: Uint8Array | undefined
  private readonly what: string

  constructor (bytes: Uint8Array | undefined, what: string) {
    this.bytes = bytes
    this.what = what
  }

  take (length: number, where: string): Uint8Array {
    const available = (this.bytes?.length ?? 0) - this.offset
    if (length > available) {
      throw new InvalidInputError(`${where}.parameters.binary_data_size is ${length} but only ${available} bytes of binary data remain in the ${this.what}`, {
        hint: `Binary tensor data follows the JSON ${this.what}, whose length the Inference-Header-Content-Length header gives.`
      })
    }
    const chunk = this.bytes!.subarray(this.offset, this.offset + length)
    this.offset += length
    return chunk
  }

  finish (): void {
    const rest = (this.bytes?.length ?? 0) - this.offset
    if (rest > 0) throw new InvalidInputError(`${rest} bytes of binary data in the ${this.what} belong to no tensor`)
  }
}

/** Little-endian tensor bytes → typed data (a view when aligned, else a copy). */
function binaryToData (dtype: DType, bytes: Uint8Array, shape: number[], where: string): Tensor['data'] {
  const count = elementCount(shape)
  if (dtype === 'string') {
    const out: string[] = []
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const decoder = new TextDecoder('utf-8', { fatal: true })
    let position = 0
    while (position < bytes.length) {
      if (position + 4 > bytes.length) throw new InvalidInputError(`${where}: BYTES binary data ends inside an element's length`)
      const length = view.getUint32(position, true)
      position += 4
      if (position + length > bytes.length) throw new InvalidInputError(`${where}: BYTES binary data ends inside element ${out.length}`)
      try {
        out.push(decoder.decode(bytes.subarray(position, position + length)))
      } catch {
        throw new InvalidInputError(`${where}: BYTES element ${out.length} is not UTF-8 text, which ONNX string tensors need`)
      }
      position += length
    }
    return out
  }
  const size = BYTES_PER_ELEMENT[dtype]
  if (bytes.length !== count * size) {
    throw new InvalidInputError(`${where}: shape ${JSON.stringify(shape)} of ${DTYPE_TO_OIP[dtype]} needs ${count * size} bytes of binary data, binary_data_size is ${bytes.length}`)
  }
  const Typed = TYPED_ARRAYS[dtype]
  const aligned = (bytes.byteOffset % size) === 0
  // Hosts are little-endian (x86, arm64); the protocol's bytes are too.
  // Uint8Array.prototype.slice copies even for a Buffer, whose own slice() is only a view.
  return aligned ? new Typed(bytes.buffer as ArrayBuffer, bytes.byteOffset, count) : new Typed(Uint8Array.prototype.slice.call(bytes).buffer, 0, count)
}

const encoder = new TextEncoder()

function dataToBinary (tensor: Tensor): Uint8Array {
  if (tensor.dtype === 'string') {
    const parts = tensor.data.map((value) => encoder.encode(value))
    const out = new Uint8Array(parts.reduce((sum, part) => sum + 4 + part.length, 0))
    const view = new DataView(out.buffer)
    let position = 0
    for (const part of parts) {
      view.setUint32(position, part.length, true)
      out.set(part, position + 4)
      position += 4 + part.length
    }
    return out
  }
  return new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength)
}

function readTensor (entry: unknown, where: string, binary: BinaryReader): Tensor {
  if (!isPlainObject(entry)) throw new InvalidInputError(`${where} must be an object { name, shape, datatype, data }`)
  if (typeof entry.name !== 'string' || entry.name === '') throw new InvalidInputError(`${where}.name must be a non-empty string`)
  const name = entry.name
  const at = `${where} ("${name}")`
  const shape = checkShape(entry.shape, at)
  const dtype = datatypeToDtype(entry.datatype, at)
  const parameters = checkParameters(entry.parameters, at)
  const binarySize = parameters?.binary_data_size
  if (binarySize !== undefined) {
    if (typeof binarySize !== 'number' || !Number.isSafeInteger(binarySize) || binarySize < 0) {
      throw new InvalidInputError(`${at}.parameters.binary_data_size must be a non-negative integer`)
    }
    if (entry.data !== undefined) throw new InvalidInputError(`${at} has both "data" and parameters.binary_data_size`)
    return { name, dtype, shape, data: binaryToData(dtype, binary.take(binarySize, at), shape, `input "${name}"`) } as Tensor
  }
  if (!Array.isArray(entry.data)) throw new InvalidInputError(`${at}.data must be an array (flat or nested), or the tensor sent as binary data`)
  const { data } = readJsonData(dtype, entry.data, { tensor: `input "${name}"`, path: 'data' }, shape)
  return { name, dtype, shape, data } as Tensor
}

// --- server side -----------------------------------------------------------------------------------

export interface DecodedOipRequest {
  id?: string
  parameters: OipParameters
  inputs: Tensor[]
  /** The outputs asked for; undefined means all. */
  outputs?: string[]
  /** Outputs to answer as binary data (the binary tensor data extension). */
  binaryOutputs: Set<string>
  /** Every output not named in `outputs[]` is binary (request parameter binary_data_output). */
  binaryByDefault: boolean
  /** The `file` parameter: which .onnx file of the version to run. */
  file?: string
}

/**
 * Decodes an $inference_request. `binary` is the body after the JSON when the request carries
 * binary tensor data (split with splitBinaryBody).
 */
export function decodeOipRequest (body: unknown, binary?: Uint8Array): DecodedOipRequest {
  if (!isPlainObject(body)) throw new InvalidInputError('the inference request must be a JSON object { id?, parameters?, inputs: [...], outputs? }')
  if (body.id !== undefined && typeof body.id !== 'string') throw new InvalidInputError('"id" must be a string')
  const parameters = checkParameters(body.parameters, 'request') ?? {}
  if (!Array.isArray(body.inputs)) throw new InvalidInputError('"inputs" must be an array of { name, shape, datatype, data }')
  const reader = new BinaryReader(binary, 'request')
  const inputs = body.inputs.map((entry, i) => readTensor(entry, `inputs[${i}]`, reader))
  reader.finish()

  let outputs: string[] | undefined
  const binaryOutputs = new Set<string>()
  const binaryByDefault = parameters.binary_data_output === true
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw new InvalidInputError('"outputs" must be an array of { name, parameters? }')
    outputs = body.outputs.map((entry, i) => {
      const where = `outputs[${i}]`
      if (!isPlainObject(entry) || typeof entry.name !== 'string' || entry.name === '') throw new InvalidInputError(`${where} must be an object with a non-empty "name"`)
      const binaryData = checkParameters(entry.parameters, where)?.binary_data
      if (binaryData === true || (binaryData === undefined && binaryByDefault)) binaryOutputs.add(entry.name)
      return entry.name
    })
    if (new Set(outputs).size !== outputs.length) throw new InvalidInputError('"outputs" names an output twice')
  }
  const file = parameters[FILE_PARAMETER]
  if (file !== undefined && typeof file !== 'string') throw new InvalidInputError(`parameters.${FILE_PARAMETER} must be a string (a path in the version)`)
  return {
    ...(body.id !== undefined ? { id: body.id } : {}),
    parameters,
    inputs,
    ...(outputs !== undefined ? { outputs } : {}),
    binaryOutputs,
    binaryByDefault: binaryByDefault && outputs === undefined,
    ...(file !== undefined ? { file } : {})
  }
}

export interface EncodeOipResponseParameters {
  modelName: string
  modelVersion?: string
  id?: string
  parameters?: OipParameters
  outputs: readonly Tensor[]
  /** From DecodedOipRequest: which outputs go as binary data. */
  binaryOutputs?: ReadonlySet<string>
  binaryByDefault?: boolean
}

export interface EncodedOipBody<T> {
  json: T
  /** Binary tensor data to send after the JSON, in order; empty when everything is JSON. */
  binary: Uint8Array[]
}

/** An $inference_response; outputs asked for as binary go after the JSON (see joinBinaryBody). */
export function encodeOipResponse (parameters: EncodeOipResponseParameters): EncodedOipBody<OipInferenceResponse> {
  const binary: Uint8Array[] = []
  const outputs = parameters.outputs.map((tensor): OipResponseOutput => {
    const base = { name: tensor.name, shape: [...tensor.shape], datatype: DTYPE_TO_OIP[tensor.dtype] }
    if (parameters.binaryByDefault === true || parameters.binaryOutputs?.has(tensor.name) === true) {
      const bytes = dataToBinary(tensor)
      binary.push(bytes)
      return { ...base, parameters: { binary_data_size: bytes.length } }
    }
    return { ...base, data: dataToValues(tensor) }
  })
  const json: OipInferenceResponse = {
    model_name: parameters.modelName,
    ...(parameters.modelVersion !== undefined ? { model_version: parameters.modelVersion } : {}),
    ...(parameters.id !== undefined ? { id: parameters.id } : {}),
    ...(parameters.parameters !== undefined ? { parameters: parameters.parameters } : {}),
    outputs
  }
  return { json, binary }
}

function metadataTensor (spec: TensorSpec): OipTensorMetadata {
  return {
    name: spec.name,
    datatype: (DTYPE_TO_OIP as Record<string, string>)[spec.dtype] ?? (spec.dtype === 'bfloat16' ? 'BF16' : spec.dtype.toUpperCase()),
    shape: spec.shape.map((dim) => typeof dim === 'number' && dim >= 0 ? dim : -1)
  }
}

/** A $metadata_model_response from the manifest's OnnxMetadata (symbolic and unknown dims → -1). */
export function encodeOipModelMetadata (parameters: { name: string, versions?: string[], inputs: readonly TensorSpec[], outputs: readonly TensorSpec[] }): OipModelMetadata {
  return {
    name: parameters.name,
    ...(parameters.versions !== undefined ? { versions: parameters.versions } : {}),
    platform: OIP_PLATFORM,
    inputs: parameters.inputs.map(metadataTensor),
    outputs: parameters.outputs.map(metadataTensor)
  }
}

/** The HTTP status and { error } body of any error, for every OIP endpoint. */
export function encodeOipError (err: unknown): { status: number, body: OipErrorBody } {
  if (err instanceof BaseError) {
    const message = [err.shortMessage, err.details !== undefined ? `(${err.details})` : undefined, err.hint].filter((part) => part !== undefined).join(' ')
    return { status: err.status, body: { error: message } }
  }
  return { status: 500, body: { error: err instanceof Error ? err.message : String(err) } }
}

/** Splits a body carrying binary tensor data at the JSON length from the Inference-Header-Content-Length header. */
export function splitBinaryBody (body: Uint8Array, headerLength: number): { json: unknown, binary: Uint8Array } {
  if (!Number.isSafeInteger(headerLength) || headerLength < 0 || headerLength > body.length) {
    throw new InvalidInputError(`Inference-Header-Content-Length is ${headerLength} but the body has ${body.length} bytes`)
  }
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(body.subarray(0, headerLength)))
  } catch (err: any) {
    throw new InvalidInputError('the JSON part of the body is not valid JSON', { details: err.message })
  }
  return { json, binary: body.subarray(headerLength) }
}

/**
 * The JSON text (padded) and then the binary chunks, as they are: a sender that writes them one after
 * another (one `writev`) needs no copy of the tensor data. `headerLength` goes in
 * Inference-Header-Content-Length.
 */
export function binaryBodyParts (encoded: EncodedOipBody<unknown>): { parts: Uint8Array[], headerLength: number, byteLength: number } {
  // Trailing spaces (valid JSON) align the tensor data to 8 bytes, so the receiver can view it in place.
  const json = encoder.encode(JSON.stringify(encoded.json))
  const head = new Uint8Array(json.length + (8 - (json.length % 8)) % 8).fill(0x20)
  head.set(json)
  return { parts: [head, ...encoded.binary], headerLength: head.length, byteLength: encoded.binary.reduce((sum, chunk) => sum + chunk.length, head.length) }
}

/** An encoded request as an HTTP body in parts and the headers that say how to split it. */
export function binaryRequestBody (encoded: EncodedOipBody<unknown>): { body: Uint8Array[], headers: Record<string, string> } {
  const { parts, headerLength } = binaryBodyParts(encoded)
  return { body: parts, headers: { 'content-type': 'application/octet-stream', [OIP_HEADER_LENGTH_HEADER]: String(headerLength) } }
}

/** The JSON text followed by the binary chunks in one buffer; `headerLength` goes in Inference-Header-Content-Length. */
export function joinBinaryBody (encoded: EncodedOipBody<unknown>): { body: Uint8Array, headerLength: number } {
  const { parts, headerLength, byteLength } = binaryBodyParts(encoded)
  const body = new Uint8Array(byteLength)
  let position = 0
  for (const part of parts) {
    body.set(part, position)
    position += part.length
  }
  return { body, headerLength }
}

// --- client side (the CLI, the SDK, the remote protocol) -------------------------------------------

export interface EncodeOipRequestParameters {
  id?: string
  parameters?: OipParameters
  /** Output names to ask for; all when absent. */
  outputs?: string[]
  /** Send inputs, and ask for outputs, as binary tensor data. Default false (plain JSON). */
  binary?: boolean
}

export function encodeOipRequest (inputs: readonly Tensor[], options: EncodeOipRequestParameters = {}): EncodedOipBody<OipInferenceRequest> {
  const binary: Uint8Array[] = []
  const json: OipInferenceRequest = {
    ...(options.id !== undefined ? { id: options.id } : {}),
    ...(options.parameters !== undefined || options.binary === true
      ? { parameters: { ...options.parameters, ...(options.binary === true ? { binary_data_output: true } : {}) } }
      : {}),
    inputs: inputs.map((tensor) => {
      const base = { name: tensor.name, shape: [...tensor.shape], datatype: DTYPE_TO_OIP[tensor.dtype] }
      if (options.binary === true) {
        const bytes = dataToBinary(tensor)
        binary.push(bytes)
        return { ...base, parameters: { binary_data_size: bytes.length } }
      }
      return { ...base, data: dataToValues(tensor) }
    }),
    ...(options.outputs !== undefined
      ? { outputs: options.outputs.map((name) => options.binary === true ? { name, parameters: { binary_data: true } } : { name }) }
      : {})
  }
  return { json, binary }
}

export interface DecodedOipResponse {
  modelName: string
  modelVersion?: string
  id?: string
  parameters?: OipParameters
  outputs: Tensor[]
}

export function decodeOipResponse (body: unknown, binary?: Uint8Array): DecodedOipResponse {
  if (!isPlainObject(body)) throw new InvalidInputError('the inference response is not a JSON object')
  if (typeof body.error === 'string') throw new InvalidInputError(`the server answered with an error: ${body.error}`)
  if (typeof body.model_name !== 'string') throw new InvalidInputError('the inference response has no "model_name"')
  if (!Array.isArray(body.outputs)) throw new InvalidInputError('the inference response has no "outputs" array')
  const reader = new BinaryReader(binary, 'response')
  const outputs = body.outputs.map((entry, i) => readTensor(entry, `outputs[${i}]`, reader))
  reader.finish()
  const parameters = checkParameters(body.parameters, 'response')
  return {
    modelName: body.model_name,
    ...(typeof body.model_version === 'string' ? { modelVersion: body.model_version } : {}),
    ...(typeof body.id === 'string' ? { id: body.id } : {}),
    ...(parameters !== undefined ? { parameters } : {}),
    outputs
  }
}

/** A $metadata_model_response as TensorSpecs (-1 dims → '?'), e.g. to decode JSON input files for a remote model. */
export function decodeOipModelMetadata (body: unknown): { name: string, versions?: string[], platform: string, inputs: TensorSpec[], outputs: TensorSpec[] } {
  if (!isPlainObject(body) || typeof body.name !== 'string' || !Array.isArray(body.inputs) || !Array.isArray(body.outputs)) {
    throw new InvalidInputError('not an OIP model metadata response { name, platform, inputs, outputs }')
  }
  const tensors = (list: unknown[], what: string): TensorSpec[] => list.map((entry, i) => {
    if (!isPlainObject(entry) || typeof entry.name !== 'string' || typeof entry.datatype !== 'string' || !Array.isArray(entry.shape)) {
      throw new InvalidInputError(`${what}[${i}] is not { name, datatype, shape }`)
    }
    return {
      name: entry.name,
      dtype: OIP_TO_DTYPE[entry.datatype] ?? entry.datatype.toLowerCase(),
      shape: entry.shape.map((dim) => typeof dim === 'number' && dim >= 0 ? dim : '?')
    }
  })
  return {
    name: body.name,
    ...(Array.isArray(body.versions) ? { versions: body.versions.filter((v): v is string => typeof v === 'string') } : {}),
    platform: typeof body.platform === 'string' ? body.platform : '',
    inputs: tensors(body.inputs, 'inputs'),
    outputs: tensors(body.outputs, 'outputs')
  }
}
