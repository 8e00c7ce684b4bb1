/**
 * Shamir secret sharing (Shamir 1979) of byte strings up to 64 bytes over the prime field
 * GF(p), p = 2^521 − 1 (a Mersenne prime, so any 32-byte seed or X25519 key is a field element
 * as is). A secret becomes f(0) of a random polynomial of degree t − 1; share x is (x, f(x)).
 * Any t shares give f(0) back by Lagrange interpolation; t − 1 shares reveal nothing about it.
 */
import { randomBytes } from 'node:crypto'
import { InvalidInputError } from '../../errors.ts'

export const SHAMIR_PRIME = (1n << 521n) - 1n
/** Bytes of a share's y value (big-endian, fixed length). */
export const SHARE_VALUE_BYTES = 66
const MAX_SECRET_BYTES = 64

export interface Share {
  /** The evaluation point, 1 … 2^31 − 1 (never 0: f(0) is the secret). */
  x: number
  /** f(x), big-endian, {@link SHARE_VALUE_BYTES} bytes. */
  y: Uint8Array
}

export type RandomBytes = (length: number) => Uint8Array

/**
 * Splits `secret` into one share per x in `points` (distinct integers >= 1); any `threshold` of
 * them reconstruct it. `random` supplies the polynomial coefficients (default: node:crypto).
 */
export function splitSecret (secret: Uint8Array, params: { threshold: number, points: readonly number[], random?: RandomBytes }): Share[] {
  const { threshold, points } = params
  if (!(secret instanceof Uint8Array) || secret.length === 0 || secret.length > MAX_SECRET_BYTES) {
    throw new InvalidInputError(`a secret to share must be 1 … ${MAX_SECRET_BYTES} bytes`)
  }
  checkPoints(points)
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > points.length) {
    throw new InvalidInputError(`threshold must be an integer in 1 … ${points.length} (the number of shares), got ${String(threshold)}`)
  }
  const random = params.random ?? ((length: number) => new Uint8Array(randomBytes(length)))
  const coefficients = [bytesToBigInt(secret)]
  for (let i = 1; i < threshold; i++) coefficients.push(randomFieldElement(random))
  return points.map((x) => {
    // Horner's rule: f(x) = c0 + x(c1 + x(c2 + …)).
    let y = 0n
    const bx = BigInt(x)
    for (let i = coefficients.length - 1; i >= 0; i--) y = mod(y * bx + coefficients[i])
    return { x, y: bigIntToBytes(y, SHARE_VALUE_BYTES) }
  })
}

/**
 * The secret from at least `threshold` shares (`length` bytes). Interpolates on the `threshold`
 * shares with the smallest x and checks that every further share lies on the same polynomial,
 * so a corrupted share is detected when there are spares. Fewer shares than the threshold is an
 * error: such a reconstruction would silently return garbage.
 */
export function combineShares (shares: readonly Share[], params: { threshold: number, length: number }): Uint8Array {
  const { threshold, length } = params
  if (!Number.isSafeInteger(threshold) || threshold < 1) throw new InvalidInputError(`threshold must be a positive integer, got ${String(threshold)}`)
  if (!Array.isArray(shares) || shares.length < threshold) {
    throw new InvalidInputError(`cannot reconstruct the secret from ${Array.isArray(shares) ? shares.length : 0} shares: ${threshold} are needed`, {
      hint: 'Collect shares from more surviving participants; below the threshold the secret stays hidden by design.'
    })
  }
  checkPoints(shares.map((share) => share.x))
  const points = shares.map((share) => {
    if (!(share.y instanceof Uint8Array) || share.y.length !== SHARE_VALUE_BYTES) throw new InvalidInputError(`share ${share.x} must carry a ${SHARE_VALUE_BYTES}-byte value`)
    const y = bytesToBigInt(share.y)
    if (y >= SHAMIR_PRIME) throw new InvalidInputError(`share ${share.x} is not a field element`)
    return { x: BigInt(share.x), y }
  }).sort((a, b) => (a.x < b.x ? -1 : 1))
  const basis = points.slice(0, threshold)
  for (const extra of points.slice(threshold)) {
    if (interpolate(basis, extra.x) !== extra.y) {
      throw new InvalidInputError(`share ${extra.x} is inconsistent with the others`, { hint: 'At least one share is corrupted or belongs to another secret.' })
    }
  }
  const secret = interpolate(basis, 0n)
  if (secret >= 1n << BigInt(8 * length)) {
    throw new InvalidInputError(`the reconstructed value does not fit in ${length} bytes`, { hint: 'The shares are corrupted or belong to different secrets.' })
  }
  return bigIntToBytes(secret, length)
}

/** Lagrange interpolation of the polynomial through `points`, evaluated at `at`. */
function interpolate (points: ReadonlyArray<{ x: bigint, y: bigint }>, at: bigint): bigint {
  let result = 0n
  for (let i = 0; i < points.length; i++) {
    let numerator = 1n
    let denominator = 1n
    for (let j = 0; j < points.length; j++) {
      if (i === j) continue
      numerator = mod(numerator * (at - points[j].x))
      denominator = mod(denominator * (points[i].x - points[j].x))
    }
    result = mod(result + points[i].y * numerator * inverse(denominator))
  }
  return result
}

function mod (value: bigint): bigint {
  const r = value % SHAMIR_PRIME
  return r < 0n ? r + SHAMIR_PRIME : r
}

/** Modular inverse by the extended Euclidean algorithm. */
function inverse (value: bigint): bigint {
  let oldR = mod(value)
  let r = SHAMIR_PRIME
  let oldS = 1n
  let s = 0n
  while (r !== 0n) {
    const q = oldR / r
    const nextR = oldR - q * r
    oldR = r
    r = nextR
    const nextS = oldS - q * s
    oldS = s
    s = nextS
  }
  if (oldR !== 1n) throw new Error('not invertible')
  return mod(oldS)
}

/** Uniform in [0, p): 521 random bits, rejected in the (2^-521-likely) case of p itself. */
function randomFieldElement (random: RandomBytes): bigint {
  for (;;) {
    const bytes = random(SHARE_VALUE_BYTES)
    if (!(bytes instanceof Uint8Array) || bytes.length !== SHARE_VALUE_BYTES) throw new InvalidInputError('random() must return the requested number of bytes')
    const masked = bytes.slice()
    masked[0] &= 0x01
    const value = bytesToBigInt(masked)
    if (value < SHAMIR_PRIME) return value
  }
}

function checkPoints (points: readonly number[]): void {
  if (!Array.isArray(points) || points.length === 0) throw new InvalidInputError('secret sharing needs at least one share point')
  const seen = new Set<number>()
  for (const x of points) {
    if (!Number.isSafeInteger(x) || x < 1 || x > 0x7fffffff) throw new InvalidInputError(`share points must be integers in 1 … 2^31 − 1, got ${String(x)}`)
    if (seen.has(x)) throw new InvalidInputError(`share point ${x} appears twice`)
    seen.add(x)
  }
}

export function bytesToBigInt (bytes: Uint8Array): bigint {
  let value = 0n
  for (const byte of bytes) value = (value << 8n) | BigInt(byte)
  return value
}

export function bigIntToBytes (value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length)
  let v = value
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  if (v !== 0n) throw new RangeError(`value does not fit in ${length} bytes`)
  return out
}
