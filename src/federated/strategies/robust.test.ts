import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeSafetensors } from '../tensors.ts'
import { coordinateMedian, trimmedMean } from './coordinateWise.ts'
import { fedAvg } from './fedAvg.ts'
import { coordinateMedianInto, coordinateTrimmedMeanInto, pairwiseSquaredDistances, select } from './kernels.ts'
import { krum, multiKrum } from './krum.ts'
import { simdTrimmedMeanAvailable } from './simdTrimmedMean.ts'
import { normBound } from './normBound.ts'
import { f32, update, values, weights } from './testHelpers.ts'
import { NoAcceptedUpdatesError } from './types.ts'

/** Deterministic pseudo-random numbers for property checks (xorshift32). */
function numbers (count: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1
  const out = new Float32Array(count)
  for (let i = 0; i < count; i++) {
    s ^= s << 13; s >>>= 0
    s ^= s >>> 17
    s ^= s << 5; s >>>= 0
    out[i] = (s / 4294967296 - 0.5) * 10
  }
  return out
}

describe('coordinate-wise median', () => {
  it('takes the middle value for an odd count', () => {
    const result = coordinateMedian(weights([0, 0]), [
      update('a', [[1, -7]]),
      update('b', [[5, 2]]),
      update('c', [[3, 100]])
    ])
    // (1, 5, 3) → 3;  (−7, 2, 100) → 2
    assert.deepEqual(values(result.weights), [[3, 2]])
    assert.equal(result.report.strategy, 'median')
  })

  it('averages the two middle values for an even count', () => {
    const result = coordinateMedian(weights([0, 0]), [
      update('a', [[1, 0.1]]),
      update('b', [[2, 0.2]]),
      update('c', [[10, 0.3]]),
      update('d', [[4, -50]])
    ])
    // sorted (1, 2, 4, 10) → (2 + 4)/2 = 3;  sorted (−50, 0.1, 0.2, 0.3) → (f32(0.1) + f32(0.2))/2 in float64
    //   = (0.100000001490116 + 0.200000002980232)/2 = 0.150000002235174 → float32 0.15000000596046448
    assert.deepEqual(values(result.weights), [[3, f32(0.150000002235174)[0]]])
  })

  it('matches a sort-based reference on random data (odd and even counts)', () => {
    for (const n of [1, 2, 7, 8, 33]) {
      const inputs = Array.from({ length: n }, (_, k) => numbers(1100, 17 + k * 31 + n))
      const out = new Float32Array(1100)
      coordinateMedianInto(inputs, out)
      for (let i = 0; i < out.length; i++) {
        const column = Float64Array.from(inputs.map((x) => x[i])).sort()
        const expected = n % 2 === 1 ? column[(n - 1) / 2] : (column[n / 2 - 1] + column[n / 2]) / 2
        assert.equal(out[i], Math.fround(expected), `n=${n} coordinate ${i}`)
      }
    }
  })
})

