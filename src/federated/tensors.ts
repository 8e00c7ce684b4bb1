/**
 * A model's weights as an ordered list of named float32 tensors, the helpers every strategy needs
 * (compatibility, flatten, norms, deltas) and the safetensors codec updates travel in.
 *
 * Determinism is the consensus mechanism of federated rounds: every aggregator must produce the
 * same bytes, hence the same CID. So the encoder is canonical — tensors in the given order,
 * `{"dtype":"F32","shape":[…],"data_offsets":[b,e]}` entries with no whitespace, no
 * `__metadata__`, the header padded with spaces to a multiple of 8 bytes (as the reference
 * writer does) and little-endian data — and `encodeSafetensors(decodeSafetensors(x))` is
 * byte-identical to `x` for every file this module wrote.
 */
import { InvalidInputError, type BaseErrorParameters } from '../errors.ts'

export interface Tensor {
  name: string
  shape: number[]
  data: Float32Array
}

/** Tensors in model order; names are unique. */
export type ModelWeights = Tensor[]

/** A malformed in-memory weight list (data length vs shape, duplicate names, NaN…). */
export class InvalidWeightsError extends InvalidInputError {
  override name = 'InvalidWeightsError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'INVALID_WEIGHTS', ...parameters })
  }
}

/** Two weight lists that cannot be combined: different tensor names, order or shapes. */
export class IncompatibleWeightsError extends InvalidInputError {
  override name = 'IncompatibleWeightsError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'INCOMPATIBLE_WEIGHTS', ...parameters })
  }
}

/** Bytes that are not a well-formed float32 safetensors file. */
export class InvalidWeightsFileError extends InvalidInputError {
  override name = 'InvalidWeightsFileError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'INVALID_WEIGHTS_FILE', ...parameters })
  }
}

export function elementCount (shape: readonly number[]): number {
  let count = 1
  for (const dim of shape) count *= dim
  return count
}

export function parameterCount (weights: readonly Tensor[]): number {
  let count = 0
  for (const tensor of weights) count += tensor.data.length
  return count
}

/**
 * Throws {@link InvalidWeightsError} unless every tensor has a non-empty unique name, a shape of
 * non-negative integers and exactly shape-product elements. Values are not scanned: see
 * {@link findNonFinite}.
 */
export function validateWeights (weights: readonly Tensor[], label = 'weights'): void {
  if (!Array.isArray(weights)) throw new InvalidWeightsError(`${label} is not an array of tensors`)
  const names = new Set<string>()
  for (const [index, tensor] of weights.entries()) {
    if (typeof tensor?.name !== 'string' || tensor.name === '') {
      throw new InvalidWeightsError(`${label}: tensor #${index} has no name`)
    }
    if (names.has(tensor.name)) {
      throw new InvalidWeightsError(`${label}: tensor name '${tensor.name}' appears twice`, { hint: 'Tensor names identify parameters; each must be unique.' })
    }
    names.add(tensor.name)
    if (!Array.isArray(tensor.shape) || !tensor.shape.every(isNonNegativeInteger)) {
      throw new InvalidWeightsError(`${label}: tensor '${tensor.name}' has an invalid shape ${JSON.stringify(tensor.shape)}`)
    }
    if (!(tensor.data instanceof Float32Array)) {
      throw new InvalidWeightsError(`${label}: tensor '${tensor.name}' data is not a Float32Array`)
    }
    const expected = elementCount(tensor.shape)
    if (tensor.data.length !== expected) {
      throw new InvalidWeightsError(`${label}: tensor '${tensor.name}' has ${tensor.data.length} values, but shape ${JSON.stringify(tensor.shape)} needs ${expected}`)
    }
  }
}

/**
 * Why `candidate` cannot be combined with `reference` (the first mismatch: count, name, order or
 * shape), or undefined when they have the same tensor names and shapes in the same order.
 */
export function describeIncompatibility (reference: readonly Tensor[], candidate: readonly Tensor[]): string | undefined {
  const common = Math.min(reference.length, candidate.length)
  for (let i = 0; i < common; i++) {
    const want = reference[i]
    const got = candidate[i]
    if (want.name !== got.name) {
      const elsewhere = candidate.findIndex((tensor) => tensor.name === want.name)
      return elsewhere === -1
        ? `tensor #${i} is '${got.name}', expected '${want.name}' (which is missing)`
        : `tensor #${i} is '${got.name}', expected '${want.name}' (found at #${elsewhere}: tensors are out of order)`
    }
    if (!sameShape(want.shape, got.shape)) {
      return `tensor '${want.name}' has shape ${JSON.stringify(got.shape)}, expected ${JSON.stringify(want.shape)}`
    }
    if (got.data.length !== want.data.length) {
      return `tensor '${want.name}' has ${got.data.length} values, expected ${want.data.length}`
    }
  }
  if (candidate.length > reference.length) return `unexpected extra tensor '${candidate[common].name}' (expected ${reference.length} tensors, got ${candidate.length})`
  if (candidate.length < reference.length) return `missing tensor '${reference[common].name}' (expected ${reference.length} tensors, got ${candidate.length})`
  return undefined
}

