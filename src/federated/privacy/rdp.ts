/**
 * Rényi-DP accountant for the (Poisson-)subsampled Gaussian mechanism, the standard accounting of
 * DP-SGD and DP-FedAvg (each round samples each client with probability q and adds Gaussian noise
 * with multiplier σ = noiseMultiplier).
 *
 * - RDP of one round at order α: Mironov, Talwar & Zhang 2019, "Rényi Differential Privacy of the
 *   Sampled Gaussian Mechanism" (arXiv:1908.10530), §3.3: RDP(α) = log(A_α)/(α − 1) with, for
 *   integer α, A_α = Σ_{i=0}^{α} C(α, i) (1 − q)^{α−i} q^i exp((i² − i)/(2σ²)), and for fractional
 *   α the two-sided series with erfc terms of the same section. q = 1 is the plain Gaussian
 *   mechanism: RDP(α) = α/(2σ²). The computations follow TF-Privacy/Opacus, in log space.
 * - Composition: RDP adds up over rounds at each order.
 * - Conversion to (ε, δ): Balle et al. 2020, "Hypothesis Testing Interpretations and Rényi
 *   Differential Privacy" (AISTATS, arXiv:1905.09982) Theorem 21, as used by Opacus
 *   (`get_privacy_spent`) and TF-Privacy / dp_accounting (`compute_epsilon`):
 *     ε = min_α  RDP(α) + log((α − 1)/α) − (log δ + log α)/(α − 1),
 *   clamped at 0, with ε = 0 where δ² + exp(−RDP) − 1 >= 0 (a bound via KL divergence).
 */
import { InvalidInputError } from '../../errors.ts'

/**
 * Fractional orders where the optimum usually lies for ε of a few units, then every integer order
 * from 2 to 256 (the integer formula is exact and cheap).
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  1.1, 1.25, 1.5, 1.75, 2.25, 2.5, 2.75, 3.25, 3.5, 3.75, 4.5, 5.5, 6.5, 7.5,
  ...Array.from({ length: 255 }, (_, i) => i + 2)
].sort((a, b) => a - b))

export interface SampledGaussianParams {
  /** Probability q ∈ [0, 1] that a given client takes part in a round (Poisson sampling). */
  samplingRate: number
  /** σ >= 0: noise standard deviation over the L2 sensitivity. */
  noiseMultiplier: number
  /** Rounds (compositions), a non-negative integer. */
  steps: number
  orders?: readonly number[]
}

/** RDP at each order after `steps` rounds of the sampled Gaussian mechanism. */
export function computeRdp (params: SampledGaussianParams): number[] {
  const { samplingRate: q, noiseMultiplier: sigma, steps } = params
  const orders = params.orders ?? DEFAULT_RDP_ORDERS
  if (!(typeof q === 'number' && q >= 0 && q <= 1)) throw new InvalidInputError(`samplingRate must be in [0, 1], got ${String(q)}`)
  if (!(typeof sigma === 'number' && sigma >= 0 && Number.isFinite(sigma))) throw new InvalidInputError(`noiseMultiplier must be a finite number >= 0, got ${String(sigma)}`)
  if (!Number.isSafeInteger(steps) || steps < 0) throw new InvalidInputError(`steps must be a non-negative integer, got ${String(steps)}`)
  checkOrders(orders)
  return orders.map((alpha) => {
    if (steps === 0 || q === 0) return 0
    return steps * rdpOfSampledGaussian(q, sigma, alpha)
  })
}

function rdpOfSampledGaussian (q: number, sigma: number, alpha: number): number {
  if (sigma === 0) return Infinity
  if (q === 1) return alpha / (2 * sigma * sigma)
  if (alpha === Infinity) return Infinity
  const logA = Number.isInteger(alpha) ? logAInteger(q, sigma, alpha) : logAFractional(q, sigma, alpha)
  return logA / (alpha - 1)
}

