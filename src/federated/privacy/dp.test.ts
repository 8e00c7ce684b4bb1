import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fedAvg } from '../strategies/fedAvg.ts'
import { fedAdam } from '../strategies/fedOpt.ts'
import { krum } from '../strategies/krum.ts'
import { f32, update, values, weights } from '../strategies/testHelpers.ts'
import { encodeSafetensors } from '../tensors.ts'
import { clipUpdate, withDifferentialPrivacy } from './dp.ts'
import { ChaChaRng, nonceFromCounter } from './prng.ts'

const seed = Uint8Array.from({ length: 32 }, (_, i) => 255 - i)

describe('clipping', () => {
  it('scales a delta of norm 10 down to the clip norm 1', () => {
    // Δ = (6, 8, 0): ‖Δ‖ = √(36 + 64) = 10; scale = 1/10 → (0.6, 0.8, 0)
    const clipped = clipUpdate(weights([7, 10, -1]), weights([1, 2, -1]), 1)
    assert.equal(clipped.norm, 10)
    assert.equal(clipped.scale, 0.1)
    // 1 + 0.6 = 1.6, 2 + 0.8 = 2.8, −1
    assert.deepEqual(values(clipped.weights), [f32(1.6, 2.8, -1)])
    // Short deltas are left alone.
    assert.deepEqual(values(clipUpdate(weights([1.3, 2.4, -1]), weights([1, 2, -1]), 1).weights), [f32(1.3, 2.4, -1)])
  })

  it('DP-FedAvg without noise: clipped deltas averaged with uniform weights', () => {
    const dpAvg = withDifferentialPrivacy(fedAvg, { clipNorm: 1, noiseMultiplier: 0, seed })
    const result = dpAvg(weights([0, 0]), [
      update('a', [[6, 8]], 100), // norm 10 → (0.6, 0.8)
      update('b', [[0.3, 0.4]], 1) // norm 0.5 → unchanged
    ], {})
    // uniform, although a claims 100 examples: ((0.6 + 0.3)/2, (0.8 + 0.4)/2) ≈ (0.45, 0.6); exactly, the
    // clipped updates are float32: (0.600000023841858 + 0.300000011920929)/2 = 0.450000017881393 and
    // (0.800000011920929 + 0.400000005960464)/2 = 0.600000008940697 → float32 0.600000023841858
    assert.deepEqual(values(result.weights), [f32(0.450000017881393, 0.600000008940697)])
    assert.equal(result.report.strategy, 'dp(fedavg)')
    // Rewards still see the real sample counts.
    assert.deepEqual(result.report.accepted, [{ clientId: 'a', numExamples: 100 }, { clientId: 'b', numExamples: 1 }])
    assert.deepEqual(result.report.details.dp, { clipNorm: 1, noiseMultiplier: 0, noiseStd: 0, clients: 2, clipped: 1, round: 0, weighting: 'uniform' })
    assert.deepEqual(result.state, { round: 1 })
  })
})