/** Throws {@link IncompatibleWeightsError} naming the first mismatch. */
export function assertCompatible (reference: readonly Tensor[], candidate: readonly Tensor[], labels: { reference?: string, candidate?: string } = {}): void {
  const problem = describeIncompatibility(reference, candidate)
  if (problem === undefined) return
  throw new IncompatibleWeightsError(`${labels.candidate ?? 'weights'} do not match ${labels.reference ?? 'the reference weights'}: ${problem}`, {
    hint: 'Updates must have exactly the global model\'s tensors (names, shapes, order). Train from the round\'s global weights and export every tensor as F32.'
  })
}

/** The first NaN or ±Infinity, if any. */
export function findNonFinite (weights: readonly Tensor[]): { tensor: string, index: number, value: number } | undefined {
  for (const tensor of weights) {
    const data = tensor.data
    for (let i = 0; i < data.length; i++) {
      const value = data[i]
      // x - x is 0 for every finite x and NaN for NaN and ±Infinity.
      if (value - value !== 0) return { tensor: tensor.name, index: i, value }
    }
  }
  return undefined
}

export function describeNonFinite (found: { tensor: string, index: number, value: number }): string {
  return `tensor '${found.tensor}' element ${found.index} is ${String(found.value)}`
}

/** All values in model order, in one new array. */
export function flatten (weights: readonly Tensor[]): Float32Array {
  const flat = new Float32Array(parameterCount(weights))
  let offset = 0
  for (const tensor of weights) {
    flat.set(tensor.data, offset)
    offset += tensor.data.length
  }
  return flat
}

/** The inverse of {@link flatten}: cuts `flat` into tensors named and shaped like `template` (copies). */
export function unflatten (flat: Float32Array | Float64Array, template: readonly Tensor[]): ModelWeights {
  const total = parameterCount(template)
  if (flat.length !== total) {
    throw new IncompatibleWeightsError(`cannot unflatten ${flat.length} values into ${total} parameters`, {
      hint: 'The flat vector must come from weights with the same tensors as the template.'
    })
  }
  const out: ModelWeights = []
  let offset = 0
  for (const tensor of template) {
    const length = tensor.data.length
    const data = new Float32Array(length)
    // Float32Array.set rounds Float64 values to float32 (round to nearest even).
    data.set(flat.subarray(offset, offset + length))
    out.push({ name: tensor.name, shape: [...tensor.shape], data })
    offset += length
  }
  return out
}

/** Euclidean norm of all values, accumulated in float64. */
export function l2Norm (values: readonly Tensor[] | Float32Array | Float64Array): number {
  if (values instanceof Float32Array || values instanceof Float64Array) return Math.sqrt(sumOfSquares(values))
  let sum = 0
  for (const tensor of values) sum += sumOfSquares(tensor.data)
  return Math.sqrt(sum)
}

function sumOfSquares (data: Float32Array | Float64Array): number {
  let sum = 0
  for (let i = 0; i < data.length; i++) sum += data[i] * data[i]
  return sum
}

/** ‖update − global‖₂ without materialising the delta (float64 accumulation). Shapes must match. */
export function deltaNorm (update: readonly Tensor[], global: readonly Tensor[]): number {
  let sum = 0
  for (let t = 0; t < global.length; t++) {
    const u = update[t].data
    const g = global[t].data
    for (let i = 0; i < g.length; i++) {
      const d = u[i] - g[i]
      sum += d * d
    }
  }
  return Math.sqrt(sum)
}

/** update − global, computed in float64 and rounded to float32 once. */
export function subtractWeights (update: readonly Tensor[], global: readonly Tensor[]): ModelWeights {
  assertCompatible(global, update, { reference: 'the global weights', candidate: 'the update' })
  return global.map((tensor, t) => {
    const u = update[t].data
    const g = tensor.data
    const data = new Float32Array(g.length)
    for (let i = 0; i < g.length; i++) data[i] = u[i] - g[i]
    return { name: tensor.name, shape: [...tensor.shape], data }
  })
}

