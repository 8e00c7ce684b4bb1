/**
 * Numeric kernels over one tensor's values from n clients (`inputs[k]` is client k's Float32Array,
 * clients already in their fixed order). Tight typed-array loops with reused scratch buffers and
 * no per-element allocation. The arithmetic of each kernel is a fixed, documented sequence of
 * float64 operations rounded to float32 once at the end, so its output bytes are a function of
 * the inputs alone.
 */
import { simdTrimmedMeanInto } from './simdTrimmedMean.ts'

/** Coordinates processed per block: the float64 accumulator (64 KiB) stays in L1/L2. */
const MEAN_BLOCK = 8192

/**
 * out[i] = (Σ_k w_k · x_k[i]) / Σ_k w_k. For every coordinate the accumulator starts at +0 and
 * adds w_k · x_k[i] in client order, in float64; the quotient is stored in `out` (rounded to
 * float32 when `out` is a Float32Array). With integer weights below 2^29 every product is exact,
 * so only the additions round. `scratch` must hold at least min(MEAN_BLOCK, length) values.
 */
export function weightedMeanInto (inputs: readonly Float32Array[], weights: ArrayLike<number>, out: Float32Array | Float64Array, scratch: Float64Array = new Float64Array(Math.min(MEAN_BLOCK, out.length))): void {
  const n = inputs.length
  const length = out.length
  let total = 0
  for (let k = 0; k < n; k++) total += weights[k]
  for (let start = 0; start < length; start += MEAN_BLOCK) {
    const size = Math.min(MEAN_BLOCK, length - start)
    scratch.fill(0, 0, size)
    let k = 0
    // Eight clients per pass keep the accumulator in a register; the additions still happen one
    // client at a time, in order (JavaScript never reassociates floating-point arithmetic).
    for (; k + 7 < n; k += 8) {
      const x0 = inputs[k]; const x1 = inputs[k + 1]; const x2 = inputs[k + 2]; const x3 = inputs[k + 3]
      const x4 = inputs[k + 4]; const x5 = inputs[k + 5]; const x6 = inputs[k + 6]; const x7 = inputs[k + 7]
      const w0 = weights[k]; const w1 = weights[k + 1]; const w2 = weights[k + 2]; const w3 = weights[k + 3]
      const w4 = weights[k + 4]; const w5 = weights[k + 5]; const w6 = weights[k + 6]; const w7 = weights[k + 7]
      for (let i = 0, j = start; i < size; i++, j++) {
        let acc = scratch[i]
        acc += w0 * x0[j]; acc += w1 * x1[j]; acc += w2 * x2[j]; acc += w3 * x3[j]
        acc += w4 * x4[j]; acc += w5 * x5[j]; acc += w6 * x6[j]; acc += w7 * x7[j]
        scratch[i] = acc
      }
    }
    for (; k < n; k++) {
      const x = inputs[k]
      const w = weights[k]
      for (let i = 0; i < size; i++) scratch[i] += w * x[start + i]
    }
    for (let i = 0; i < size; i++) out[start + i] = scratch[i] / total
  }
}

export function meanScratch (length: number): Float64Array {
  return new Float64Array(Math.max(1, Math.min(MEAN_BLOCK, length)))
}

/** True when every value is finite (no NaN, no ±Infinity). */
export function allFinite (values: Float32Array | Float64Array): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (v - v !== 0) return false
  }
  return true
}

// --- coordinate-wise order statistics ----------------------------------------------------------
//
// Values of one coordinate from the n clients are gathered into a contiguous row (a block of
// ROW_BLOCK coordinates is transposed at a time), then each row is reduced on its own.

const ROW_BLOCK = 512
/** Below this a range is finished by insertion sort. */
const INSERTION_SORT_MAX = 16
/** Trimmed mean keeps running buffers of the `trim` extreme values while trim <= this. */
const STREAMING_TRIM_MAX = 48

export interface TrimmedMeanOptions {
  /** Use the WebAssembly SIMD kernel when possible (default true); it returns the same bits. */
  simd?: boolean
}

/** Gathers the block into rows; returns false if any value is NaN or ±Infinity. */
function transposeBlock (inputs: readonly Float32Array[], start: number, size: number, rows: Float32Array): boolean {
  const n = inputs.length
  let check = 0 // stays 0 while every v − v is 0, becomes NaN for good otherwise
  for (let k = 0; k < n; k++) {
    const x = inputs[k]
    for (let i = 0, r = k; i < size; i++, r += n) {
      const v = x[start + i]
      rows[r] = v
      check += v - v
    }
  }
  return check === 0
}

/**
 * Coordinate-wise median: the middle value for odd n; for even n the float64 mean of the two
 * middle values ((a + b) / 2), rounded to float32. Returns false (and leaves `out` meaningless)
 * if any input is NaN or ±Infinity.
 */