describe('Gaussian noise', () => {
  const dimension = 40_000
  const global = [{ name: 'w', shape: [dimension], data: new Float32Array(dimension).fill(1) }]
  const unchanged = (id: string): ReturnType<typeof update> => update(id, [{ name: 'w', shape: [dimension], data: new Float32Array(dimension).fill(1) }])
  const clients = ['a', 'b', 'c', 'd'].map(unchanged)

  it('adds N(0, (z·C/n)²) per coordinate: z = 2, C = 0.5, n = 4 → σ = 0.25', () => {
    const result = withDifferentialPrivacy(fedAvg, { clipNorm: 0.5, noiseMultiplier: 2, seed })(global, clients, {})
    const noise = [...result.weights[0].data].map((x) => x - 1)
    const mean = noise.reduce((sum, x) => sum + x, 0) / dimension
    const std = Math.sqrt(noise.reduce((sum, x) => sum + (x - mean) ** 2, 0) / dimension)
    // standard error of the std estimate: σ/√(2n) ≈ 0.0009
    assert.ok(Math.abs(std - 0.25) < 0.005, `std ${std}`)
    assert.ok(Math.abs(mean) < 0.005, `mean ${mean}`)
    assert.equal((result.report.details.dp as { noiseStd: number }).noiseStd, 0.25)
  })

  it('is exactly the seeded stream of round r added to the aggregate', () => {
    const state = { round: 5 }
    const result = withDifferentialPrivacy(fedAvg, { clipNorm: 0.5, noiseMultiplier: 2, seed })(global, clients, {}, state)
    const xi = new Float64Array(dimension)
    new ChaChaRng(seed, nonceFromCounter(5)).fillGaussian(xi, 0.25)
    result.weights[0].data.forEach((x, i) => assert.ok(Math.abs(x - (1 + xi[i])) < 1e-6, `coordinate ${i}`))
    assert.deepEqual(result.state, { round: 6 })
  })

  it('same seed and round → same bytes, whatever the input order; another round → other noise', () => {
    const dpAvg = withDifferentialPrivacy(fedAvg, { clipNorm: 1, noiseMultiplier: 1.1, seed })
    const mixed = [update('a', [[6, 8, 1]], 3), update('b', [[0.3, 0.4, 0]], 5), update('c', [[-1, 0, 0.5]], 7)]
    const one = encodeSafetensors(dpAvg(weights([0, 0, 0]), mixed, {}).weights)
    const two = encodeSafetensors(dpAvg(weights([0, 0, 0]), [...mixed].reverse(), {}).weights)
    assert.deepEqual(one, two)
    const next = encodeSafetensors(dpAvg(weights([0, 0, 0]), mixed, {}, { round: 1 }).weights)
    assert.notDeepEqual(one, next)
    const otherSeed = encodeSafetensors(withDifferentialPrivacy(fedAvg, { clipNorm: 1, noiseMultiplier: 1.1, seed: new Uint8Array(32) })(weights([0, 0, 0]), mixed, {}).weights)
    assert.notDeepEqual(one, otherSeed)
  })
})

describe('wrapping other strategies', () => {
  it('FedAdam: clipped uniform pseudo-gradient, inner state carried through', () => {
    const global = weights([1, -2])
    const updates = [update('a', [[7, 6]], 10), update('b', [[1.5, -2]], 1)]
    const dpAdam = withDifferentialPrivacy(fedAdam, { clipNorm: 1, noiseMultiplier: 0, seed })
    const config = { eta: 0.5, tau: 0.1 }
    const first = dpAdam(global, updates, config)
    // Clip by hand: a's Δ = (6, 8) → (0.6, 0.8); b's Δ = (0.5, 0) stays; both count once.
    const expected = fedAdam(global, [update('a', [[1.6, -1.2]], 1), update('b', [[1.5, -2]], 1)], config)
    assert.deepEqual(encodeSafetensors(first.weights), encodeSafetensors(expected.weights))
    assert.equal(first.state?.round, 1)
    assert.deepEqual(first.state?.inner, expected.state)
    const second = dpAdam(first.weights, updates, config, first.state)
    assert.equal(second.state?.round, 2)
    assert.equal(second.state?.inner?.round, 2)
  })

  it('Krum: rejections from the inner strategy are reported', () => {
    const dpKrum = withDifferentialPrivacy(krum, { clipNorm: 10, noiseMultiplier: 0.5, seed })
    const result = dpKrum(weights([0, 0]), [update('a', [[0, 0]]), update('b', [[1, 0]]), update('c', [[0, 1]]), update('d', [[1, 1]]), update('e', [[NaN, 1]])], { f: 0 })
    assert.equal(result.report.strategy, 'dp(krum)')
    assert.deepEqual(result.report.rejected.map((r) => [r.clientId, r.code]), [['b', 'not-selected'], ['c', 'not-selected'], ['d', 'not-selected'], ['e', 'non-finite']])
  })

  it('validates its parameters', () => {
    assert.throws(() => withDifferentialPrivacy(fedAvg, { clipNorm: 0, noiseMultiplier: 1, seed }), /dp: clipNorm must be a number > 0, got 0/)
    assert.throws(() => withDifferentialPrivacy(fedAvg, { clipNorm: 1, noiseMultiplier: -1, seed }), /dp: noiseMultiplier must be a number >= 0/)
    assert.throws(() => withDifferentialPrivacy(fedAvg, { clipNorm: 1, noiseMultiplier: 1, seed: new Uint8Array(8) }), /dp seed must be 32 bytes/)
  })
})
