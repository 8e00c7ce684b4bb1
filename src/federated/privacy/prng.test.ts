import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ChaChaRng, chachaBlock, nonceFromCounter, prgUint32 } from './prng.ts'

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/[\s:]/g, ''), 'hex'))
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

describe('ChaCha20 keystream', () => {
  it('matches the RFC 8439 §2.3.2 block test vector', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i)
    const block = chachaBlock(key, 1, hex('00:00:00:09:00:00:00:4a:00:00:00:00'))
    assert.equal(toHex(block), toHex(hex(`
      10 f1 e7 e4 d1 3b 59 15 50 0f dd 1f a3 20 71 c4
      c7 d1 f4 c7 33 c0 68 03 04 22 aa 9a c3 d4 6c 4e
      d2 82 64 46 07 9f aa 09 14 c2 d7 05 d9 8b 02 a2
      b5 12 9c d1 de 16 4e b9 cb d0 83 e8 a2 50 3c 4e`)))
  })

  it('starts at block 0 and reads little-endian words (RFC 8439 A.1 vector #1: zero key and nonce)', () => {
    const rng = new ChaChaRng(new Uint8Array(32))
    // Keystream 76 b8 e0 ad a0 f1 3d 90 … → words 0xade0b876, 0x903df1a0
    assert.equal(rng.nextUint32(), 0xade0b876)
    assert.equal(rng.nextUint32(), 0x903df1a0)
    assert.equal(toHex(rng.bytes(8)), '405d6ae55386bd28')
  })

  it('matches an independent implementation for a seed and round nonce', () => {
    // Computed with Python's `cryptography` ChaCha20(key = 32 × 0x07, counter 0, nonce = 4 zero
    // bytes + uint64le(3)).
    assert.deepEqual([...prgUint32(new Uint8Array(32).fill(7), 8, nonceFromCounter(3))],
      [0xfb59268f, 0xfe0c430a, 0xdf0ff105, 0xb9af1f82, 0xa5460879, 0x0e120e77, 0x219e685e, 0x140c7fe9])
  })

  it('derives uniforms and Box–Muller Gaussians from the words', () => {
    const rng = new ChaChaRng(new Uint8Array(32).fill(7), nonceFromCounter(3))
    // Words as above: u = ((0xfb59268f >>> 5)·2^26 + (0xfe0c430a >>> 6)) / 2^53 = 0.9818290843991533
    assert.equal(new ChaChaRng(new Uint8Array(32).fill(7), nonceFromCounter(3)).nextFloat64(), 0.9818290843991533)
    // u1 = 1 − 0.98182908…, u2 from the next two words; r = √(−2 ln u1):
    // r·cos 2πu2 = 1.9553799182141898 and r·sin 2πu2 = −2.047524209754491 (Python math, same formula)
    assert.ok(Math.abs(rng.nextGaussian() - 1.9553799182141898) < 1e-15)
    assert.ok(Math.abs(rng.nextGaussian() - -2.047524209754491) < 1e-15)
  })

  it('is reproducible per (seed, nonce) and has the right moments', () => {
    const seed = Uint8Array.from({ length: 32 }, (_, i) => i * 3)
    const a = new Float64Array(100_000)
    const b = new Float64Array(100_000)
    new ChaChaRng(seed, nonceFromCounter(1)).fillGaussian(a)
    new ChaChaRng(seed, nonceFromCounter(1)).fillGaussian(b)
    assert.deepEqual(a, b)
    const c = new Float64Array(4)
    new ChaChaRng(seed, nonceFromCounter(2)).fillGaussian(c)
    assert.notDeepEqual(c, a.subarray(0, 4))
    let mean = 0
    for (const x of a) mean += x / a.length
    let variance = 0
    for (const x of a) variance += (x - mean) ** 2 / a.length
    // Standard errors: 1/√n ≈ 0.003 for the mean, √(2/n) ≈ 0.0045 for the variance.
    assert.ok(Math.abs(mean) < 0.015, `mean ${mean}`)
    assert.ok(Math.abs(variance - 1) < 0.025, `variance ${variance}`)
  })

  it('rejects a seed that is not 32 bytes', () => {
    assert.throws(() => new ChaChaRng(new Uint8Array(16)), /seed must be 32 bytes/)
  })
})
