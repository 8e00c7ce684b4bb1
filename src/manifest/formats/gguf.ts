/**
 * Reads GGUF (llama.cpp) metadata: the header, the typed key/value metadata and the tensor
 * infos, all little-endian and streamed from disk. Tensor data is never read, only bounds-checked.
 * Layout: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
 */
import { ModelFileReader, type ModelInput, elementCount, safeInteger } from './fileReader.ts'
import type { GgufMetadata, GgufValue, ReadFormatOptions } from './types.ts'

const FORMAT = 'GGUF'

/** 'GGUF' as bytes. */
export const GGUF_MAGIC = new Uint8Array([0x47, 0x47, 0x55, 0x46])
/** v1 used 32-bit counts and lengths; v2 moved to 64-bit and v3 only added big-endian files. */
const SUPPORTED_VERSIONS = [2, 3]
const DEFAULT_ALIGNMENT = 32
const ALIGNMENT_KEY = 'general.alignment'
/** Longer arrays (tokenizer vocabularies, merges, scores) are summarized, not copied into manifests. */
const MAX_INLINE_ARRAY_ITEMS = 64
/** Chat templates can be tens of KiB; a string claiming more than this is corruption. */
const MAX_STRING_BYTES = 16 * 1024 * 1024
/** GGML_MAX_DIMS: ggml tensors have at most 4 dimensions. */
const MAX_TENSOR_DIMS = 4

const TYPE_STRING = 8
const TYPE_ARRAY = 9

/** GGUF metadata value types; `size` is fixed for scalars and the minimum on disk for string/array. */
const VALUE_TYPES: Record<number, { name: string, size: number, fixed: boolean }> = {
  0: { name: 'uint8', size: 1, fixed: true },
  1: { name: 'int8', size: 1, fixed: true },
  2: { name: 'uint16', size: 2, fixed: true },
  3: { name: 'int16', size: 2, fixed: true },
  4: { name: 'uint32', size: 4, fixed: true },
  5: { name: 'int32', size: 4, fixed: true },
  6: { name: 'float32', size: 4, fixed: true },
  7: { name: 'bool', size: 1, fixed: true },
  [TYPE_STRING]: { name: 'string', size: 8, fixed: false },
  [TYPE_ARRAY]: { name: 'array', size: 12, fixed: false },
  10: { name: 'uint64', size: 8, fixed: true },
  11: { name: 'int64', size: 8, fixed: true },
  12: { name: 'float64', size: 8, fixed: true }
}

/** ggml tensor types: elements per block and bytes per block (from gguf-py's GGML_QUANT_SIZES). */
const GGML_TYPES: Record<number, { name: string, blockSize: number, typeSize: number }> = {
  0: { name: 'F32', blockSize: 1, typeSize: 4 },
  1: { name: 'F16', blockSize: 1, typeSize: 2 },
  2: { name: 'Q4_0', blockSize: 32, typeSize: 18 },
  3: { name: 'Q4_1', blockSize: 32, typeSize: 20 },
  6: { name: 'Q5_0', blockSize: 32, typeSize: 22 },
  7: { name: 'Q5_1', blockSize: 32, typeSize: 24 },
  8: { name: 'Q8_0', blockSize: 32, typeSize: 34 },
  9: { name: 'Q8_1', blockSize: 32, typeSize: 40 },
  10: { name: 'Q2_K', blockSize: 256, typeSize: 84 },
  11: { name: 'Q3_K', blockSize: 256, typeSize: 110 },
  12: { name: 'Q4_K', blockSize: 256, typeSize: 144 },
  13: { name: 'Q5_K', blockSize: 256, typeSize: 176 },
  14: { name: 'Q6_K', blockSize: 256, typeSize: 210 },
  15: { name: 'Q8_K', blockSize: 256, typeSize: 292 },
  16: { name: 'IQ2_XXS', blockSize: 256, typeSize: 66 },
  17: { name: 'IQ2_XS', blockSize: 256, typeSize: 74 },
  18: { name: 'IQ3_XXS', blockSize: 256, typeSize: 98 },
  19: { name: 'IQ1_S', blockSize: 256, typeSize: 50 },
  20: { name: 'IQ4_NL', blockSize: 32, typeSize: 18 },
  21: { name: 'IQ3_S', blockSize: 256, typeSize: 110 },
  22: { name: 'IQ2_S', blockSize: 256, typeSize: 82 },
  23: { name: 'IQ4_XS', blockSize: 256, typeSize: 136 },
  24: { name: 'I8', blockSize: 1, typeSize: 1 },
  25: { name: 'I16', blockSize: 1, typeSize: 2 },
  26: { name: 'I32', blockSize: 1, typeSize: 4 },
  27: { name: 'I64', blockSize: 1, typeSize: 8 },
  28: { name: 'F64', blockSize: 1, typeSize: 8 },
  29: { name: 'IQ1_M', blockSize: 256, typeSize: 56 },
  30: { name: 'BF16', blockSize: 1, typeSize: 2 },
  34: { name: 'TQ1_0', blockSize: 256, typeSize: 54 },
  35: { name: 'TQ2_0', blockSize: 256, typeSize: 66 },
  39: { name: 'MXFP4', blockSize: 32, typeSize: 17 }
}

