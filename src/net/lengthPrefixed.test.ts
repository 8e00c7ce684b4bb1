import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { streamPair } from '@libp2p/utils'
import { lengthPrefixedStream } from './lengthPrefixed.ts'

describe('lengthPrefixedStream', () => {
  it('reads back messages of every prefix length, one after another on one stream', async () => {
    const [outbound, inbound] = await streamPair()
    const writer = lengthPrefixedStream(outbound, { maxDataLength: 4 * 1024 * 1024 })
    const reader = lengthPrefixedStream(inbound, { maxDataLength: 4 * 1024 * 1024 })
    // 1-, 2-, 3- and 4-byte prefixes, and an empty message.
    const sizes = [0, 1, 127, 128, 300, 16_383, 16_384, 70_000, 2_097_152, 3]
    const messages = sizes.map((size, i) => new Uint8Array(size).fill(i + 1))
    const writing = (async () => { for (const message of messages) await writer.write(message) })()
    for (const message of messages) assert.deepEqual((await reader.read()).subarray(), message)
    await writing
    await outbound.close()
    await inbound.close()
  })

  it('refuses a length prefix longer than the largest allowed message needs, and a message over the limit', async () => {
    const [outbound, inbound] = await streamPair()
    const reader = lengthPrefixedStream(inbound, { maxDataLength: 1000 })
    // 1000 needs a 2-byte prefix: a third continuation byte is refused without waiting for more.
    outbound.send(new Uint8Array([0x80, 0x80, 0x80]))
    await assert.rejects(reader.read(), /length prefix of more than 2 bytes/)

    const [out2, in2] = await streamPair()
    const reader2 = lengthPrefixedStream(in2, { maxDataLength: 1000 })
    out2.send(new Uint8Array([0xe9, 0x07])) // 1001
    await assert.rejects(reader2.read(), /too long/)
  })
})