/** log A_α for integer α: the binomial expansion, summed in log space. */
function logAInteger (q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q)
  const log1mQ = Math.log1p(-q)
  let logBinomial = 0 // log C(α, 0)
  let logA = -Infinity
  for (let i = 0; i <= alpha; i++) {
    const term = logBinomial + i * logQ + (alpha - i) * log1mQ + (i * i - i) / (2 * sigma * sigma)
    logA = logAdd(logA, term)
    logBinomial += Math.log(alpha - i) - Math.log(i + 1)
  }
  return logA
}

/**
 * log A_α for fractional α (Mironov et al. 2019 §3.3): A_α = A_0 + A_1, integrals over
 * (−∞, z0] and [z0, ∞) with z0 = σ²·log(1/q − 1) + 1/2, each expanded as a series of
 * generalised binomial terms times erfc; summed until both terms are below e^−30.
 */
function logAFractional (q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity
  let logA1 = -Infinity
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5
  const logQ = Math.log(q)
  const log1mQ = Math.log1p(-q)
  let coefficient = 1 // C(α, i), generalised binomial coefficient
  for (let i = 0; ; i++) {
    const logCoefficient = Math.log(Math.abs(coefficient))
    const j = alpha - i
    const logT0 = logCoefficient + i * logQ + j * log1mQ
    const logT1 = logCoefficient + j * logQ + i * log1mQ
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma))
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma))
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1
    if (coefficient > 0) {
      logA0 = logAdd(logA0, logS0)
      logA1 = logAdd(logA1, logS1)
    } else {
      logA0 = logSub(logA0, logS0)
      logA1 = logSub(logA1, logS1)
    }
    if (Math.max(logS0, logS1) < -30 || i > 10_000) break
    coefficient *= (alpha - i) / (i + 1)
  }
  return logAdd(logA0, logA1)
}

function logAdd (a: number, b: number): number {
  const low = Math.min(a, b)
  const high = Math.max(a, b)
  if (low === -Infinity) return high
  return Math.log1p(Math.exp(low - high)) + high
}

function logSub (a: number, b: number): number {
  if (a < b) throw new Error('log-space subtraction would be negative')
  if (b === -Infinity) return a
  if (a === b) return -Infinity
  return Math.log(Math.expm1(a - b)) + b
}

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI)
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI)

/**
 * log(erfc(x)), accurate in relative terms far into the tail (where erfc underflows):
 * - x < 0: log(2 − erfc(−x));
 * - 0 <= x < 2: log(1 − erf(x)), erf by the positive series (2/√π)·e^{−x²}·Σ 2ⁿx^{2n+1}/(2n+1)!!;
 * - x >= 2: −x² − log √π + log K(x), K the continued fraction 1/(x + ½/(x + 1/(x + 3⁄2/(x + …)))),
 *   evaluated backwards from depth 400.
 */
export function logErfc (x: number): number {
  if (Number.isNaN(x)) return NaN
  if (x < 0) return Math.log(2 - Math.exp(logErfc(-x)))
  if (x < 2) return Math.log1p(-erfSeries(x))
  if (x === Infinity) return -Infinity
  let t = x
  for (let k = 400; k >= 1; k--) t = x + (k / 2) / t
  return -x * x - LOG_SQRT_PI - Math.log(t)
}