describe('trimmed mean', () => {
  it('drops ⌊β·n⌋ values per side (hand-computed)', () => {
    // n = 5, β = 0.2 → trim 1 per side.
    const result = trimmedMean(weights([0, 0]), [
      update('a', [[1, -50]]),
      update('b', [[100, 0]]),
      update('c', [[3, 1]]),
      update('d', [[2, 2]]),
      update('e', [[4, 3]])
    ], { beta: 0.2 })
    // (1, 100, 3, 2, 4) sorted (1, 2, 3, 4, 100) → (2 + 3 + 4)/3 = 3
    // (−50, 0, 1, 2, 3) sorted → (0 + 1 + 2)/3 = 1
    assert.deepEqual(values(result.weights), [[3, 1]])
    assert.deepEqual(result.report.details, { beta: 0.2, trimmedPerSide: 1, keptPerCoordinate: 3 })
  })

  it('keeps only the middle value when 2·trim = n − 1', () => {
    // n = 3, β = 0.4 → trim ⌊1.2⌋ = 1: (9, −1, 4) keeps 4.
    const result = trimmedMean(weights([0]), [update('a', [[9]]), update('b', [[-1]]), update('c', [[4]])], { beta: 0.4 })
    assert.deepEqual(values(result.weights), [[4]])
  })

  it('uses quickselect beyond 48 trimmed values per side', () => {
    // n = 101 with values 0 … 100 in scrambled order. β = 0.47 → trim ⌊47.47⌋ = 47 (the JavaScript
    // streaming kernel: more than SIMD's 32) keeps 47 … 53 → 350/7 = 50; β = 0.4951 → trim 50
    // (quickselect) keeps 50.
    const updates = Array.from({ length: 101 }, (_, k) => update(`c${k}`, [[(k * 37) % 101]]))
    assert.deepEqual(values(trimmedMean(weights([0]), updates, { beta: 0.47 }).weights), [[50]])
    assert.deepEqual(values(trimmedMean(weights([0]), updates, { beta: 0.4951 }).weights), [[50]])
    assert.equal(trimmedMean(weights([0]), updates, { beta: 0.4951 }).report.details.trimmedPerSide, 50)
  })

  it('is the plain mean when β·n < 1', () => {
    const result = trimmedMean(weights([0]), [update('a', [[1]]), update('b', [[2]]), update('c', [[6]])], { beta: 0.1 })
    // trim ⌊0.3⌋ = 0 → (1 + 2 + 6)/3 = 3
    assert.deepEqual(values(result.weights), [[3]])
  })

  it('matches a sort-based reference on random data, with ties and huge outliers', () => {
    for (const [n, trim] of [[5, 1], [10, 2], [25, 3], [100, 10], [9, 4], [120, 50]] as const) {
      const inputs = Array.from({ length: n }, (_, k) => numbers(700, 5 + k * 7 + n))
      // Ties: a block of coordinates where every client sends the same value.
      for (const x of inputs) x.fill(0.25, 0, 10)
      // Outliers: one client sends ±3e38 on some coordinates.
      for (let i = 10; i < 700; i += 3) inputs[0][i] = i % 2 === 0 ? 3e38 : -3e38
      const out = new Float32Array(700)
      coordinateTrimmedMeanInto(inputs, trim, out)
      for (let i = 0; i < out.length; i++) {
        const column = Float64Array.from(inputs.map((x) => x[i])).sort()
        let sum = 0
        for (let j = trim; j < n - trim; j++) sum += column[j]
        const expected = sum / (n - 2 * trim)
        // Summation order differs from the reference: equal up to float32 rounding.
        assert.ok(Math.abs(out[i] - expected) <= 1e-6 * (1 + Math.abs(expected)), `n=${n} trim=${trim} coordinate ${i}: ${out[i]} vs ${expected}`)
      }
    }
  })

  it('the WebAssembly SIMD kernel returns the same bits as the JavaScript kernel', () => {
    assert.ok(simdTrimmedMeanAvailable(), 'Node 24 compiles WebAssembly SIMD')
    for (const [n, trim, length] of [[4, 1, 13], [5, 1, 1000], [22, 10, 4099], [100, 10, 5003], [64, 31, 300], [7, 2, 3]] as const) {
      const inputs = Array.from({ length: n }, (_, k) => numbers(length, 3 + k * 11 + n))
      for (const x of inputs) x.fill(0.25, 0, Math.min(2, length)) // ties
      inputs[0][length - 1] = -0
      inputs[1][length - 1] = 0
      inputs[2][length - 2] = 3e38
      const simd = new Float32Array(length)
      const js = new Float32Array(length)
      coordinateTrimmedMeanInto(inputs, trim, simd)
      coordinateTrimmedMeanInto(inputs, trim, js, { simd: false })
      assert.deepEqual(new Uint8Array(simd.buffer), new Uint8Array(js.buffer), `n=${n} trim=${trim}`)
    }
  })

  it('validates β', () => {
    assert.throws(() => trimmedMean(weights([0]), [update('a', [[1]])], { beta: 0.5 }), /trimmed-mean: beta must be a number >= 0 and < 0.5, got 0.5/)
  })
})