const CORRUPT_HINT = 'The GGUF file is corrupt or was written by a broken converter. Download or convert it again with a current llama.cpp.'

interface TensorEntry { name: string, dims: number[], type: number, offset: number }

export async function readGgufMetadata (path: ModelInput, options: ReadFormatOptions = {}): Promise<GgufMetadata> {
  return await ModelFileReader.with(path, FORMAT, options.signal, async (reader) => {
    const cursor = new Cursor(reader, 0)
    const version = await readPreamble(cursor)
    const tensorCount = await readCount(cursor, 'tensor_count', 'tensors')
    const kvCount = await readCount(cursor, 'metadata_kv_count', 'metadata entries')
    const metadata = await readMetadata(cursor, kvCount)
    const alignment = alignmentOf(reader, metadata)
    const tensors: TensorEntry[] = []
    for (let i = 0; i < tensorCount; i++) tensors.push(await readTensorInfo(cursor, i))
    const dataStart = alignUp(cursor.pos, alignment)
    for (const tensor of tensors) checkTensorData(reader, tensor, dataStart, alignment)
    return {
      format: 'gguf',
      version,
      tensorCount,
      parameterCount: tensors.reduce((sum, tensor) => sum + elementCount(tensor.dims), 0),
      metadata
    }
  })
}

/** Checks the magic and returns the format version. */
async function readPreamble (cursor: Cursor): Promise<number> {
  const reader = cursor.reader
  const view = await cursor.take(GGUF_MAGIC.length, 'magic')
  const magic = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice()
  if (!magic.every((byte, i) => byte === GGUF_MAGIC[i])) {
    throw reader.invalid(`not a GGUF file: it starts with bytes ${hex(magic)}, expected the magic 'GGUF' (${hex(GGUF_MAGIC)})`, {
      hint: 'Check the file really is GGUF. Older GGML/GGJT files must be converted with llama.cpp\'s conversion scripts.'
    })
  }
  const version = await cursor.u32('version')
  if (SUPPORTED_VERSIONS.includes(version)) return version
  const swapped = new DataView(new Uint32Array([version]).buffer).getUint32(0, false)
  if (SUPPORTED_VERSIONS.includes(swapped)) {
    throw reader.invalid(`big-endian GGUF files are not supported (version ${swapped}, big-endian)`, { hint: 'Convert the model to a little-endian GGUF (the default of llama.cpp\'s converters).' })
  }
  throw reader.invalid(`unsupported GGUF version ${version}`, {
    details: `Supported versions: ${SUPPORTED_VERSIONS.join(', ')}.`,
    hint: 'Re-convert the model with a current llama.cpp, which writes GGUF v3.'
  })
}

/** A u64 count; every item takes at least one byte, so a count beyond the file size is corruption. */
async function readCount (cursor: Cursor, field: string, items: string): Promise<number> {
  const offset = cursor.pos
  const count = await cursor.u64(field)
  if (count > BigInt(cursor.reader.size)) {
    throw cursor.reader.invalid(`GGUF header declares ${count} ${items} (${field} at offset ${offset}), more than a ${cursor.reader.size}-byte file can hold`, { hint: CORRUPT_HINT })
  }
  return Number(count)
}

async function readMetadata (cursor: Cursor, count: number): Promise<Record<string, GgufValue>> {
  const entries: Array<[string, GgufValue]> = []
  for (let i = 0; i < count; i++) {
    const key = await cursor.string(`key of metadata entry #${i}`)
    const type = await cursor.u32(`value type of '${key}'`)
    entries.push([key, await readValue(cursor, type, key)])
  }
  // fromEntries makes own properties even for a key like '__proto__'.
  return Object.fromEntries(entries)
}

