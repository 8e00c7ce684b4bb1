import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeSafetensors } from '../tensors.ts'
import { fedAvg } from './fedAvg.ts'
import { fedProx, proximalGradient, proximalLoss } from './fedProx.ts'
import { f32, update, values, weights } from './testHelpers.ts'
import { NoAcceptedUpdatesError } from './types.ts'

const global = weights([0, 0], [0])

describe('fedAvg', () => {
  it('weights clients by numExamples', () => {
    const result = fedAvg(global, [
      update('a', [[1, 2], [10]], 1),
      update('b', [[3, 6], [20]], 3)
    ])
    // t0: (1·1 + 3·3)/4 = 10/4 = 2.5 and (1·2 + 3·6)/4 = 20/4 = 5; t1: (1·10 + 3·20)/4 = 70/4 = 17.5
    assert.deepEqual(values(result.weights), [[2.5, 5], [17.5]])
    assert.deepEqual(result.report, {
      strategy: 'fedavg',
      accepted: [{ clientId: 'a', numExamples: 1 }, { clientId: 'b', numExamples: 3 }],
      rejected: [],
      details: { weighting: 'examples', totalWeight: 4 }
    })
  })

  it('averages uniformly on request', () => {
    const result = fedAvg(global, [update('a', [[1, 2], [10]], 1), update('b', [[3, 6], [20]], 3)], { weighting: 'uniform' })
    // (1+3)/2 = 2, (2+6)/2 = 4, (10+20)/2 = 15
    assert.deepEqual(values(result.weights), [[2, 4], [15]])
  })

  it('rounds to float32 once, from a float64 accumulator', () => {
    const result = fedAvg(weights([0]), [update('a', [[0.1]], 3), update('b', [[0.2]], 7), update('c', [[0.7]], 11)])
    // f32(0.1) = 0.100000001490116, f32(0.2) = 0.200000002980232, f32(0.7) = 0.699999988079071
    // 3·0.100000001490116 = 0.300000004470348, 7·0.200000002980232 = 1.400000020861626,
    // 11·0.699999988079071 = 7.699999868869781; sum 9.399999894201755; / 21 = 0.447619042581036,
    // whose nearest float32 is 0.4476190507411957
    assert.deepEqual(values(result.weights), [f32(0.447619042581036)])
    assert.equal(values(result.weights)[0][0], 0.4476190507411957)
  })

  it('produces byte-identical output whatever order the updates arrive in', () => {
    const updates = Array.from({ length: 7 }, (_, k) => update(`client-${k}`, [
      Array.from({ length: 5 }, (_, i) => Math.sin(k * 7 + i) * 1e3 + 1 / (k + 1)),
      [Math.cos(k) * 1e-3]
    ], 10 + k * 13))
    const reference = encodeSafetensors(fedAvg(weights([0, 0, 0, 0, 0], [0]), updates).weights)
    for (const order of [[6, 5, 4, 3, 2, 1, 0], [3, 0, 6, 1, 5, 2, 4]]) {
      const shuffled = order.map((k) => updates[k])
      assert.deepEqual(encodeSafetensors(fedAvg(weights([0, 0, 0, 0, 0], [0]), shuffled).weights), reference)
    }
  })

  it('rejects malformed updates with a reason and aggregates the rest', () => {
    const result = fedAvg(global, [
      update('good', [[2, 4], [6]], 2),
      update('nan', [[NaN, 1], [1]], 5),
      update('shape', [[1, 2, 3], [1]], 5),
      update('zero', [[1, 1], [1]], 0),
      update('fraction', [[1, 1], [1]], 1.5)
    ])
    assert.deepEqual(values(result.weights), [[2, 4], [6]])
    assert.deepEqual(result.report.accepted, [{ clientId: 'good', numExamples: 2 }])
    assert.deepEqual(result.report.rejected, [
      { clientId: 'fraction', code: 'invalid-examples', reason: 'numExamples must be a positive integer, got 1.5' },
      { clientId: 'nan', code: 'non-finite', reason: "tensor 't0' element 0 is NaN" },
      { clientId: 'shape', code: 'incompatible', reason: "tensor 't0' has shape [3], expected [2]" },
      { clientId: 'zero', code: 'invalid-examples', reason: 'numExamples must be a positive integer, got 0' }
    ])
  })

  it('throws NoAcceptedUpdatesError (with the report) when nothing is left', () => {
    assert.throws(() => fedAvg(global, []), (err: unknown) => err instanceof NoAcceptedUpdatesError && err.shortMessage === 'fedavg: no client updates to aggregate')
    assert.throws(() => fedAvg(global, [update('x', [[Infinity, 0], [0]])]), (err: unknown) => {
      assert.ok(err instanceof NoAcceptedUpdatesError)
      assert.equal(err.shortMessage, 'fedavg: all 1 client updates were rejected')
      assert.deepEqual(err.report.rejected, [{ clientId: 'x', code: 'non-finite', reason: "tensor 't0' element 0 is Infinity" }])
      return true
    })
  })

  it('refuses two updates from one client', () => {
    assert.throws(() => fedAvg(global, [update('a', [[1, 1], [1]]), update('a', [[2, 2], [2]])]), /client 'a' has more than one update in this round/)
  })
})

describe('fedProx', () => {
  it('aggregates like FedAvg and records μ', () => {
    const updates = [update('a', [[1, 2], [10]], 1), update('b', [[3, 6], [20]], 3)]
    const result = fedProx(global, updates, { mu: 0.01 })
    assert.deepEqual(encodeSafetensors(result.weights), encodeSafetensors(fedAvg(global, updates).weights))
    assert.equal(result.report.strategy, 'fedprox')
    assert.deepEqual(result.report.details, { weighting: 'examples', totalWeight: 4, mu: 0.01 })
    assert.throws(() => fedProx(global, updates, { mu: -1 }), /fedprox: mu must be a number >= 0, got -1/)
  })

  it('gives the proximal gradient μ(w − w_global) and loss (μ/2)‖w − w_global‖²', () => {
    const w = weights([1, 2])
    const wGlobal = weights([0.5, 4])
    // w − w_global = (0.5, −2); gradient = 0.1 · (0.5, −2) = (0.05, −0.2)
    assert.deepEqual(values(proximalGradient(w, wGlobal, 0.1)), [f32(0.05, -0.2)])
    // loss = 0.1/2 · (0.25 + 4) = 0.05 · 4.25 = 0.2125
    assert.ok(Math.abs(proximalLoss(w, wGlobal, 0.1) - 0.2125) < 1e-15)
    assert.throws(() => proximalLoss(weights([1]), wGlobal, 0.1), /do not match/)
  })
})