export function coordinateMedianInto (inputs: readonly Float32Array[], out: Float32Array): boolean {
  const n = inputs.length
  const rows = new Float32Array(ROW_BLOCK * n)
  const k = n >> 1
  let finite = true
  for (let start = 0; start < out.length; start += ROW_BLOCK) {
    const size = Math.min(ROW_BLOCK, out.length - start)
    if (!transposeBlock(inputs, start, size, rows)) finite = false
    for (let i = 0; i < size; i++) {
      const base = i * n
      select(rows, base, base + n - 1, base + k)
      const upper = rows[base + k]
      if ((n & 1) === 1) {
        out[start + i] = upper
      } else {
        // After selection every value left of k is <= upper: the lower middle is their maximum.
        let lower = rows[base]
        for (let j = base + 1; j < base + k; j++) if (rows[j] > lower) lower = rows[j]
        out[start + i] = (lower + upper) / 2
      }
    }
  }
  return finite
}

/**
 * Coordinate-wise trimmed mean: drops the `trim` smallest and `trim` largest values of each
 * coordinate and averages the n − 2·trim others (float64 sum, one division, rounded to float32).
 *
 * Summation order (fixed for given n and trim, part of the determinism contract):
 * - trim = 0: the plain sum in client order.
 * - 1 <= trim <= 48 (the usual case): a streaming pass. The first 2·trim values are sorted; the
 *   lower half seeds a buffer of the trim smallest values, the upper half a buffer of the trim
 *   largest. Each later value, in client order, either enters a buffer — and the value it displaces
 *   (the buffer's trim-th extreme) is added to the sum — or is added itself. Every value added is a
 *   kept value (at least trim values lie on each side of it), so outliers never enter the sum; the
 *   buffers end holding exactly the trimmed values. The WebAssembly SIMD kernel (simdTrimmedMean.ts)
 *   computes the same sums in the same order.
 * - trim > 48: quickselect puts the kept values at positions trim … n−trim−1 and they are summed
 *   in position order.
 * A zero result is stored as +0. Returns false (and leaves `out` meaningless) if any input is NaN
 * or ±Infinity.
 */
export function coordinateTrimmedMeanInto (inputs: readonly Float32Array[], trim: number, out: Float32Array, options: TrimmedMeanOptions = {}): boolean {
  const n = inputs.length
  if (!(Number.isSafeInteger(trim) && trim >= 0 && 2 * trim < n)) throw new RangeError(`trim ${trim} must leave at least one of ${n} values`)
  const keep = n - 2 * trim
  if (trim === 0) {
    let check = 0
    for (let i = 0; i < out.length; i++) {
      let sum = 0
      for (let k = 0; k < n; k++) sum += inputs[k][i]
      check += sum - sum
      out[i] = sum / keep + 0
    }
    return check === 0
  }
  const streaming = trim <= STREAMING_TRIM_MAX
  if (streaming && options.simd !== false) {
    const finite = simdTrimmedMeanInto(inputs, trim, out)
    if (finite !== undefined) {
      normalizeZeros(out)
      return finite
    }
  }
  const rows = new Float32Array(ROW_BLOCK * n)
  const seed = new Float32Array(2 * trim)
  const low = new Float32Array(trim)
  const high = new Float32Array(trim)
  let finite = true
  for (let start = 0; start < out.length; start += ROW_BLOCK) {
    const size = Math.min(ROW_BLOCK, out.length - start)
    if (!transposeBlock(inputs, start, size, rows)) finite = false
    if (streaming) {
      for (let i = 0; i < size; i++) out[start + i] = streamingTrimmedSum(rows, i * n, n, trim, seed, low, high) / keep + 0
    } else {
      for (let i = 0; i < size; i++) {
        const base = i * n
        select(rows, base, base + n - 1, base + trim)
        select(rows, base + trim, base + n - 1, base + n - 1 - trim)
        let sum = 0
        for (let j = base + trim; j < base + n - trim; j++) sum += rows[j]
        out[start + i] = sum / keep + 0
      }
    }
  }
  return finite
}

/** −0 → +0 (`x + 0` is x for every other x): which zero survives ties is not part of the contract. */
function normalizeZeros (values: Float32Array): void {
  for (let i = 0; i < values.length; i++) values[i] += 0
}

/**
 * Sum of the middle n − 2·trim values of rows[base … base+n) (see
 * {@link coordinateTrimmedMeanInto}). `low` is kept ascending and `high` descending, so
 * low[trim−1] and high[trim−1] are the current trim-th smallest and largest values.
 * Invariant: every value in `low` is <= every value in `high`.
 */
