import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { logger } from '@libp2p/logger'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { tuneStreams } from './streamTuning.ts'

// yamux's frame types and flags (spec values).
const DATA = 0
const WINDOW_UPDATE = 1
const ACK = 2

interface Header { type: number, flag: number, streamID: number, length: number }

function yamuxStream (state: StreamState, frames: Header[]): YamuxStream & { handleData: (frame: { header: Header, data: Uint8ArrayList }) => void, sendWindowUpdate: () => void } {
  return new YamuxStream({
    id: '1',
    streamId: 1,
    direction: 'inbound',
    log: logger('test:yamux'),
    state,
    getRTT: () => -1,
    sendFrame: (header: Header) => { frames.push(header); return true }
  } as any) as any
}

describe('stream tuning', () => {
  tuneStreams()

  it('yamux: window updates once half the window is used, never leaving the sender without credit', () => {
    const frames: Header[] = []
    const stream = yamuxStream(StreamState.Established, frames)
    stream.addEventListener('message', () => {})
    const window = (stream as any).recvWindow as number
    const messages = 2000
    const size = 3000
    let credit = window
    let updates = 0
    for (let i = 0; i < messages; i++) {
      assert.ok(credit >= size, `the sender may send message ${i}`)
      stream.handleData({ header: { type: DATA, flag: 0, streamID: 1, length: size }, data: new Uint8ArrayList(new Uint8Array(size)) })
      credit -= size
      for (const frame of frames.splice(0)) {
        assert.equal(frame.type, WINDOW_UPDATE)
        credit += frame.length
        updates++
      }
      assert.ok(credit > window / 2 - size, 'at least half a window of credit after each update')
    }
    assert.ok(credit <= window, 'never more credit than the window')
    // Without the tuning: one update per message (2000); with it, one per half window received.
    assert.ok(updates >= 1 && updates <= Math.ceil(messages * size / (window / 2)), `${updates} updates for ${messages} messages`)
  })

  it('yamux: the ACK of a new inbound stream still goes out at once', () => {
    const frames: Header[] = []
    const stream = yamuxStream(StreamState.SYNReceived, frames)
    stream.sendWindowUpdate()
    assert.equal(frames.length, 1)
    assert.equal(frames[0].type, WINDOW_UPDATE)
    assert.equal(frames[0].flag & ACK, ACK)
  })

  it('length-prefixed decoding: the same messages, byte by byte or all at once, with no decode of an empty buffer', () => {
    const payloads = [new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(7), new Uint8Array([9])]
    const uint16 = (data: Uint8ArrayList): number => {
      if (data.byteLength === 0) emptyDecodes++
      if (data.byteLength < 2) throw new RangeError('Could not decode int16BE')
      return data.getUint16(0)
    }
    let emptyDecodes = 0
    const framed = (lengthPrefix: (n: number) => Uint8Array): Uint8Array => new Uint8ArrayList(...payloads.flatMap(p => [lengthPrefix(p.length), p])).subarray()
    const asUint16 = framed(n => new Uint8Array([n >> 8, n & 0xff]))
    const asVarint = framed(n => varint.encode(n))

    for (const [name, bytes, init] of [
      ['uint16', asUint16, { lengthDecoder: uint16, encodingLength: () => 2 }],
      ['varint', asVarint, {}]
    ] as const) {
      for (const chunking of ['whole', 'byte by byte']) {
        const decoder = new LengthPrefixedDecoder(init as any)
        const out: Uint8Array[] = []
        const chunks = chunking === 'whole' ? [bytes] : [...bytes].map(b => new Uint8Array([b]))
        for (const chunk of chunks) for (const message of decoder.decode(chunk)) out.push(message.subarray())
        assert.deepEqual(out, payloads, `${name}, ${chunking}`)
      }
    }
    assert.equal(emptyDecodes, 0)
  })
})