/** global + scale × delta, computed in float64 and rounded to float32 once. */
export function addWeights (global: readonly Tensor[], delta: readonly Tensor[], scale = 1): ModelWeights {
  assertCompatible(global, delta, { reference: 'the global weights', candidate: 'the delta' })
  return global.map((tensor, t) => {
    const d = delta[t].data
    const g = tensor.data
    const data = new Float32Array(g.length)
    for (let i = 0; i < g.length; i++) data[i] = g[i] + scale * d[i]
    return { name: tensor.name, shape: [...tensor.shape], data }
  })
}

export function cloneWeights (weights: readonly Tensor[]): ModelWeights {
  return weights.map((tensor) => ({ name: tensor.name, shape: [...tensor.shape], data: tensor.data.slice() }))
}

export function zerosLike (weights: readonly Tensor[]): ModelWeights {
  return weights.map((tensor) => ({ name: tensor.name, shape: [...tensor.shape], data: new Float32Array(tensor.data.length) }))
}

/** Tensors named and shaped like `template`, holding the given float32 arrays (not copied). */
export function withData (template: readonly Tensor[], data: readonly Float32Array[]): ModelWeights {
  return template.map((tensor, t) => ({ name: tensor.name, shape: [...tensor.shape], data: data[t] }))
}

// ---------------------------------------------------------------------------------------------
// safetensors

const HEADER_LENGTH_BYTES = 8
const HEADER_ALIGNMENT = 8
const BYTES_PER_F32 = 4
/** The reference implementation refuses headers above 100 MB. */
export const MAX_SAFETENSORS_HEADER_BYTES = 100 * 1000 * 1000
const METADATA_KEY = '__metadata__'
const SPACE = 0x20
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/**
 * Canonical float32 safetensors bytes for `weights` (see the module comment). Throws
 * {@link InvalidWeightsError} for malformed weights or NaN/±Infinity, which
 * {@link decodeSafetensors} would reject.
 */
export function encodeSafetensors (weights: readonly Tensor[]): Uint8Array {
  validateWeights(weights)
  const nonFinite = findNonFinite(weights)
  if (nonFinite !== undefined) {
    throw new InvalidWeightsError(`cannot encode non-finite weights: ${describeNonFinite(nonFinite)}`, {
      hint: 'A diverged model (NaN/Infinity) cannot be shared; lower the learning rate or clip gradients.'
    })
  }
  const entries: string[] = []
  let offset = 0
  for (const tensor of weights) {
    if (tensor.name === METADATA_KEY) throw new InvalidWeightsError(`a tensor cannot be named '${METADATA_KEY}' (reserved by safetensors)`)
    const end = offset + tensor.data.length * BYTES_PER_F32
    // Built by hand: JSON.stringify of an object would move integer-like names first.
    entries.push(`${JSON.stringify(tensor.name)}:{"dtype":"F32","shape":[${tensor.shape.join(',')}],"data_offsets":[${offset},${end}]}`)
    offset = end
  }
  const json = new TextEncoder().encode(`{${entries.join(',')}}`)
  const headerLength = Math.ceil(json.length / HEADER_ALIGNMENT) * HEADER_ALIGNMENT
  const bytes = new Uint8Array(HEADER_LENGTH_BYTES + headerLength + offset)
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerLength), true)
  bytes.set(json, HEADER_LENGTH_BYTES)
  bytes.fill(SPACE, HEADER_LENGTH_BYTES + json.length, HEADER_LENGTH_BYTES + headerLength)
  let position = HEADER_LENGTH_BYTES + headerLength
  for (const tensor of weights) {
    writeF32(bytes, position, tensor.data)
    position += tensor.data.length * BYTES_PER_F32
  }
  return bytes
}

export interface DecodeSafetensorsOptions {
  /** Names the file in error messages (a path or CID). */
  source?: string
}

const CORRUPT_HINT = 'The update file is corrupt or was not written as float32 safetensors. Export every tensor as F32 (e.g. safetensors.torch.save_file({k: v.float()})) and send it again.'

/**
 * Parses a float32 safetensors file into weights (copies, in data-section order). Rejects, with
 * the reason: a header length past the end of the file, invalid JSON, a dtype other than F32,
 * data_offsets that do not match shape × 4 bytes or leave gaps/overlaps/trailing bytes, and
 * NaN/±Infinity values. `__metadata__` is checked (string → string) and ignored.
 */
