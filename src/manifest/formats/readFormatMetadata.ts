import { fileByteSource } from '../../utils/byteSource.ts'
import type { ModelInput } from './fileReader.ts'
import { extname } from 'node:path'
import { GGUF_MAGIC, readGgufMetadata } from './gguf.ts'
import { readOnnxMetadata } from './onnx.ts'
import { readSafetensorsMetadata } from './safetensors.ts'
import type { FormatMetadata, ReadFormatOptions } from './types.ts'

type FormatReader = (input: ModelInput, options: ReadFormatOptions) => Promise<FormatMetadata>

/** Model formats recognised by file extension (compared case-insensitively). */
const READERS_BY_EXTENSION: Record<string, FormatReader> = {
  '.onnx': readOnnxMetadata,
  '.safetensors': readSafetensorsMetadata,
  '.gguf': readGgufMetadata
}

/**
 * Formats with a magic number, tried when the extension says nothing: a GGUF file downloaded
 * without its extension is still a GGUF file. ONNX (plain protobuf) and safetensors (a length
 * prefix) have no magic, so a wrong guess there would misreport arbitrary files as corrupt.
 */
const READERS_BY_MAGIC: Array<{ magic: Uint8Array, read: FormatReader }> = [
  { magic: GGUF_MAGIC, read: readGgufMetadata }
]

/**
 * Reads format metadata from a model file, choosing the reader by extension, then by magic
 * bytes. Returns undefined for files in no known format (they are shipped as opaque blobs).
 * Throws InvalidModelFileError when a file claims a format but its bytes do not match it.
 */
export async function readFormatMetadata (input: ModelInput, options: ReadFormatOptions = {}): Promise<FormatMetadata | undefined> {
  const name = typeof input === 'string' ? input : input.name
  const byExtension = READERS_BY_EXTENSION[extname(name).toLowerCase()]
  if (byExtension !== undefined) return await byExtension(input, options)
  const byMagic = await readerByMagic(input, options.signal)
  return byMagic === undefined ? undefined : await byMagic(input, options)
}

async function readerByMagic (input: ModelInput, signal: AbortSignal | undefined): Promise<FormatReader | undefined> {
  signal?.throwIfAborted()
  const longest = Math.max(...READERS_BY_MAGIC.map(({ magic }) => magic.length))
  const source = typeof input === 'string' ? await fileByteSource(input) : input.source
  try {
    const head = await source.read(0, longest, { signal })
    const match = READERS_BY_MAGIC.find(({ magic }) => head.byteLength >= magic.length && magic.every((byte, i) => head[i] === byte))
    return match?.read
  } finally {
    if (typeof input === 'string') await source.close?.()
  }
}