describe('non-finite updates in robust rules', () => {
  const clean = [update('a', [[1, 2]]), update('b', [[3, 4]]), update('c', [[5, 6]]), update('d', [[7, 9]]), update('e', [[8, 8]])]
  const poisoned = [...clean, update('nan', [[NaN, 0]]), update('inf', [[0, -Infinity]])]
  const rejected = [
    { clientId: 'inf', code: 'non-finite', reason: "tensor 't0' element 1 is -Infinity" },
    { clientId: 'nan', code: 'non-finite', reason: "tensor 't0' element 0 is NaN" }
  ]

  it('are rejected with a reason and the result equals the clean aggregate', () => {
    const cases: Array<[string, (updates: typeof clean) => ReturnType<typeof fedAvg>]> = [
      ['median', (u) => coordinateMedian(weights([0, 0]), u)],
      ['trimmed mean (SIMD)', (u) => trimmedMean(weights([0, 0]), u, { beta: 0.2 })],
      ['trimmed mean (select)', (u) => trimmedMean(weights([0, 0]), u, { beta: 0.45 })],
      ['krum', (u) => krum(weights([0, 0]), u, { f: 1 })]
    ]
    for (const [label, run] of cases) {
      const withPoison = run(poisoned)
      const without = run(clean)
      assert.deepEqual(values(withPoison.weights), values(without.weights), label)
      assert.deepEqual(withPoison.report.rejected.filter((r) => r.code === 'non-finite'), rejected, label)
    }
  })
})

describe('quickselect', () => {
  it('places the k-th value and survives adversarial (sorted, reversed, constant) input', () => {
    for (const make of [(i: number) => i, (i: number) => -i, () => 1, (i: number) => (i % 2) * 1000 + i]) {
      for (const k of [0, 17, 63, 99]) {
        const a = Float32Array.from({ length: 100 }, (_, i) => make(i))
        const sorted = a.slice().sort()
        select(a, 0, 99, k)
        assert.equal(a[k], sorted[k])
        for (let i = 0; i < k; i++) assert.ok(a[i] <= a[k])
        for (let i = k + 1; i < 100; i++) assert.ok(a[i] >= a[k])
      }
    }
  })
})

describe('krum', () => {
  // Four honest clients at the corners of the unit square and one outlier at (10, 10); f = 1.
  // Squared distances: a=(0,0) b=(1,0) c=(0,1) d=(1,1) e=(10,10)
  //   a: b 1, c 1, d 2, e 200      b: a 1, c 2, d 1, e 181      c: a 1, b 2, d 1, e 181
  //   d: a 2, b 1, c 1, e 162      e: a 200, b 181, c 181, d 162
  // Score = sum of the n − f − 2 = 2 nearest: a 2, b 2, c 2, d 2, e 162 + 181 = 343.
  const global = weights([0, 0])
  const updates = [
    update('e', [[10, 10]], 1000),
    update('a', [[0, 0]], 1),
    update('b', [[1, 0]], 2),
    update('c', [[0, 1]], 3),
    update('d', [[1, 1]], 4)
  ]

  it('selects an honest update (ties go to the lowest clientId)', () => {
    const result = krum(global, updates, { f: 1 })
    assert.deepEqual(values(result.weights), [[0, 0]])
    assert.deepEqual(result.report.details.scores, { a: 2, b: 2, c: 2, d: 2, e: 343 })
    assert.deepEqual(result.report.accepted, [{ clientId: 'a', numExamples: 1 }])
    assert.deepEqual(result.report.rejected.map((r) => [r.clientId, r.code]), [['b', 'not-selected'], ['c', 'not-selected'], ['d', 'not-selected'], ['e', 'not-selected']])
    assert.match(result.report.rejected[3].reason, /^Krum score 343\.000 ranks 5 of 5; the 1 lowest were selected$/)
  })

  it('Multi-Krum averages the m best (default m = n − f), ignoring the outlier', () => {
    const result = multiKrum(global, updates, { f: 1 })
    // m = 4: mean of (0,0), (1,0), (0,1), (1,1) = (0.5, 0.5)
    assert.deepEqual(values(result.weights), [[0.5, 0.5]])
    assert.equal(result.report.strategy, 'multi-krum')
    assert.deepEqual(result.report.rejected.map((r) => r.clientId), ['e'])
    const weighted = multiKrum(global, updates, { f: 1, m: 2, weighting: 'examples' })
    // m = 2 → a and b (lowest ids among the tied); weighted (1·0 + 2·1)/3 = 2/3, 0
    assert.deepEqual(values(weighted.weights), [f32(2 / 3, 0)])
  })

  it('requires n >= 2f + 3 and m <= n − f', () => {
    assert.throws(() => krum(global, updates, { f: 2 }), /krum with f = 2 needs at least 7 valid updates \(n >= 2f \+ 3\), got 5/)
    assert.throws(() => multiKrum(global, updates, { f: 1, m: 5 }), /multi-krum: m = 5 exceeds n − f = 4/)
  })

  it('computes pairwise squared distances across tensors and blocks', () => {
    const a = [Float32Array.from({ length: 5000 }, (_, i) => i % 7), Float32Array.from([1, 2])]
    const b = [Float32Array.from({ length: 5000 }, (_, i) => (i % 7) + 0.5), Float32Array.from([4, 6])]
    const c = [new Float32Array(5000), Float32Array.from([1, 2])]
    const d = pairwiseSquaredDistances([a, b, c])
    // a–b: 5000·0.25 + 9 + 16 = 1275;  a–c: Σ (i mod 7)² over 5000 = 714 full cycles of 91 + (0..1)² = 64975;
    // b–c: Σ (i mod 7 + 0.5)² + 9 + 16 = 714·(91 + 21 + 1.75) + (0.25 + 2.25) + 25 = 81217.5 + 2.5 + 25 = 81245
    assert.deepEqual([...d], [0, 1275, 64975, 1275, 0, 81245, 64975, 81245, 0])
  })
})

