/**
 * Seeded pseudo-randomness for the trainer, the data partitioners and the initializers: pure
 * JavaScript (no tfjs, no Math.random), so the same seed gives the same shuffles and the same
 * initial weights on every machine and every backend.
 */
import { InvalidInputError } from '../../errors.ts'

/** Throws unless `seed` is a safe integer; returns it as an unsigned 32-bit value. */
export function checkSeed (seed: unknown, label = 'seed'): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new InvalidInputError(`${label} must be an integer, got ${JSON.stringify(seed)}`)
  }
  return seed >>> 0
}

/** mulberry32: a small, fast 32-bit generator; returns floats in [0, 1). */
export function createRandom (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A 32-bit seed derived from a base seed and a path of integers (layer index, epoch, step…). */
export function deriveSeed (seed: number, ...path: number[]): number {
  // FNV-1a over the 32-bit words, then a murmur3 finalizer to spread the bits.
  let h = 0x811c9dc5
  for (const word of [seed, ...path]) {
    let w = word >>> 0
    for (let i = 0; i < 4; i++) {
      h ^= w & 0xff
      h = Math.imul(h, 0x01000193)
      w >>>= 8
    }
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A uniformly random permutation of 0 … n−1 (Fisher–Yates). */
export function permutation (n: number, random: () => number): Uint32Array {
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  shuffleInPlace(order, random)
  return order
}

export function shuffleInPlace<T extends { length: number, [index: number]: any }> (items: T, random: () => number): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const tmp = items[i]
    items[i] = items[j]
    items[j] = tmp
  }
  return items
}