function streamingTrimmedSum (rows: Float32Array, base: number, n: number, buffer: number, seed: Float32Array, low: Float32Array, high: Float32Array): number {
  const seedSize = 2 * buffer
  for (let i = 0; i < seedSize; i++) {
    const v = rows[base + i]
    let j = i - 1
    while (j >= 0 && seed[j] > v) { seed[j + 1] = seed[j]; j-- }
    seed[j + 1] = v
  }
  const last = buffer - 1
  for (let i = 0; i < buffer; i++) {
    low[i] = seed[i]
    high[i] = seed[seedSize - 1 - i]
  }
  let lowTop = low[last]
  let highTop = high[last]
  let sum = 0
  const end = base + n
  for (let r = base + seedSize; r < end; r++) {
    const v = rows[r]
    if (v < lowTop) {
      sum += lowTop
      let j = last - 1
      while (j >= 0 && low[j] > v) { low[j + 1] = low[j]; j-- }
      low[j + 1] = v
      lowTop = low[last]
    } else if (v > highTop) {
      sum += highTop
      let j = last - 1
      while (j >= 0 && high[j] < v) { high[j + 1] = high[j]; j-- }
      high[j + 1] = v
      highTop = high[last]
    } else {
      sum += v
    }
  }
  return sum
}

/**
 * Quickselect (Hoare partition, median-of-three pivot, insertion sort below 17 values): reorders
 * a[lo … hi] so that a[k] holds the value it would have if the range were sorted, with no larger
 * value before it and no smaller value after it. Deterministic: no random pivots. After
 * 2·⌈log2(size)⌉ + 8 rounds (adversarial inputs) it falls back to sorting the remaining range.
 */
export function select (a: Float32Array, lo: number, hi: number, k: number): void {
  let budget = 2 * Math.ceil(Math.log2(hi - lo + 2)) + 8
  while (hi - lo >= INSERTION_SORT_MAX) {
    if (budget-- === 0) {
      a.subarray(lo, hi + 1).sort()
      return
    }
    const mid = (lo + hi) >>> 1
    let x = a[lo]
    let y = a[mid]
    let z = a[hi]
    if (x > y) { const t = x; x = y; y = t }
    if (y > z) {
      const t = y; y = z; z = t
      if (x > y) { const t2 = x; x = y; y = t2 }
    }
    a[lo] = x; a[mid] = y; a[hi] = z
    const pivot = y
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i] < pivot) i++
      while (a[j] > pivot) j--
      if (i <= j) {
        const t = a[i]; a[i] = a[j]; a[j] = t
        i++; j--
      }
    }
    if (k <= j) hi = j
    else if (k >= i) lo = i
    else return
  }
  for (let i = lo + 1; i <= hi; i++) {
    const v = a[i]
    let j = i - 1
    while (j >= lo && a[j] > v) { a[j + 1] = a[j]; j-- }
    a[j + 1] = v
  }
}

// --- pairwise distances ------------------------------------------------------------------------

const DISTANCE_BLOCK = 2048

/**
 * Squared Euclidean distances between every pair of clients, over all tensors: an n × n
 * symmetric float64 matrix (row-major, zero diagonal). For each pair the sum runs tensor by
 * tensor, in blocks of 2048 coordinates: each block's Σ (a_i − b_i)² is accumulated from 0 in
 * coordinate order and then added to the pair's total. Four partners are processed per pass over
 * a client's block to reuse its loads.
 */
export function pairwiseSquaredDistances (clients: ReadonlyArray<readonly Float32Array[]>): Float64Array {
  const n = clients.length
  const distances = new Float64Array(n * n)
  if (n === 0) return distances
  const tensors = clients[0].length
  for (let t = 0; t < tensors; t++) {
    const length = clients[0][t].length
    for (let start = 0; start < length; start += DISTANCE_BLOCK) {
      const end = Math.min(start + DISTANCE_BLOCK, length)
      for (let a = 0; a < n; a++) {
        const xa = clients[a][t]
        let b = a + 1
        for (; b + 3 < n; b += 4) {
          const x0 = clients[b][t]
          const x1 = clients[b + 1][t]
          const x2 = clients[b + 2][t]
          const x3 = clients[b + 3][t]
          let s0 = 0
          let s1 = 0
          let s2 = 0
          let s3 = 0
          for (let i = start; i < end; i++) {
            const v = xa[i]
            const d0 = v - x0[i]
            const d1 = v - x1[i]
            const d2 = v - x2[i]
            const d3 = v - x3[i]
            s0 += d0 * d0
            s1 += d1 * d1
            s2 += d2 * d2
            s3 += d3 * d3
          }
          distances[a * n + b] += s0
          distances[a * n + b + 1] += s1
          distances[a * n + b + 2] += s2
          distances[a * n + b + 3] += s3
        }
        for (; b < n; b++) {
          const xb = clients[b][t]
          let s = 0
          for (let i = start; i < end; i++) {
            const d = xa[i] - xb[i]
            s += d * d
          }
          distances[a * n + b] += s
        }
      }
    }
  }
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) distances[b * n + a] = distances[a * n + b]
  }
  return distances
}
