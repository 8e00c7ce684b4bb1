import { InvalidMessageLengthError, lpStream, type LengthPrefixedStream, type LengthPrefixedStreamOpts } from '@libp2p/utils'
import type { MessageStream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/**
 * lpStream reads a length prefix a byte at a time and learns that a varint is not complete yet
 * from the RangeError its decoder throws — a new error, stack trace and all, for every message
 * whose length needs two bytes or more (any message over 127 bytes). This decoder throws one
 * shared RangeError instead (no stack to capture), and refuses a prefix longer than
 * `maxDataLength` can need at once (lpStream would keep reading bytes into it).
 */
export function lengthPrefixedStream<T extends MessageStream> (stream: T, options: Partial<LengthPrefixedStreamOpts> & { maxDataLength: number }): LengthPrefixedStream<T> {
  const maxLengthLength = varintLength(options.maxDataLength)
  return lpStream(stream, { ...options, maxLengthLength, lengthDecoder: (data) => decodeLengthPrefix(data, maxLengthLength) })
}

const INCOMPLETE = new RangeError('The length prefix is not complete yet.')

function decodeLengthPrefix (data: Uint8ArrayList, maxLengthLength: number): number {
  const length = data.byteLength
  if (length === 0 || (data.get(length - 1) & 0x80) !== 0) {
    if (length >= maxLengthLength) throw new InvalidMessageLengthError(`A length prefix of more than ${maxLengthLength} bytes.`)
    throw INCOMPLETE
  }
  let value = 0
  let scale = 1
  for (let i = 0; i < length; i++) {
    value += (data.get(i) & 0x7f) * scale
    scale *= 128
  }
  return value
}

function varintLength (value: number): number {
  let bytes = 1
  for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) bytes++
  return bytes
}
