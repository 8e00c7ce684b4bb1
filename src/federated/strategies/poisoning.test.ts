import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ChaChaRng } from '../privacy/prng.ts'
import type { ModelWeights } from '../tensors.ts'
import { coordinateMedian, trimmedMean } from './coordinateWise.ts'
import { fedAvg } from './fedAvg.ts'
import { krum } from './krum.ts'
import { normBound } from './normBound.ts'
import type { ClientUpdate } from './types.ts'

// 10 honest clients train towards the same point: global + Δ* plus their own noise (σ = 0.01 per
// coordinate). One attacker sends global + 100 × its delta (a boosted / model-replacement attack).
const DIMENSION = 2000
const rng = new ChaChaRng(new Uint8Array(32).fill(7))
const global: ModelWeights = [{ name: 'w', shape: [DIMENSION], data: new Float32Array(DIMENSION).fill(0.5) }]
const target = Float32Array.from({ length: DIMENSION }, (_, i) => 0.5 + 0.1 * Math.sin(i))
const honestDelta = (): Float32Array => Float32Array.from(target, (t) => t + 0.01 * rng.nextGaussian())

const honest: ClientUpdate[] = Array.from({ length: 10 }, (_, k) => ({
  clientId: `honest-${String(k).padStart(2, '0')}`,
  weights: [{ name: 'w', shape: [DIMENSION], data: honestDelta() }],
  numExamples: 100
}))
const attackerWeights = honestDelta().map((x) => 0.5 + 100 * (x - 0.5))
const attacker: ClientUpdate = { clientId: 'mallory', weights: [{ name: 'w', shape: [DIMENSION], data: attackerWeights }], numExamples: 100 }
const honestMean = new Float64Array(DIMENSION)
for (const update of honest) update.weights[0].data.forEach((x, i) => { honestMean[i] += x / honest.length })

function distanceToHonestMean (weights: ModelWeights): number {
  let sum = 0
  weights[0].data.forEach((x, i) => { sum += (x - honestMean[i]) ** 2 })
  return Math.sqrt(sum)
}

// ‖Δ*‖ = 0.1·√(Σ sin²i) ≈ 0.1·√1000 ≈ 3.2; an honest client's own noise is ≈ 0.01·√2000 ≈ 0.45.
const SMALL = 0.5

describe('poisoning: 10 honest updates + 1 scaled ×100', () => {
  const updates = [attacker, ...honest]

  it('pulls FedAvg far away', () => {
    // mean = (10·honest + 100·Δ_attacker)/11 ≈ honest + 9·Δ* → ≈ 9 × 3.2 ≈ 29 away
    assert.ok(distanceToHonestMean(fedAvg(global, updates).weights) > 20)
  })

  it('leaves the median, the trimmed mean and Krum near the honest mean', () => {
    const median = distanceToHonestMean(coordinateMedian(global, updates).weights)
    const trimmed = distanceToHonestMean(trimmedMean(global, updates, { beta: 0.1 }).weights)
    const krumResult = krum(global, updates, { f: 1 })
    assert.ok(median < SMALL, `median is ${median} away`)
    assert.ok(trimmed < SMALL, `trimmed mean is ${trimmed} away`)
    assert.ok(distanceToHonestMean(krumResult.weights) < SMALL, 'krum')
    assert.ok(krumResult.report.rejected.some((r) => r.clientId === 'mallory'))
  })

  it('norm-bound filtering in front of FedAvg rejects the attacker', () => {
    const result = normBound(fedAvg)(global, updates, {})
    assert.deepEqual(result.report.rejected.map((r) => [r.clientId, r.code]), [['mallory', 'norm-bound']])
    assert.ok(distanceToHonestMean(result.weights) < 1e-5)
  })
})
