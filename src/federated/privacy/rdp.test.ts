import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { computeRdp, dpEpsilon, logErfc, RdpAccountant, rdpToEpsilon } from './rdp.ts'

function close (actual: number, expected: number, relative: number): void {
  assert.ok(Math.abs(actual - expected) <= relative * Math.abs(expected), `${actual} vs ${expected} (relative tolerance ${relative})`)
}

const integers = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** The classic conversion ε = min RDP(α) − log δ/(α − 1) (Mironov 2017), used by older references. */
function classicEpsilon (orders: number[], rdp: number[], delta: number): { epsilon: number, order: number } {
  let best = { epsilon: Infinity, order: NaN }
  orders.forEach((alpha, i) => {
    const epsilon = rdp[i] - Math.log(delta) / (alpha - 1)
    if (epsilon < best.epsilon) best = { epsilon, order: alpha }
  })
  return best
}

describe('RDP of the sampled Gaussian mechanism', () => {
  it('q = 1 is the Gaussian mechanism: RDP(α) = α/(2σ²)', () => {
    assert.deepEqual(computeRdp({ samplingRate: 1, noiseMultiplier: 10, steps: 1, orders: [20] }), [0.1])
    assert.deepEqual(computeRdp({ samplingRate: 1, noiseMultiplier: 2, steps: 3, orders: [1.5, 8] }), [3 * 1.5 / 8, 3 * 8 / 8])
    assert.deepEqual(computeRdp({ samplingRate: 0, noiseMultiplier: 1, steps: 5, orders: [2] }), [0])
    assert.deepEqual(computeRdp({ samplingRate: 0.5, noiseMultiplier: 0, steps: 1, orders: [2] }), [Infinity])
  })

  it('integer orders match the binomial expansion worked by hand', () => {
    // α = 2: A₂ = (1−q)² + 2q(1−q) + q²e^{1/σ²} = 1 + q²(e^{1/σ²} − 1).
    // q = 0.1, σ = 1: 1 + 0.01·(2.718281828459045 − 1) = 1.0171828182845905; log = 0.017036863236176
    close(computeRdp({ samplingRate: 0.1, noiseMultiplier: 1, steps: 1, orders: [2] })[0], 0.017036863236176, 1e-12)
    // α = 3: A₃ = (1−q)³ + 3q(1−q)² + 3q²(1−q)e^{1/σ²} + q³e^{3/σ²}
    //   = 0.729 + 0.243 + 0.027·2.718281828 + 0.001·20.085536923 = 1.065479144; log/2 = 0.031712300303
    close(computeRdp({ samplingRate: 0.1, noiseMultiplier: 1, steps: 1, orders: [3] })[0], 0.0317123003033764, 1e-12)
    // Both also agree with numerical integration of A_α = ∫ μ₀(z)((1−q) + q·μ₁(z)/μ₀(z))^α dz (mpmath).
  })

  it('matches TF-Privacy\'s published values (integer and fractional orders)', () => {
    // tensorflow/privacy rdp_accountant_test.py, test_compute_rdp_scalar: compute_rdp(0.1, 2, 10, 5) ≈ 0.07737
    close(computeRdp({ samplingRate: 0.1, noiseMultiplier: 2, steps: 10, orders: [5] })[0], 0.07737, 1e-4)
    // test_compute_rdp_sequence: q = 0.01, σ = 2.5, 50 steps at orders 1.5, 2.5, 5, 50, 100
    const rdp = computeRdp({ samplingRate: 0.01, noiseMultiplier: 2.5, steps: 50, orders: [1.5, 2.5, 5, 50, 100] })
    const expected = [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307]
    rdp.forEach((value, i) => assert.ok(Math.abs(value - expected[i]) < 1e-5, `order index ${i}: ${value}`))
    // Fractional orders checked more tightly against numerical integration with mpmath (40 digits):
    // α = 1.5 → 0.000650070897188, α = 2.5 → 0.00108541805692
    close(rdp[0], 0.000650070897188, 1e-9)
    close(rdp[1], 0.00108541805692, 1e-9)
  })

  it('the fractional formula joins the integer one continuously', () => {
    const [below, at, above] = computeRdp({ samplingRate: 0.1, noiseMultiplier: 1.3, steps: 1, orders: [4.999999, 5, 5.000001] })
    close(below, at, 1e-5)
    close(above, at, 1e-5)
    assert.ok(below < at && at < above, 'RDP grows with the order')
  })

  it('log erfc stays accurate far into the tail', () => {
    // Reference values: log(2) + scipy.special.log_ndtr(−x·√2)
    const cases: Array<[number, number]> = [[-1, 0.6112323176780705], [0.5, -0.7350111298370848], [1.99, -5.320852015139978], [2, -5.36494126461664], [5, -27.200889545537446], [30, -903.9741171106442], [100, -10005.177585122668]]
    for (const [x, expected] of cases) close(logErfc(x), expected, 1e-13)
  })
})

