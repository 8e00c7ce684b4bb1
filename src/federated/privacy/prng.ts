/**
 * Deterministic randomness from a 32-byte seed: the ChaCha20 keystream (RFC 8439: 32-byte key =
 * the seed, 96-bit nonce, 32-bit block counter starting at 0), read as little-endian uint32
 * words. Every aggregator given the same seed draws the same noise, and any ChaCha20
 * implementation (libsodium, Python's `cryptography`, …) reproduces the stream.
 *
 * Gaussians use Box–Muller over 53-bit uniforms; Math.log/cos/sin are not required to be
 * correctly rounded by ECMAScript, but V8 uses the same fdlibm port on every platform, so Node
 * aggregators agree bit for bit (a non-V8 implementation must use fdlibm too).
 */
import { createCipheriv } from 'node:crypto'
import { InvalidInputError } from '../../errors.ts'

export const SEED_BYTES = 32
export const NONCE_BYTES = 12
const BLOCK_BYTES = 64
/** Keystream bytes produced per refill. */
const CHUNK_BYTES = 64 * 1024
const ZEROS = new Uint8Array(CHUNK_BYTES)
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const TWO_POW_26 = 67108864
const TWO_POW_53 = 9007199254740992

export function checkSeed (seed: unknown, label = 'seed'): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw new InvalidInputError(`${label} must be ${SEED_BYTES} bytes (a Uint8Array)`, {
      hint: 'Use 32 bytes from a CSPRNG (crypto.randomBytes(32)) or derived with SHA-256 from a shared secret.'
    })
  }
  return seed
}

/** A 12-byte nonce holding `counter` as a little-endian 64-bit integer in its last 8 bytes. */
export function nonceFromCounter (counter: number | bigint): Uint8Array {
  const value = BigInt(counter)
  if (value < 0n || value >= 2n ** 64n) throw new InvalidInputError(`nonce counter ${value} is outside 0 … 2^64 − 1`)
  const nonce = new Uint8Array(NONCE_BYTES)
  new DataView(nonce.buffer).setBigUint64(4, value, true)
  return nonce
}

/**
 * ChaCha20 keystream generator. Not a cryptographic API for secrecy of messages: a reproducible
 * stream of uniform words for noise and masks.
 */
export class ChaChaRng {
  readonly #cipher: ReturnType<typeof createCipheriv>
  #buffer: Uint8Array = new Uint8Array(0)
  #words: Uint32Array = new Uint32Array(0)
  #position = 0
  #spareGaussian: number | undefined

  constructor (seed: Uint8Array, nonce: Uint8Array = new Uint8Array(NONCE_BYTES)) {
    checkSeed(seed)
    if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) throw new InvalidInputError(`nonce must be ${NONCE_BYTES} bytes`)
    // OpenSSL's chacha20 IV is the 32-bit little-endian block counter followed by the nonce.
    const iv = new Uint8Array(16)
    iv.set(nonce, 4)
    this.#cipher = createCipheriv('chacha20', seed, iv)
  }

  /** The next `length` keystream bytes. */
  bytes (length: number): Uint8Array {
    const out = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      if (this.#position === this.#buffer.length) this.#refill()
      const take = Math.min(length - filled, this.#buffer.length - this.#position)
      out.set(this.#buffer.subarray(this.#position, this.#position + take), filled)
      this.#position += take
      filled += take
    }
    return out
  }

  /** The next 32-bit word (4 keystream bytes, little-endian). */
  nextUint32 (): number {
    if (this.#position + 4 > this.#buffer.length || (this.#position & 3) !== 0) return this.#slowUint32()
    const word = this.#words[this.#position >> 2]
    this.#position += 4
    return word
  }

  /** Fills `out` with the next words. */
  fillUint32 (out: Uint32Array): Uint32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.nextUint32()
    return out
  }

  /** Uniform on [0, 1) with 53 random bits: (a >>> 5) · 2^26 + (b >>> 6), over 2^53. */
  nextFloat64 (): number {
    const a = this.nextUint32() >>> 5
    const b = this.nextUint32() >>> 6
    return (a * TWO_POW_26 + b) / TWO_POW_53
  }

  /**
   * Standard normal by Box–Muller: u1 = 1 − nextFloat64() ∈ (0, 1], u2 = nextFloat64(),
   * r = √(−2·ln u1); returns r·cos(2π·u2), then r·sin(2π·u2) on the following call.
   */
  nextGaussian (): number {
    const spare = this.#spareGaussian
    if (spare !== undefined) {
      this.#spareGaussian = undefined
      return spare
    }
    const u1 = 1 - this.nextFloat64()
    const u2 = this.nextFloat64()
    const r = Math.sqrt(-2 * Math.log(u1))
    const theta = 2 * Math.PI * u2
    this.#spareGaussian = r * Math.sin(theta)
    return r * Math.cos(theta)
  }

  /** out[i] = std · nextGaussian(), in order. */
  fillGaussian (out: Float64Array | Float32Array, std = 1): void {
    for (let i = 0; i < out.length; i++) out[i] = std * this.nextGaussian()
  }

  #refill (): void {
    const chunk = this.#cipher.update(ZEROS)
    this.#buffer = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    if (LITTLE_ENDIAN_HOST && (chunk.byteOffset & 3) === 0) {
      this.#words = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.byteLength >> 2)
    } else {
      // Copy into an aligned buffer (and byte-swap on a big-endian host) so words are LE.
      const copy = new Uint8Array(chunk.byteLength)
      copy.set(this.#buffer)
      this.#buffer = copy
      if (LITTLE_ENDIAN_HOST) {
        this.#words = new Uint32Array(copy.buffer)
      } else {
        const view = new DataView(copy.buffer)
        this.#words = new Uint32Array(copy.length >> 2)
        for (let i = 0; i < this.#words.length; i++) this.#words[i] = view.getUint32(i * 4, true)
      }
    }
    this.#position = 0
  }

  #slowUint32 (): number {
    const b = this.bytes(4)
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0
  }
}

/** `length` 32-bit words of the keystream for (seed, nonce). */
export function prgUint32 (seed: Uint8Array, length: number, nonce?: Uint8Array): Uint32Array {
  return new ChaChaRng(seed, nonce).fillUint32(new Uint32Array(length))
}

/** One 64-byte ChaCha20 block (for test vectors). */
export function chachaBlock (key: Uint8Array, counter: number, nonce: Uint8Array): Uint8Array {
  const iv = new Uint8Array(16)
  new DataView(iv.buffer).setUint32(0, counter, true)
  iv.set(nonce, 4)
  const out = createCipheriv('chacha20', key, iv).update(new Uint8Array(BLOCK_BYTES))
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}
