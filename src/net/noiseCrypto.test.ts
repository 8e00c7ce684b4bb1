import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
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

  it('refuses a tampered frame', () => {
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const sealed = Buffer.from(bytes(noiseCrypto.chaCha20Poly1305Encrypt(randomBytes(100), nonce, new Uint8Array(0), k)))
    sealed[10] ^= 1
    assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), k))
  })
})
