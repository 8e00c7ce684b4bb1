/**
 * The robustness claim on real data: 10 nodes' worth of non-IID MNIST shards, the node's own round
 * function (aggregateRound) and the built-in trainer; one participant boosts its delta ×100. FedAvg
 * collapses; the robust rules reject the attacker every round and stay close to their clean run.
 */
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import { initialWeights, type ArchitectureSpec } from '../training/architecture.ts'
import { holdOut, loadMnist, partitionNonIid, type Dataset } from '../training/data.ts'
import { evaluate, trainLocal } from '../training/trainer.ts'
import { aggregateRound } from './aggregateRound.ts'
import type { ModelWeights } from '../tensors.ts'
import type { ClientUpdate } from '../strategies/types.ts'
import type { StrategySpec } from './taskSpec.ts'

const ARCHITECTURE: ArchitectureSpec = { input: { shape: [784] }, layers: [{ type: 'dense', units: 32, activation: 'relu' }], output: { classes: 10 } }
const CLIENTS = 10
const ROUNDS = 8
const ATTACKER = CLIENTS - 1
const BOOST = 100

async function run (shards: Dataset[], test: Dataset, strategy: StrategySpec, poisoned: boolean): Promise<{ accuracy: number, rejected: string[] }> {
  let global: ModelWeights = initialWeights(ARCHITECTURE, 1)
  const rejected: string[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    const updates: ClientUpdate[] = []
    for (let c = 0; c < CLIENTS; c++) {
      const trained = await trainLocal({ architecture: ARCHITECTURE, globalWeights: global, data: shards[c], epochs: 1, learningRate: 0.1, seed: round * 100 + c })
      let weights = trained.weights
      if (poisoned && c === ATTACKER) {
        weights = global.map((tensor, t) => ({ ...tensor, data: tensor.data.map((g, i) => g + BOOST * (trained.weights[t].data[i] - g)) }))
      }
      updates.push({ clientId: `client-${String(c).padStart(2, '0')}`, weights, numExamples: trained.numExamples })
    }
    const result = aggregateRound({ global, updates, strategy })
    rejected.push(...result.report.rejected.map(r => `${round}:${r.clientId}:${r.code}`))
    global = result.weights
  }
  return { accuracy: (await evaluate({ architecture: ARCHITECTURE, weights: global, data: test })).accuracy, rejected }
}

describe('robust aggregation under model poisoning (real MNIST, 10 non-IID clients)', { timeout: 300_000 }, () => {
  let shards: Dataset[]
  let heldOutSet: Dataset

  before(async () => {
    const { train, test: heldOut } = holdOut(await loadMnist({ count: 6000, seed: 11 }), 1 / 6, 11)
    shards = partitionNonIid(train, CLIENTS, { labelsPerClient: 3, iidFraction: 0.2, seed: 11 })
    heldOutSet = heldOut
  })

  test('FedAvg collapses under a ×100 update', async () => {
    const clean = await run(shards, heldOutSet, { name: 'fedavg' }, false)
    const attacked = await run(shards, heldOutSet, { name: 'fedavg' }, true)
    assert.ok(clean.accuracy > 0.7, `clean FedAvg ${clean.accuracy}`)
    assert.ok(attacked.accuracy < clean.accuracy - 0.2, `FedAvg under attack ${attacked.accuracy} vs clean ${clean.accuracy}`)
  })

  // The coordinate median moves when the attacker's honest share drops out (9 clients instead of 10,
  // non-IID): here it loses about 3 points, so the 2-point claim is made for the other two rules only.
  for (const { strategy, tolerance } of [
    { strategy: { name: 'trimmed-mean', beta: 0.1, normBound: { maxRatio: 3 } }, tolerance: 0.02 },
    { strategy: { name: 'multi-krum', f: 1 }, tolerance: 0.02 },
    { strategy: { name: 'median', normBound: { maxRatio: 3 } }, tolerance: 0.05 }
  ] satisfies Array<{ strategy: StrategySpec, tolerance: number }>) {
    test(`${strategy.name} stays within ${tolerance * 100} points of its clean run and rejects the attacker every round`, async () => {
      const clean = await run(shards, heldOutSet, strategy, false)
      const attacked = await run(shards, heldOutSet, strategy, true)
      assert.ok(Math.abs(attacked.accuracy - clean.accuracy) <= tolerance, `${strategy.name}: clean ${clean.accuracy}, under attack ${attacked.accuracy}`)
      const attackerRejections = attacked.rejected.filter(r => r.includes(`client-${String(ATTACKER).padStart(2, '0')}:`))
      assert.equal(attackerRejections.length, ROUNDS, attacked.rejected.join(', '))
    })
  }
})
