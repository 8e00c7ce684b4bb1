import { concatBytes } from './bytes.ts'

/** Protobuf wire-format encoding, enough to write ONNX ModelProto messages by hand (no protoc). */
const WIRE_VARINT = 0
const WIRE_LENGTH_DELIMITED = 2
const WIRE_FIXED32 = 5

const encoder = new TextEncoder()

export function varint (value: number | bigint): number[] {
  // int64 fields encode negatives as 64-bit two's complement (10 bytes).
  let v = BigInt.asUintN(64, BigInt(value))
  const out: number[] = []
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
  return out
}

export function tag (field: number, wireType: number): number[] {
  return varint((field << 3) | wireType)
}

export function varintField (field: number, value: number | bigint): Uint8Array {
  return new Uint8Array([...tag(field, WIRE_VARINT), ...varint(value)])
}

export function bytesField (field: number, payload: Uint8Array): Uint8Array {
  const head = new Uint8Array([...tag(field, WIRE_LENGTH_DELIMITED), ...varint(payload.length)])
  const out = new Uint8Array(head.length + payload.length)
  out.set(head)
  out.set(payload, head.length)
  return out
}

export function stringField (field: number, value: string): Uint8Array {
  return bytesField(field, encoder.encode(value))
}

export function messageField (field: number, parts: Uint8Array[]): Uint8Array {
  return bytesField(field, concatBytes(parts))
}

export function floatField (field: number, value: number): Uint8Array {
  const out = new Uint8Array(5)
  out.set(tag(field, WIRE_FIXED32))
  new DataView(out.buffer).setFloat32(1, value, true)
  return out
}

export { WIRE_LENGTH_DELIMITED, WIRE_VARINT, WIRE_FIXED32 }
