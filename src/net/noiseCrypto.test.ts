import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { noiseCrypto } from './noiseCrypto.ts'

const bytes = (value: Uint8Array | { subarray: () => Uint8Array }): Uint8Array => value instanceof Uint8Array ? value : value.subarray()

describe('noiseCrypto', () => {
  it('interoperates with libp2p-noise\'s own ChaCha20-Poly1305 and SHA-256, both ways', () => {
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const ad = randomBytes(32)
    const plaintext = randomBytes(65_519)
    const ours = bytes(noiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
    const theirs = bytes(defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
    assert.deepEqual(Buffer.from(ours), Buffer.from(theirs))
    assert.deepEqual(Buffer.from(bytes(noiseCrypto.chaCha20Poly1305Decrypt(theirs, nonce, ad, k))), plaintext)
    assert.deepEqual(Buffer.from(bytes(noiseCrypto.hashSHA256(plaintext))), Buffer.from(bytes(defaultCrypto.hashSHA256(plaintext))))
  })

  it('encrypts and decrypts transport frames piece by piece, the tag anywhere among the pieces', () => {
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const transport = new Uint8Array(0)
    const plaintext = randomBytes(65_519)
    const pieces = new Uint8ArrayList(plaintext.subarray(0, 12), plaintext.subarray(12, 13), plaintext.subarray(13, 40_000), plaintext.subarray(40_000))
    const theirs = Buffer.from(bytes(defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, transport, k)))
    const ours = noiseCrypto.chaCha20Poly1305Encrypt(pieces as any, nonce, transport, k)
    assert.deepEqual(Buffer.from(bytes(ours)), theirs)
    // Split points inside the ciphertext, at the tag's start, inside the tag and at its end.
    for (const split of [1, 30_000, theirs.length - 16, theirs.length - 7, theirs.length - 1]) {
      const list = new Uint8ArrayList(theirs.subarray(0, split), theirs.subarray(split))
      assert.deepEqual(Buffer.from(bytes(noiseCrypto.chaCha20Poly1305Decrypt(list as any, nonce, transport, k))), plaintext, `split at ${split}`)
    }
    const tampered = Buffer.from(theirs)
    tampered[tampered.length - 3] ^= 1
    assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(new Uint8ArrayList(tampered.subarray(0, 100), tampered.subarray(100)) as any, nonce, transport, k))
  })

  it('hands handshake messages and small frames back as one buffer', () => {
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const payload = new Uint8ArrayList(randomBytes(5_000), randomBytes(5_000))
    assert.ok(noiseCrypto.chaCha20Poly1305Encrypt(payload as any, nonce, randomBytes(32), k) instanceof Uint8Array)
    assert.ok(noiseCrypto.chaCha20Poly1305Encrypt(new Uint8ArrayList(randomBytes(6), randomBytes(6)) as any, nonce, new Uint8Array(0), k) instanceof Uint8Array)
  })

  it('refuses a tampered frame', () => {
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const sealed = Buffer.from(bytes(noiseCrypto.chaCha20Poly1305Encrypt(randomBytes(100), nonce, new Uint8Array(0), k)))
    sealed[10] ^= 1
    assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), k))
  })
})
