import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { withDifferentialPrivacy } from '../privacy/dp.ts'
import { ChaChaRng } from '../privacy/prng.ts'
import { encodeSafetensors, type ModelWeights } from '../tensors.ts'
import { coordinateMedian, trimmedMean } from './coordinateWise.ts'
import { fedAvg } from './fedAvg.ts'
import { fedAdam, fedYogi } from './fedOpt.ts'
import { krum, multiKrum } from './krum.ts'
import { normBound } from './normBound.ts'
import type { AggregationResult, ClientUpdate } from './types.ts'

// Consensus on the aggregate's CID needs every aggregator to produce the same bytes from the same
// set of updates, whatever order they arrived in.
const rng = new ChaChaRng(new Uint8Array(32).fill(42))
const shape: Array<[string, number]> = [['conv.weight', 1500], ['conv.bias', 7], ['fc.weight', 3001]]
const model = (scale: number): ModelWeights => shape.map(([name, length]) => ({ name, shape: [length], data: Float32Array.from({ length }, () => scale * rng.nextGaussian()) }))
const global = model(1)
const updates: ClientUpdate[] = Array.from({ length: 23 }, (_, k) => ({
  clientId: `node-${(k * 7919) % 1000}`,
  weights: global.map((tensor) => ({ ...tensor, data: tensor.data.map((x) => x + 0.01 * rng.nextGaussian() * (1 + (k % 5))) })),
  numExamples: 10 + ((k * 31) % 97)
}))
const seed = new Uint8Array(32).fill(3)

const strategies: Array<[string, (u: readonly ClientUpdate[]) => AggregationResult<unknown>]> = [
  ['fedavg', (u) => fedAvg(global, u)],
  ['fedadam', (u) => fedAdam(global, u, { eta: 0.01 })],
  ['fedyogi', (u) => fedYogi(global, u, { eta: 0.01 })],
  ['median', (u) => coordinateMedian(global, u)],
  ['trimmed mean', (u) => trimmedMean(global, u, { beta: 0.2 })],
  ['krum', (u) => krum(global, u, { f: 3 })],
  ['multi-krum', (u) => multiKrum(global, u, { f: 3, m: 10 })],
  ['norm-bound(fedavg)', (u) => normBound(fedAvg, { maxRatio: 2 })(global, u, {})],
  ['dp(fedavg)', (u) => withDifferentialPrivacy(fedAvg, { clipNorm: 0.5, noiseMultiplier: 1, seed })(global, u, {})]
]

function shuffled<T> (items: readonly T[], salt: number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = (i * 2654435761 + salt) % (i + 1)
    const tmp = out[i]; out[i] = out[j]; out[j] = tmp
  }
  return out
}

describe('determinism: the same updates in any order give byte-identical safetensors', () => {
  for (const [name, run] of strategies) {
    it(name, () => {
      const reference = run(updates)
      const bytes = encodeSafetensors(reference.weights)
      for (const salt of [1, 99]) {
        const again = run(shuffled(updates, salt))
        assert.deepEqual(encodeSafetensors(again.weights), bytes)
        assert.deepEqual(again.report, reference.report)
      }
    })
  }
})
