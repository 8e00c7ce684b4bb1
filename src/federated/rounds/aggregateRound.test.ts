import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { encodeSafetensors, type ModelWeights } from '../tensors.ts'
import { aggregateRound } from './aggregateRound.ts'
import { decodeGlobal, encodeGlobal } from './globalFile.ts'
import type { ClientUpdate } from '../strategies/types.ts'

const global: ModelWeights = [{ name: 'w', shape: [3], data: Float32Array.of(0, 0, 0) }]
const update = (clientId: string, values: number[], numExamples: number): ClientUpdate => ({ clientId, weights: [{ name: 'w', shape: [3], data: Float32Array.from(values) }], numExamples })

describe('aggregateRound', () => {
  test('FedAvg weights by samples; with DP every accepted update counts once', () => {
    const updates = [update('0xa', [1, 1, 1], 1), update('0xb', [4, 4, 4], 2)]
    assert.deepEqual([...aggregateRound({ global, updates, strategy: { name: 'fedavg' } }).weights[0].data], [3, 3, 3])
    const dp = { clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 }
    assert.deepEqual([...aggregateRound({ global, updates, strategy: { name: 'fedavg' }, dp }).weights[0].data], [2.5, 2.5, 2.5])
  })

  test('the same updates in any order give the same bytes', () => {
    const updates = [update('0xc', [0.1, 0.7, 0.3], 3), update('0xa', [0.2, 0.5, 0.9], 5), update('0xb', [0.4, 0.1, 0.6], 7)]
    for (const name of ['fedavg', 'median', 'trimmed-mean', 'krum', 'multi-krum'] as const) {
      const one = encodeSafetensors(aggregateRound({ global, updates, strategy: { name } }).weights)
      const other = encodeSafetensors(aggregateRound({ global, updates: [...updates].reverse(), strategy: { name } }).weights)
      assert.deepEqual(one, other, name)
    }
  })

  test('updates refused before aggregation are reported with the strategy\'s own rejections', () => {
    const updates = [update('0xa', [1, 1, 1], 1), update('0xb', [1.1, 1, 1], 1), update('0xc', [0.9, 1, 1], 1), update('0xd', [300, 300, 300], 1)]
    const result = aggregateRound({ global, updates, refused: [{ clientId: '0x0', code: 'malformed', reason: 'not safetensors' }], strategy: { name: 'median', normBound: { maxRatio: 3 } } })
    assert.deepEqual(result.report.rejected.map(r => [r.clientId, r.code]), [['0x0', 'malformed'], ['0xd', 'norm-bound']])
    assert.deepEqual(result.report.accepted.map(a => a.clientId), ['0xa', '0xb', '0xc'])
    assert.equal(result.carriedOver, false)
  })

  test('a round with nothing acceptable carries the global weights over', () => {
    const result = aggregateRound({ global, updates: [], refused: [{ clientId: '0xa', code: 'unavailable', reason: 'gone' }], strategy: { name: 'fedavg' } })
    assert.equal(result.carriedOver, true)
    assert.deepEqual(result.weights, global)
    assert.equal(result.report.rejected.length, 1)
  })

  test('a server optimizer\'s state travels in the aggregate file into the next round', () => {
    const updates = [update('0xa', [1, 1, 1], 1), update('0xb', [3, 3, 3], 1)]
    const strategy = { name: 'fedadam' as const, eta: 0.1 }
    const first = aggregateRound({ global, updates, strategy })
    assert.equal(first.optimizerState?.round, 1)
    const file = decodeGlobal(encodeGlobal({ weights: first.weights, optimizerState: first.optimizerState }))
    assert.deepEqual(file.weights, first.weights)
    assert.deepEqual(file.optimizerState, first.optimizerState)
    const second = aggregateRound({ global: file.weights, updates, strategy, optimizerState: file.optimizerState })
    assert.equal(second.optimizerState?.round, 2)
    // Restarting from the file gives the same bytes as carrying the state in memory.
    const inMemory = aggregateRound({ global: first.weights, updates, strategy, optimizerState: first.optimizerState })
    assert.deepEqual(encodeGlobal({ weights: second.weights, optimizerState: second.optimizerState }), encodeGlobal({ weights: inMemory.weights, optimizerState: inMemory.optimizerState }))
    assert.deepEqual(decodeGlobal(encodeGlobal({ weights: global })), { weights: global })
  })
})
