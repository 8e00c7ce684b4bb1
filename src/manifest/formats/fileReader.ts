import { fileByteSource, type ByteSource } from '../../utils/byteSource.ts'
import { InvalidModelFileError } from '../../errors.ts'
import type { BaseErrorParameters } from '../../errors.ts'

/**
 * How much one physical read fetches. Format headers are walked a few bytes at a time, so a
 * read-ahead window turns thousands of tiny reads into a handful; it is small enough that
 * skipping over tensor data (a seek to a far offset) wastes little.
 */
const WINDOW_BYTES = 64 * 1024

/** A model file on disk (its path) or bytes from elsewhere named for messages. */
export type ModelInput = string | { name: string, source: ByteSource }

const TRUNCATED_HINT = 'The file was probably cut short by an interrupted download or copy: fetch or export it again.'

/**
 * Positioned, buffered reads of one model file. Readers never hold more than the window plus
 * what they explicitly ask for, so a many-GiB file costs a few KiB of memory.
 */
export class ModelFileReader {
  readonly path: string
  readonly format: string
  readonly size: number
  private readonly source: ByteSource
  private readonly signal: AbortSignal | undefined
  private window: Uint8Array = new Uint8Array(0)
  private windowStart = 0

  private constructor (path: string, format: string, size: number, source: ByteSource, signal: AbortSignal | undefined) {
    this.path = path
    this.format = format
    this.size = size
    this.source = source
    this.signal = signal
  }

  /**
   * Opens `input` — a file path, or a named byte source such as a stored DAG — as a file of
   * `format` (a label for messages, e.g. 'ONNX'); a 0-byte file is an error.
   */
  static async open (input: ModelInput, format: string, signal?: AbortSignal): Promise<ModelFileReader> {
    signal?.throwIfAborted()
    const path = typeof input === 'string' ? input : input.name
    const source = typeof input === 'string' ? await fileByteSource(input) : input.source
    try {
      if (source.size === 0) {
        throw new InvalidModelFileError(path, 'file is empty', {
          details: `A ${format} model file cannot be 0 bytes.`,
          hint: TRUNCATED_HINT
        })
      }
      return new ModelFileReader(path, format, source.size, source, signal)
    } catch (err) {
      await source.close?.()
      throw err
    }
  }

  /** Opens the file, runs `fn`, and always closes the file. */
  static async with<T> (input: ModelInput, format: string, signal: AbortSignal | undefined, fn: (reader: ModelFileReader) => Promise<T>): Promise<T> {
    const reader = await ModelFileReader.open(input, format, signal)
    try {
      return await fn(reader)
    } finally {
      await reader.close()
    }
  }

  async close (): Promise<void> {
    await this.source.close?.()
  }

  /**
   * Bytes [offset, offset + length). `what` names the thing being read, for the error when it
   * runs past the end of the file. The returned view may be overwritten by the next call: copy
   * it (or decode it) before reading again.
   */
  async bytes (offset: number, length: number, what: string): Promise<Uint8Array> {
    if (offset + length > this.size) throw this.truncated(what, offset)
    if (offset >= this.windowStart && offset + length <= this.windowStart + this.window.length) {
      return this.window.subarray(offset - this.windowStart, offset - this.windowStart + length)
    }
    if (length > WINDOW_BYTES) return await this.readExact(offset, length, what)
    this.window = await this.readExact(offset, Math.min(WINDOW_BYTES, this.size - offset), what)
    this.windowStart = offset
    return this.window.subarray(0, length)
  }

  /** The error for something that starts at `offset` but would end past the end of the file. */
  truncated (what: string, offset: number): InvalidModelFileError {
    return new InvalidModelFileError(this.path,
      `truncated ${this.format} file: ${what} at offset ${offset} runs past end of file (size ${this.size})`,
      { hint: TRUNCATED_HINT })
  }

  /** An error about this file's contents. */
  invalid (shortMessage: string, parameters: BaseErrorParameters = {}): InvalidModelFileError {
    return new InvalidModelFileError(this.path, shortMessage, parameters)
  }

  private async readExact (offset: number, length: number, what: string): Promise<Uint8Array> {
    this.signal?.throwIfAborted()
    const buffer = await this.source.read(offset, length, { signal: this.signal })
    // The file shrank while we were reading it: same outcome as a truncated file.
    if (buffer.byteLength < length) throw this.truncated(what, offset)
    return buffer
  }
}

/** `n` as a plain number when it is exactly representable, else its decimal string (for u64/i64 values). */
export function safeInteger (n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n.toString()
}

/** Product of dims; an empty shape is a scalar (one element). */
export function elementCount (dims: readonly number[]): number {
  return dims.reduce((product, dim) => product * dim, 1)
}
