import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fedAdagrad, fedAdam, fedYogi, initialFedOptState } from './fedOpt.ts'
import { f32, update, values, weights } from './testHelpers.ts'

// Global x = (1, −2, 0.5). Client a (1 example) sends (5, 1, 0), client b (3 examples) (1, −3, 0):
// weighted means (5 + 3)/4 = 2, (1 − 9)/4 = −2, 0, so the pseudo-gradient is Δ = (1, 0, −0.5).
// η = 1, β1 = 0.9, β2 = 0.99, τ = 0.5, so v₋₁ = τ² = 0.25 and m₋₁ = 0.
// m₀ = 0.9·0 + 0.1·Δ = (0.1, 0, −0.05) for all three optimizers.
const global = weights([1, -2, 0.5])
const updates = [update('a', [[5, 1, 0]], 1), update('b', [[1, -3, 0]], 3)]
const config = { eta: 1, beta1: 0.9, beta2: 0.99, tau: 0.5 }

function close (actual: number[], expected: number[], tolerance = 1e-6): void {
  assert.equal(actual.length, expected.length)
  actual.forEach((value, i) => assert.ok(Math.abs(value - expected[i]) <= tolerance, `element ${i}: ${value} vs ${expected[i]}`))
}

describe('server optimizers (Reddi et al. 2021, Algorithm 2)', () => {
  it('FedAdam: one step from the initial state', () => {
    const result = fedAdam(global, updates, config)
    // v₀ = 0.99·0.25 + 0.01·Δ² = (0.2475 + 0.01, 0.2475, 0.2475 + 0.0025) = (0.2575, 0.2475, 0.25)
    // x₁ = x + m₀/(√v₀ + τ):
    //   1 + 0.1/(0.507444578 + 0.5) = 1 + 0.099261043 = 1.099261043
    //   −2 + 0 = −2
    //   0.5 − 0.05/(0.5 + 0.5) = 0.45
    close(values(result.weights)[0], [1.099261043, -2, 0.45])
    assert.deepEqual(values(result.state!.m), [f32(0.1, 0, -0.05)])
    assert.deepEqual(values(result.state!.v), [f32(0.2575, 0.2475, 0.25)])
    assert.equal(result.state!.round, 1)
    assert.equal(result.report.strategy, 'fedadam')
    assert.deepEqual(result.report.accepted.map((a) => a.clientId), ['a', 'b'])
    // ‖Δ‖ = √(1 + 0.25) = 1.118033989
    assert.ok(Math.abs((result.report.details.pseudoGradientNorm as number) - Math.sqrt(1.25)) < 1e-12)
  })

  it('FedAdam: the second step uses the state (momentum moves on with Δ = 0)', () => {
    const first = fedAdam(global, updates, config)
    const x1 = first.weights
    const second = fedAdam(x1, [update('a', x1, 1), update('b', x1, 3)], config, first.state)
    // m₁ = 0.9·m₀ = (0.09, 0, −0.045); v₁ = 0.99·v₀ = (0.254925, 0.245025, 0.2475)
    // x₂ = x₁ + m₁/(√v₁ + τ):
    //   1.099261045 + 0.09/(0.504900980 + 0.5) = 1.099261045 + 0.089561063 = 1.188822108
    //   0.45 − 0.045/(0.497493719 + 0.5) = 0.45 − 0.045113066 = 0.404886934
    close(values(second.weights)[0], [1.188822108, -2, 0.404886934])
    close(values(second.state!.m)[0], [0.09, 0, -0.045])
    close(values(second.state!.v)[0], [0.254925, 0.245025, 0.2475])
    assert.equal(second.state!.round, 2)
  })

  it('FedYogi: one step', () => {
    const result = fedYogi(global, updates, config)
    // v₀ = v₋₁ − (1 − β2)·Δ²·sign(v₋₁ − Δ²):
    //   0.25 − 0.01·1·sign(0.25 − 1) = 0.26;  0.25 − 0·sign(0.25) = 0.25;  0.25 − 0.01·0.25·sign(0) = 0.25
    // x₁: 1 + 0.1/(√0.26 + 0.5) = 1 + 0.1/1.509901951 = 1.099019514;  −2;  0.5 − 0.05/1 = 0.45
    close(values(result.weights)[0], [1.099019514, -2, 0.45])
    assert.deepEqual(values(result.state!.v), [f32(0.26, 0.25, 0.25)])
    assert.equal(result.report.strategy, 'fedyogi')
  })

  it('FedAdagrad: one step', () => {
    const result = fedAdagrad(global, updates, config)
    // v₀ = v₋₁ + Δ² = (1.25, 0.25, 0.5)
    // x₁: 1 + 0.1/(1.118033989 + 0.5) = 1 + 0.061803399 = 1.061803399;  −2;
    //     0.5 − 0.05/(0.707106781 + 0.5) = 0.5 − 0.041421356 = 0.458578644
    close(values(result.weights)[0], [1.061803399, -2, 0.458578644])
    assert.equal(result.report.details.beta2, undefined)
  })

  it('starting from initialFedOptState is the same as starting with no state', () => {
    const a = fedAdam(global, updates, config)
    const b = fedAdam(global, updates, config, initialFedOptState(global, config))
    assert.deepEqual(a.weights, b.weights)
    assert.deepEqual(a.state, b.state)
  })

  it('checks the config and the state', () => {
    assert.throws(() => fedAdam(global, updates, { eta: 0 }), /fedadam: eta must be a number > 0, got 0/)
    assert.throws(() => fedYogi(global, updates, { eta: 1, beta2: 1 }), /fedyogi: beta2 must be a number >= 0 and < 1, got 1/)
    assert.throws(() => fedAdam(global, updates, config, initialFedOptState(weights([0, 0]))), /fedadam: state.m does not match the global model: tensor 't0' has shape \[2\], expected \[3\]/)
  })
})
