import crypto from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'

/**
 * libp2p-noise's Node crypto imports the session key anew for every 64 KiB frame; bulk transfers
 * spend a tenth of their CPU on that. Same ChaCha20-Poly1305 and SHA-256 through node:crypto, with
 * one key object per session key.
 */
const keys = new WeakMap<Uint8Array, crypto.KeyObject>()

function keyObject (k: Uint8Array): crypto.KeyObject {
  let key = keys.get(k)
  if (key == null) {
    key = crypto.createSecretKey(k)
    keys.set(k, key)
  }
  return key
}

const TAG_BYTES = 16

export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  hashSHA256 (data) {
    const hash = crypto.createHash('sha256')
    if (data instanceof Uint8Array) return hash.update(data).digest()
    for (const buf of data) hash.update(buf)
    return hash.digest()
  },
  // Plain buffers out: libp2p-noise bundles its own uint8arraylist version, so ours must not leak to it.
  chaCha20Poly1305Encrypt (plaintext, nonce, ad, k) {
    const cipher = crypto.createCipheriv('chacha20-poly1305', keyObject(k), nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const encrypted = cipher.update(plaintext instanceof Uint8Array ? plaintext : plaintext.subarray())
    cipher.final()
    return Buffer.concat([encrypted, cipher.getAuthTag()])
  },
  chaCha20Poly1305Decrypt (ciphertext, nonce, ad, k) {
    const bytes = ciphertext instanceof Uint8Array ? ciphertext : ciphertext.subarray()
    const decipher = crypto.createDecipheriv('chacha20-poly1305', keyObject(k), nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(ad, { plaintextLength: bytes.byteLength - TAG_BYTES })
    decipher.setAuthTag(bytes.subarray(bytes.byteLength - TAG_BYTES))
    const output = decipher.update(bytes.subarray(0, bytes.byteLength - TAG_BYTES))
    // final() throws when the tag does not verify: a tampered frame fails the connection.
    decipher.final()
    return output
  }
}