describe('normBound', () => {
  const global = weights([0, 0])

  it('rejects an update whose delta norm exceeds k × the median and passes the rest on', () => {
    const bounded = normBound(fedAvg, { maxRatio: 3 })
    const result = bounded(global, [
      update('a', [[3, 4]]), // ‖Δ‖ = 5
      update('b', [[0, 4]]), // 4
      update('c', [[6, 8]]), // 10
      update('d', [[0, 60]]) // 60
    ], {})
    // median of (4, 5, 10, 60) = (5 + 10)/2 = 7.5; bound 3 × 7.5 = 22.5 → d rejected
    // FedAvg of a, b, c (1 example each): ((3+0+6)/3, (4+4+8)/3) = (3, 16/3)
    assert.deepEqual(values(result.weights), [f32(3, 16 / 3)])
    assert.equal(result.report.strategy, 'norm-bound(fedavg)')
    assert.deepEqual(result.report.rejected, [{ clientId: 'd', code: 'norm-bound', reason: 'delta norm 60.0000 exceeds 3 × the median delta norm 7.50000 (bound 22.5000)' }])
    assert.deepEqual(result.report.details.normBound, { maxRatio: 3, minRatio: 0, medianNorm: 7.5, norms: { a: 5, b: 4, c: 10, d: 60 } })
  })

  it('optionally rejects free riders below minRatio × the median', () => {
    const result = normBound(fedAvg, { minRatio: 0.5 })(global, [update('a', [[3, 4]]), update('b', [[0, 4]]), update('lazy', [[0, 0]])], {})
    assert.deepEqual(result.report.rejected.map((r) => [r.clientId, r.code]), [['lazy', 'norm-bound']])
  })

  it('passes inner errors through and reports its own rejections when nothing is left', () => {
    const bounded = normBound(krum, { maxRatio: 1 })
    assert.throws(() => bounded(global, [update('a', [[3, 4]]), update('b', [[30, 40]]), update('x', [[NaN, 0]])], { f: 0 }), (err: unknown) => {
      assert.ok(err instanceof Error)
      assert.match(err.message, /krum with f = 0 needs at least 3 valid updates/)
      return true
    })
    assert.throws(() => normBound(fedAvg)(global, [update('x', [[NaN, 0]])], {}), (err: unknown) =>
      err instanceof NoAcceptedUpdatesError && err.report.rejected[0].code === 'non-finite')
  })

  it('is deterministic regardless of input order', () => {
    const updates = [update('a', [[3, 4]]), update('b', [[0, 4]]), update('c', [[6, 8]]), update('d', [[0, 60]])]
    const bounded = normBound(trimmedMean)
    const one = encodeSafetensors(bounded(global, updates, { beta: 0.25 }).weights)
    const two = encodeSafetensors(bounded(global, [...updates].reverse(), { beta: 0.25 }).weights)
    assert.deepEqual(one, two)
  })
})
