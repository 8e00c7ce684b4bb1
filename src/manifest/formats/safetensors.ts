/**
 * Reads safetensors metadata: an 8-byte little-endian header length, a JSON header describing
 * every tensor (dtype, shape, byte range in the data section) plus optional `__metadata__`,
 * then the raw tensor bytes, which are never read.
 */
import { ModelFileReader, type ModelInput, elementCount } from './fileReader.ts'
import type { ReadFormatOptions, SafetensorsMetadata, TensorInfo } from './types.ts'

const FORMAT = 'safetensors'

const HEADER_LENGTH_BYTES = 8
/** The reference implementation refuses headers above 100 MB; anything larger is not a header. */
const MAX_HEADER_BYTES = 100 * 1000 * 1000
const METADATA_KEY = '__metadata__'

/** Bits per element of each dtype the safetensors spec defines (some float8/float4/float6 are sub-byte). */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  F64: 64,
  I64: 64,
  U64: 64,
  C64: 64
}

const CORRUPT_HINT = 'The safetensors header does not describe this file correctly: the file is corrupt or was not written by a safetensors library. Export it again (e.g. with safetensors.torch.save_file).'

interface TensorEntry extends TensorInfo {
  shape: number[]
  begin: number
  end: number
}

export async function readSafetensorsMetadata (path: ModelInput, options: ReadFormatOptions = {}): Promise<SafetensorsMetadata> {
  return await ModelFileReader.with(path, FORMAT, options.signal, async (reader) => {
    const header = await readHeader(reader)
    const dataSize = reader.size - HEADER_LENGTH_BYTES - header.length
    const { metadata, tensors } = parseHeader(reader, header.json)
    for (const tensor of tensors) checkTensorBytes(reader, tensor, dataSize)
    // The file's layout order, not the JSON key order (which puts integer-like names first).
    tensors.sort((a, b) => a.begin - b.begin || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    return {
      format: 'safetensors',
      tensors: tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
      parameterCount: tensors.reduce((sum, tensor) => sum + elementCount(tensor.shape), 0),
      metadata
    }
  })
}

async function readHeader (reader: ModelFileReader): Promise<{ length: number, json: unknown }> {
  if (reader.size < HEADER_LENGTH_BYTES) {
    throw reader.truncated(`the ${HEADER_LENGTH_BYTES}-byte header length`, 0)
  }
  const prefix = await reader.bytes(0, HEADER_LENGTH_BYTES, 'header length')
  const declared = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength).getBigUint64(0, true)
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw reader.invalid(`safetensors header length ${declared} is larger than the ${MAX_HEADER_BYTES}-byte limit`, {
      details: 'The first 8 bytes of a safetensors file give the length of its JSON header; this value is absurd.',
      hint: 'The file is probably not a safetensors file (check its real format) or is corrupt.'
    })
  }
  const length = Number(declared)
  if (HEADER_LENGTH_BYTES + length > reader.size) {
    throw reader.invalid(`safetensors header length ${length} runs past end of file (size ${reader.size})`, {
      hint: 'The file is truncated (an interrupted download or copy?) or not a safetensors file.'
    })
  }
  const bytes = await reader.bytes(HEADER_LENGTH_BYTES, length, 'JSON header')
  return { length, json: parseJson(reader, bytes) }
}

function parseJson (reader: ModelFileReader, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw reader.invalid('safetensors header is not valid JSON', {
      details: (err as Error).message,
      hint: CORRUPT_HINT
    })
  }
}

function parseHeader (reader: ModelFileReader, json: unknown): { metadata: Record<string, string>, tensors: TensorEntry[] } {
  if (!isPlainObject(json)) {
    throw reader.invalid('safetensors header is not a JSON object', { hint: CORRUPT_HINT })
  }
  let metadata: Record<string, string> = {}
  const tensors: TensorEntry[] = []
  for (const [name, entry] of Object.entries(json)) {
    if (name === METADATA_KEY) metadata = parseMetadata(reader, entry)
    else tensors.push(parseTensor(reader, name, entry))
  }
  return { metadata, tensors }
}

function parseMetadata (reader: ModelFileReader, value: unknown): Record<string, string> {
  if (!isPlainObject(value)) {
    throw reader.invalid(`safetensors ${METADATA_KEY} is not a JSON object`, { hint: CORRUPT_HINT })
  }
  const entries = Object.entries(value)
  const bad = entries.find(([, v]) => typeof v !== 'string')
  if (bad !== undefined) {
    throw reader.invalid(`safetensors ${METADATA_KEY} value for '${bad[0]}' is not a string`, {
      details: 'The safetensors format only allows string-to-string metadata.',
      hint: CORRUPT_HINT
    })
  }
  // fromEntries makes own properties even for keys like '__proto__'.
  return Object.fromEntries(entries) as Record<string, string>
}

function parseTensor (reader: ModelFileReader, name: string, entry: unknown): TensorEntry {
  const fail = (problem: string): Error => reader.invalid(`safetensors tensor '${name}' ${problem}`, { hint: CORRUPT_HINT })
  if (!isPlainObject(entry)) throw fail('is not a JSON object')
  const { dtype, shape, data_offsets: offsets } = entry
  if (typeof dtype !== 'string') throw fail('has no string dtype')
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw fail(`has an invalid shape ${JSON.stringify(shape)} (expected an array of non-negative integers)`)
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger) || offsets[0] > offsets[1]) {
    throw fail(`has invalid data_offsets ${JSON.stringify(offsets)} (expected [begin, end] with 0 <= begin <= end)`)
  }
  return { name, dtype, shape, begin: offsets[0], end: offsets[1] }
}

/** The tensor's byte range must lie in the data section and be exactly dtype × shape bytes. */
function checkTensorBytes (reader: ModelFileReader, tensor: TensorEntry, dataSize: number): void {
  if (tensor.end > dataSize) {
    throw reader.invalid(`safetensors tensor '${tensor.name}' data_offsets [${tensor.begin}, ${tensor.end}] fall outside the data section (${dataSize} bytes)`, {
      hint: 'The file is truncated (an interrupted download or copy?) or its header is corrupt. Fetch or export it again.'
    })
  }
  const bits = DTYPE_BITS[tensor.dtype]
  // A dtype newer than this table: its size is unknown, so only the range check applies.
  if (bits === undefined) return
  const expected = Math.ceil(elementCount(tensor.shape) * bits / 8)
  if (tensor.end - tensor.begin !== expected) {
    throw reader.invalid(`safetensors tensor '${tensor.name}' has ${tensor.end - tensor.begin} bytes of data, but ${tensor.dtype} ${JSON.stringify(tensor.shape)} needs ${expected}`, { hint: CORRUPT_HINT })
  }
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isNonNegativeInteger (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}