function erfSeries (x: number): number {
  const x2 = x * x
  let term = x
  let sum = x
  for (let n = 1; n < 200; n++) {
    term *= 2 * x2 / (2 * n + 1)
    sum += term
    if (term < sum * 1e-17) break
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum
}

/**
 * The smallest ε over the orders for the given δ (Balle et al. 2020, Theorem 21 — see the module
 * comment), and the order achieving it. Orders below 1.01 are skipped (numerically unstable and
 * never optimal); ε is Infinity when no order gives a finite bound.
 */
export function rdpToEpsilon (params: { orders: readonly number[], rdp: readonly number[], delta: number }): { epsilon: number, order: number } {
  const { orders, rdp, delta } = params
  checkOrders(orders)
  if (rdp.length !== orders.length) throw new InvalidInputError(`rdp has ${rdp.length} values for ${orders.length} orders`)
  if (!(delta > 0 && delta < 1)) throw new InvalidInputError(`delta must be in (0, 1), got ${String(delta)}`)
  let best = { epsilon: Infinity, order: NaN }
  for (let i = 0; i < orders.length; i++) {
    const alpha = orders[i]
    const r = rdp[i]
    if (!(r >= 0)) throw new InvalidInputError(`rdp values must be >= 0, got ${String(r)} at order ${alpha}`)
    let epsilon: number
    if (delta * delta + Math.expm1(-r) >= 0) epsilon = 0
    else if (alpha > 1.01) epsilon = r + Math.log1p(-1 / alpha) - Math.log(delta * alpha) / (alpha - 1)
    else epsilon = Infinity
    if (epsilon < best.epsilon) best = { epsilon, order: alpha }
  }
  return { epsilon: Math.max(0, best.epsilon), order: best.order }
}

function checkOrders (orders: readonly number[]): void {
  if (!Array.isArray(orders) || orders.length === 0 || !orders.every((alpha) => typeof alpha === 'number' && alpha > 1)) {
    throw new InvalidInputError('RDP orders must be a non-empty list of numbers > 1')
  }
}

export interface AccountantSnapshot {
  orders: number[]
  rdp: number[]
  /** Each distinct (q, σ) with how many rounds used it, in the order first seen. */
  history: Array<{ samplingRate: number, noiseMultiplier: number, steps: number }>
}

/**
 * Accumulates RDP over rounds (possibly with different q and σ) and reports (ε, δ). Serialisable
 * with {@link RdpAccountant.toJSON} / {@link RdpAccountant.fromJSON} for the round record.
 */
export class RdpAccountant {
  readonly orders: readonly number[]
  #rdp: number[]
  #history: AccountantSnapshot['history'] = []

  constructor (orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    checkOrders(orders)
    this.orders = Object.freeze([...orders])
    this.#rdp = orders.map(() => 0)
  }

  /** Composes `steps` rounds (default 1) of the sampled Gaussian mechanism. */
  step (params: { samplingRate: number, noiseMultiplier: number, steps?: number }): this {
    const steps = params.steps ?? 1
    const added = computeRdp({ samplingRate: params.samplingRate, noiseMultiplier: params.noiseMultiplier, steps, orders: this.orders })
    this.#rdp = this.#rdp.map((value, i) => value + added[i])
    const last = this.#history.at(-1)
    if (last !== undefined && last.samplingRate === params.samplingRate && last.noiseMultiplier === params.noiseMultiplier) last.steps += steps
    else this.#history.push({ samplingRate: params.samplingRate, noiseMultiplier: params.noiseMultiplier, steps })
    return this
  }

  get rdp (): readonly number[] {
    return [...this.#rdp]
  }

  getEpsilon (delta: number): { epsilon: number, delta: number, order: number } {
    return { ...rdpToEpsilon({ orders: this.orders, rdp: this.#rdp, delta }), delta }
  }

  toJSON (): AccountantSnapshot {
    return { orders: [...this.orders], rdp: [...this.#rdp], history: this.#history.map((entry) => ({ ...entry })) }
  }

  static fromJSON (snapshot: AccountantSnapshot): RdpAccountant {
    const accountant = new RdpAccountant(snapshot.orders)
    if (!Array.isArray(snapshot.rdp) || snapshot.rdp.length !== snapshot.orders.length || !snapshot.rdp.every((value) => value >= 0)) {
      throw new InvalidInputError('accountant snapshot has an rdp list that does not match its orders')
    }
    accountant.#rdp = [...snapshot.rdp]
    accountant.#history = (snapshot.history ?? []).map((entry) => ({ ...entry }))
    return accountant
  }
}

/** ε after `rounds` rounds with sampling rate q and noise multiplier σ, for δ. */
export function dpEpsilon (params: { samplingRate: number, noiseMultiplier: number, rounds: number, delta: number, orders?: readonly number[] }): { epsilon: number, order: number } {
  const orders = params.orders ?? DEFAULT_RDP_ORDERS
  return rdpToEpsilon({ orders, rdp: computeRdp({ samplingRate: params.samplingRate, noiseMultiplier: params.noiseMultiplier, steps: params.rounds, orders }), delta: params.delta })
}