async function readValue (cursor: Cursor, type: number, key: string): Promise<GgufValue> {
  if (type === TYPE_STRING) return await cursor.string(`string value of '${key}'`)
  if (type === TYPE_ARRAY) return await readArray(cursor, key)
  const info = valueType(cursor, type, key)
  const view = await cursor.take(info.size, `${info.name} value of '${key}'`)
  return decodeScalar(type, view)
}

/** Short arrays are returned whole; long ones are skipped over and summarized as {type, length}. */
async function readArray (cursor: Cursor, key: string): Promise<GgufValue> {
  const itemType = await cursor.u32(`item type of array '${key}'`)
  const info = valueType(cursor, itemType, key)
  const countOffset = cursor.pos
  const count = await cursor.u64(`length of array '${key}'`)
  if (count * BigInt(info.size) > BigInt(cursor.reader.size - cursor.pos)) {
    throw cursor.reader.truncated(`array '${key}' of ${count} ${info.name} items`, countOffset)
  }
  const length = Number(count)
  if (length > MAX_INLINE_ARRAY_ITEMS) {
    await skipItems(cursor, itemType, length, key)
    return { type: info.name, length }
  }
  const items: GgufValue[] = []
  for (let i = 0; i < length; i++) items.push(await readValue(cursor, itemType, `${key}[${i}]`))
  return items
}

async function skipItems (cursor: Cursor, type: number, count: number, key: string): Promise<void> {
  const info = valueType(cursor, type, key)
  if (info.fixed) {
    cursor.skip(count * info.size, `${count} ${info.name} items of '${key}'`)
  } else if (type === TYPE_STRING) {
    for (let i = 0; i < count; i++) await cursor.skipString(`string ${key}[${i}]`)
  } else {
    for (let i = 0; i < count; i++) {
      const itemType = await cursor.u32(`item type of array ${key}[${i}]`)
      const countOffset = cursor.pos
      const length = await cursor.u64(`length of array ${key}[${i}]`)
      if (length > BigInt(cursor.reader.size - cursor.pos)) throw cursor.reader.truncated(`array ${key}[${i}] of ${length} items`, countOffset)
      await skipItems(cursor, itemType, Number(length), `${key}[${i}]`)
    }
  }
}

function valueType (cursor: Cursor, type: number, key: string): { name: string, size: number, fixed: boolean } {
  const info = VALUE_TYPES[type]
  if (info === undefined) {
    throw cursor.reader.invalid(`GGUF metadata '${key}' has unknown value type ${type} (before offset ${cursor.pos})`, { hint: CORRUPT_HINT })
  }
  return info
}

function decodeScalar (type: number, view: DataView): GgufValue {
  switch (type) {
    case 0: return view.getUint8(0)
    case 1: return view.getInt8(0)
    case 2: return view.getUint16(0, true)
    case 3: return view.getInt16(0, true)
    case 4: return view.getUint32(0, true)
    case 5: return view.getInt32(0, true)
    case 6: return shortestFloat32(view.getFloat32(0, true))
    case 7: return view.getUint8(0) !== 0
    case 10: return safeInteger(view.getBigUint64(0, true))
    case 11: return safeInteger(view.getBigInt64(0, true))
    default: return finite(view.getFloat64(0, true))
  }
}

/**
 * A float32 widened to a double prints as 0.10000000149011612; the shortest decimal that reads
 * back as the same float32 (0.1) is what the model author wrote.
 */
function shortestFloat32 (value: number): number | string {
  if (!Number.isFinite(value)) return finite(value)
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(value.toPrecision(digits))
    if (Math.fround(candidate) === value) return candidate
  }
  return value
}

/** DAG-CBOR cannot encode NaN or ±Infinity, so they are kept as strings. */
function finite (value: number): number | string {
  return Number.isFinite(value) ? value : String(value)
}

function alignmentOf (reader: ModelFileReader, metadata: Record<string, GgufValue>): number {
  if (!Object.hasOwn(metadata, ALIGNMENT_KEY)) return DEFAULT_ALIGNMENT
  const alignment = metadata[ALIGNMENT_KEY]
  if (typeof alignment !== 'number' || !Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw reader.invalid(`GGUF ${ALIGNMENT_KEY} is ${JSON.stringify(alignment)}, expected a power of two`, { hint: CORRUPT_HINT })
  }
  return alignment
}