export function decodeSafetensors (bytes: Uint8Array, options: DecodeSafetensorsOptions = {}): ModelWeights {
  const fail = (problem: string, hint = CORRUPT_HINT): InvalidWeightsFileError =>
    new InvalidWeightsFileError(`${options.source != null ? `${options.source}: ` : ''}${problem}`, { hint })
  if (!(bytes instanceof Uint8Array)) throw fail('expected the file\'s bytes as a Uint8Array')
  if (bytes.length < HEADER_LENGTH_BYTES) throw fail(`truncated safetensors file: ${bytes.length} bytes cannot hold the 8-byte header length`)
  const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true)
  if (declared > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) throw fail(`safetensors header length ${declared} is larger than the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit`)
  const headerLength = Number(declared)
  if (HEADER_LENGTH_BYTES + headerLength > bytes.length) {
    throw fail(`safetensors header length ${headerLength} runs past end of file (size ${bytes.length})`, 'The file is truncated (an interrupted transfer?) or not a safetensors file.')
  }
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_LENGTH_BYTES, HEADER_LENGTH_BYTES + headerLength)))
  } catch (err) {
    throw fail(`safetensors header is not valid JSON (${(err as Error).message})`)
  }
  if (!isPlainObject(json)) throw fail('safetensors header is not a JSON object')

  const dataStart = HEADER_LENGTH_BYTES + headerLength
  const dataSize = bytes.length - dataStart
  const entries: Array<{ name: string, shape: number[], begin: number, end: number }> = []
  for (const [name, entry] of Object.entries(json)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(entry) || !Object.values(entry).every((value) => typeof value === 'string')) {
        throw fail(`safetensors ${METADATA_KEY} must be an object of strings`)
      }
      continue
    }
    const bad = (problem: string): InvalidWeightsFileError => fail(`tensor '${name}' ${problem}`)
    if (!isPlainObject(entry)) throw bad('is not a JSON object')
    const { dtype, shape, data_offsets: offsets } = entry
    if (dtype !== 'F32') {
      throw fail(`tensor '${name}' has dtype ${JSON.stringify(dtype)}; federated updates must be F32`, 'Convert every tensor to float32 before saving the update (e.g. tensor.float()).')
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) throw bad(`has an invalid shape ${JSON.stringify(shape)}`)
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger) || offsets[0] > offsets[1]) {
      throw bad(`has invalid data_offsets ${JSON.stringify(offsets)} (expected [begin, end] with 0 <= begin <= end)`)
    }
    const [begin, end] = offsets as [number, number]
    if (end > dataSize) throw bad(`data_offsets [${begin}, ${end}] fall outside the data section (${dataSize} bytes)`)
    const needed = elementCount(shape as number[]) * BYTES_PER_F32
    if (end - begin !== needed) throw bad(`has ${end - begin} bytes of data, but F32 ${JSON.stringify(shape)} needs ${needed}`)
    entries.push({ name, shape: shape as number[], begin, end })
  }
  // The data section must be tiled exactly: no gap, no overlap, nothing after the last tensor.
  // (A duplicated name in the JSON, which JSON.parse silently collapses, shows up as a gap.)
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end)
  let cursor = 0
  for (const entry of entries) {
    if (entry.begin !== cursor) {
      throw fail(entry.begin > cursor
        ? `tensor '${entry.name}' starts at byte ${entry.begin} of the data section, leaving ${entry.begin - cursor} unaccounted bytes after byte ${cursor}`
        : `tensor '${entry.name}' data_offsets [${entry.begin}, ${entry.end}] overlap the previous tensor (which ends at ${cursor})`)
    }
    cursor = entry.end
  }
  if (cursor !== dataSize) throw fail(`${dataSize - cursor} trailing bytes after the last tensor`)

  const weights: ModelWeights = []
  for (const entry of entries) {
    const data = readF32(bytes, dataStart + entry.begin, (entry.end - entry.begin) / BYTES_PER_F32)
    weights.push({ name: entry.name, shape: entry.shape, data })
  }
  const nonFinite = findNonFinite(weights)
  if (nonFinite !== undefined) {
    throw fail(`non-finite value: ${describeNonFinite(nonFinite)}`, 'The sender\'s training diverged (NaN/Infinity); such updates are rejected.')
  }
  return weights
}

function writeF32 (bytes: Uint8Array, position: number, data: Float32Array): void {
  if (LITTLE_ENDIAN_HOST) {
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position)
    return
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + position, data.byteLength)
  for (let i = 0; i < data.length; i++) view.setFloat32(i * BYTES_PER_F32, data[i], true)
}

function readF32 (bytes: Uint8Array, position: number, count: number): Float32Array {
  if (LITTLE_ENDIAN_HOST) {
    // A copy into a fresh, aligned buffer (the data section may start at any offset). Uint8Array's
    // slice copies even for a Node Buffer, whose own slice() is only a view into a shared pool.
    return new Float32Array(Uint8Array.prototype.slice.call(bytes, position, position + count * BYTES_PER_F32).buffer)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + position, count * BYTES_PER_F32)
  const out = new Float32Array(count)
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * BYTES_PER_F32, true)
  return out
}

function sameShape (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i])
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isNonNegativeInteger (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}
