import crypto from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'

/**
 * libp2p-noise's Node crypto imports the session key anew for every 64 KiB frame; bulk transfers
 * spend a tenth of their CPU on that. Same ChaCha20-Poly1305 and SHA-256 through node:crypto, with
 * one key object per session key.
 *
 * Transport frames also avoid copies: every buffer allocated is memory V8 must account for and
 * collect (by default a full GC every 64 MB of them; see node/runtimeTuning.ts), so a frame is encrypted and
 * decrypted piece by piece as it lies in memory (ChaCha20 is a stream cipher) and handed back as the
 * list of pieces, with the tag appended, rather than joined into one more buffer.
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

type Output = ReturnType<ICryptoInterface['chaCha20Poly1305Encrypt']>

/**
 * Below this a frame is joined into one buffer: small buffers come from Node's pool (no GC pressure),
 * and every piece of a list costs the socket a write of its own.
 */
const JOIN_BELOW_BYTES = 4096

/**
 * Noise transport messages carry an empty associated data; handshake messages carry the handshake
 * hash. Only transport frames are handed back as lists: handshake pieces (keys, payloads) stay plain
 * buffers, as libp2p-noise's handshake code may expect.
 */
function output (pieces: Uint8Array[], bytes: number, ad: Uint8Array): Output {
  if (pieces.length === 1) return pieces[0]
  // libp2p-noise bundles another uint8arraylist version; lists of both versions append each other's pieces.
  if (ad.byteLength === 0 && bytes >= JOIN_BELOW_BYTES) return new Uint8ArrayList(...pieces) as unknown as Output
  return Buffer.concat(pieces, bytes)
}

export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  hashSHA256 (data) {
    const hash = crypto.createHash('sha256')
    if (data instanceof Uint8Array) return hash.update(data).digest()
    for (const buf of data) hash.update(buf)
    return hash.digest()
  },
  chaCha20Poly1305Encrypt (plaintext, nonce, ad, k) {
    const cipher = crypto.createCipheriv('chacha20-poly1305', keyObject(k), nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const pieces: Uint8Array[] = []
    if (plaintext instanceof Uint8Array) {
      pieces.push(cipher.update(plaintext))
    } else {
      for (const piece of plaintext) if (piece.byteLength > 0) pieces.push(cipher.update(piece))
    }
    cipher.final()
    pieces.push(cipher.getAuthTag())
    return output(pieces, plaintext.byteLength + TAG_BYTES, ad)
  },
  chaCha20Poly1305Decrypt (ciphertext, nonce, ad, k) {
    const length = ciphertext.byteLength - TAG_BYTES
    if (length < 0) throw new Error('Noise message shorter than its tag')
    const decipher = crypto.createDecipheriv('chacha20-poly1305', keyObject(k), nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(ad, { plaintextLength: length })
    // A list copies only when the tag straddles two of its pieces.
    decipher.setAuthTag(ciphertext.subarray(length))
    const pieces: Uint8Array[] = []
    if (ciphertext instanceof Uint8Array) {
      pieces.push(decipher.update(ciphertext.subarray(0, length)))
    } else {
      let offset = 0
      for (const piece of ciphertext) {
        if (offset >= length) break
        const take = Math.min(piece.byteLength, length - offset)
        if (take === 0) continue
        pieces.push(decipher.update(take === piece.byteLength ? piece : piece.subarray(0, take)))
        offset += take
      }
    }
    // final() throws when the tag does not verify: a tampered frame fails the connection, and none of
    // its pieces was handed out before.
    decipher.final()
    if (pieces.length === 0) return new Uint8Array(0)
    return output(pieces, length, ad)
  }
}
