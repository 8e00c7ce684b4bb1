import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { deltaNorm, type ModelWeights } from '../tensors.ts'
import { effectiveNoiseMultiplier, privatizeUpdate } from './distributedDp.ts'

const size = 20_000
const global: ModelWeights = [{ name: 'w', shape: [size], data: new Float32Array(size).fill(0.5) }]
const update: ModelWeights = [{ name: 'w', shape: [size], data: new Float32Array(size).fill(0.6) }]
const seed = new Uint8Array(32).fill(9)

describe('distributed DP', () => {
  test('clips the delta to C without noise', () => {
    const result = privatizeUpdate(update, global, { clipNorm: 1, noiseMultiplier: 0, participants: 4, seed })
    assert.ok(Math.abs(result.norm - 0.1 * Math.sqrt(size)) < 1e-3)
    assert.ok(Math.abs(deltaNorm(result.weights, global) - 1) < 1e-3)
  })

  test('adds noise of std z·C/√n per coordinate: n such updates average to DP-FedAvg\'s z·C/n', () => {
    const result = privatizeUpdate(global, global, { clipNorm: 2, noiseMultiplier: 0.5, participants: 4, seed })
    assert.equal(result.noiseStd, 0.5)
    const values = result.weights[0].data.map(v => v - 0.5)
    const std = Math.sqrt(values.reduce((sum, v) => sum + v * v, 0) / size)
    assert.ok(Math.abs(std - 0.5) < 0.01, `measured ${std}`)
  })

  test('the round\'s effective noise multiplier drops when fewer participants are averaged', () => {
    assert.equal(effectiveNoiseMultiplier(1, 4, 4), 1)
    assert.equal(effectiveNoiseMultiplier(1, 1, 4), 0.5)
    assert.equal(effectiveNoiseMultiplier(1, 0, 4), 0)
  })

  test('rejects nonsense parameters', () => {
    assert.throws(() => privatizeUpdate(update, global, { clipNorm: 0, noiseMultiplier: 1, participants: 1 }), /Invalid DP parameters/)
  })
})