async function readTensorInfo (cursor: Cursor, index: number): Promise<TensorEntry> {
  const reader = cursor.reader
  const name = await cursor.string(`name of tensor #${index}`)
  const nDims = await cursor.u32(`dimension count of tensor '${name}'`)
  if (nDims > MAX_TENSOR_DIMS) {
    throw reader.invalid(`GGUF tensor '${name}' has ${nDims} dimensions, more than ggml's maximum of ${MAX_TENSOR_DIMS}`, { hint: CORRUPT_HINT })
  }
  const dims: number[] = []
  for (let d = 0; d < nDims; d++) dims.push(await cursorSafeU64(cursor, `dimension ${d} of tensor '${name}'`))
  const type = await cursor.u32(`type of tensor '${name}'`)
  const offset = await cursorSafeU64(cursor, `data offset of tensor '${name}'`)
  return { name, dims, type, offset }
}

async function cursorSafeU64 (cursor: Cursor, what: string): Promise<number> {
  const offset = cursor.pos
  const value = await cursor.u64(what)
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw cursor.reader.invalid(`GGUF ${what} at offset ${offset} is ${value}, larger than any real file`, { hint: CORRUPT_HINT })
  }
  return Number(value)
}

/** A tensor's data must start aligned and end inside the file; unknown (newer) types are only alignment-checked. */
function checkTensorData (reader: ModelFileReader, tensor: TensorEntry, dataStart: number, alignment: number): void {
  if (tensor.offset % alignment !== 0) {
    throw reader.invalid(`GGUF tensor '${tensor.name}' data offset ${tensor.offset} is not a multiple of the alignment ${alignment}`, { hint: CORRUPT_HINT })
  }
  const type = GGML_TYPES[tensor.type]
  if (type === undefined) return
  const rowLength = tensor.dims[0] ?? 1
  if (rowLength % type.blockSize !== 0) {
    throw reader.invalid(`GGUF tensor '${tensor.name}' has first dimension ${rowLength}, not a multiple of the ${type.name} block size ${type.blockSize}`, { hint: CORRUPT_HINT })
  }
  const bytes = elementCount(tensor.dims) / type.blockSize * type.typeSize
  if (dataStart + tensor.offset + bytes > reader.size) {
    throw reader.truncated(`data of tensor '${tensor.name}' (${type.name}, ${bytes} bytes)`, dataStart + tensor.offset)
  }
}

function alignUp (offset: number, alignment: number): number {
  return Math.ceil(offset / alignment) * alignment
}

function hex (bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join(' ')
}

/** Sequential little-endian reads from a position in the file. */
class Cursor {
  readonly reader: ModelFileReader
  pos: number

  constructor (reader: ModelFileReader, pos: number) {
    this.reader = reader
    this.pos = pos
  }

  /** The next `length` bytes; the view is only valid until the next read. */
  async take (length: number, what: string): Promise<DataView> {
    const bytes = await this.reader.bytes(this.pos, length, what)
    this.pos += length
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  skip (length: number, what: string): void {
    if (this.pos + length > this.reader.size) throw this.reader.truncated(what, this.pos)
    this.pos += length
  }

  async u32 (what: string): Promise<number> {
    return (await this.take(4, what)).getUint32(0, true)
  }

  async u64 (what: string): Promise<bigint> {
    return (await this.take(8, what)).getBigUint64(0, true)
  }

  async string (what: string): Promise<string> {
    const length = await this.stringLength(what)
    if (length > MAX_STRING_BYTES) {
      throw this.reader.invalid(`GGUF ${what} at offset ${this.pos - 8} is ${length} bytes, more than the ${MAX_STRING_BYTES}-byte limit`, { hint: CORRUPT_HINT })
    }
    const bytes = await this.take(length, what)
    return new TextDecoder().decode(bytes)
  }

  async skipString (what: string): Promise<void> {
    // Not `this.pos += await ...`: that would read pos before the length is consumed.
    const length = await this.stringLength(what)
    this.pos += length
  }

  /** Reads a string's u64 length and checks the bytes it announces are in the file. */
  private async stringLength (what: string): Promise<number> {
    const offset = this.pos
    const length = await this.u64(`length of ${what}`)
    if (length > BigInt(this.reader.size - this.pos)) {
      throw this.reader.truncated(`${what} (${length} bytes)`, offset)
    }
    return Number(length)
  }
}