describe('conversion to (ε, δ)', () => {
  it('q = 1, σ = 1, one round, δ = 1e-5: the closed form at the best default order', () => {
    // RDP(α) = α/2; ε(α) = α/2 + log((α−1)/α) − (log δ + log α)/(α − 1). At α = 5.5 (the best default order):
    // 2.75 + log(4.5/5.5) − (−11.512925465 + 1.704748092)/4.5 = 2.75 − 0.200670695 + 2.179594972 = 4.728924276
    // Neighbours are worse: α = 5: 2.5 + log 0.8 − log(5e-5)/4 = 2.5 − 0.223143551 + 2.475871888 = 4.752728337;
    // α = 6: 3 + log(5/6) − log(6e-5)/5 = 3 − 0.182321557 + 1.944233199 = 4.761911642.
    const result = dpEpsilon({ samplingRate: 1, noiseMultiplier: 1, rounds: 1, delta: 1e-5 })
    close(result.epsilon, 4.728924276, 1e-9)
    assert.equal(result.order, 5.5)
    close(rdpToEpsilon({ orders: [5], rdp: [2.5], delta: 1e-5 }).epsilon, 4.752728337, 1e-9)
    close(rdpToEpsilon({ orders: [6], rdp: [3], delta: 1e-5 }).epsilon, 4.761911642, 1e-9)
  })

  it('a constant RDP curve (pure DP) gives the hand-computed ε (dp_accounting test)', () => {
    // ε(32) = 1.1 + log(31/32) − log(32·1e-5)/31 = 1.1 − 0.031748698 + 0.259586760 = 1.327838062
    // (google/differential-privacy dp_accounting rdp_privacy_accountant_test: 1.32783806176 at order 32)
    const orders = integers(2, 32)
    const result = rdpToEpsilon({ orders, rdp: orders.map(() => 1.1), delta: 1e-5 })
    close(result.epsilon, 1.32783806176, 1e-10)
    assert.equal(result.order, 32)
  })

  it('matches Opacus\'s accountant test (σ = 1.5, q = 0.04, 2250 steps, δ = 1e-5 → ε = 7.32911117143)', () => {
    // pytorch/opacus tests/accountants_test.py with Opacus's default orders 1.1 … 10.9 and 12 … 63
    const orders = [...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10), ...integers(12, 63)]
    // (Opacus steps 2250 times; RDP composes linearly, so one step of 2250 rounds is the same.)
    const accountant = new RdpAccountant(orders).step({ samplingRate: 0.04, noiseMultiplier: 1.5, steps: 2250 })
    close(accountant.getEpsilon(1e-5).epsilon, 7.32911117143, 1e-9)
  })

  it('composes rounds and matches TF-Privacy\'s composition tests (classic conversion)', () => {
    // rdp_accountant_test.py test_get_privacy_spent_check_target_delta: orders 2 … 32, q = 0.01, σ = 4,
    // 10000 steps, δ = 1e-5 → ε = 1.258575 at order 20 (with ε = RDP − log δ/(α − 1)).
    const orders = integers(2, 32)
    const rdp = computeRdp({ samplingRate: 0.01, noiseMultiplier: 4, steps: 10_000, orders })
    const classic = classicEpsilon(orders, rdp, 1e-5)
    close(classic.epsilon, 1.258575, 1e-6)
    assert.equal(classic.order, 20)
    // The improved conversion is never worse.
    assert.ok(rdpToEpsilon({ orders, rdp, delta: 1e-5 }).epsilon <= classic.epsilon)

    // test_check_composition: two mechanisms composed → ε = 8.509656 at order 2.5 (classic).
    const mixed = [1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 64, 256]
    const accountant = new RdpAccountant(mixed)
      .step({ samplingRate: 1e-4, noiseMultiplier: 0.4, steps: 40_000 })
      .step({ samplingRate: 0.1, noiseMultiplier: 2, steps: 100 })
    const composed = classicEpsilon(mixed, [...accountant.rdp], 1e-5)
    close(composed.epsilon, 8.509656, 1e-6)
    assert.equal(composed.order, 2.5)
    assert.deepEqual(accountant.toJSON().history, [
      { samplingRate: 1e-4, noiseMultiplier: 0.4, steps: 40_000 },
      { samplingRate: 0.1, noiseMultiplier: 2, steps: 100 }
    ])
  })

  it('adds RDP linearly over steps and survives a JSON round trip', () => {
    const one = new RdpAccountant().step({ samplingRate: 0.05, noiseMultiplier: 1.1 })
    const ten = new RdpAccountant().step({ samplingRate: 0.05, noiseMultiplier: 1.1, steps: 10 })
    one.rdp.forEach((value, i) => close(ten.rdp[i], 10 * value, 1e-12))
    const restored = RdpAccountant.fromJSON(JSON.parse(JSON.stringify(ten.toJSON())))
    assert.deepEqual(restored.getEpsilon(1e-5), ten.getEpsilon(1e-5))
    assert.ok(ten.getEpsilon(1e-5).epsilon > one.getEpsilon(1e-5).epsilon)
  })

  it('ε is 0 before any round and ∞ after a round without noise', () => {
    assert.equal(new RdpAccountant().getEpsilon(1e-5).epsilon, 0)
    assert.equal(new RdpAccountant().step({ samplingRate: 0.1, noiseMultiplier: 0 }).getEpsilon(1e-5).epsilon, Infinity)
    assert.throws(() => rdpToEpsilon({ orders: [2], rdp: [1], delta: 0 }), /delta must be in \(0, 1\)/)
  })
})
