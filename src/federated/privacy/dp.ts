/**
 * Client-level differential privacy as a wrapper around any strategy: DP-FedAvg (McMahan et al.
 * 2018, "Learning Differentially Private Recurrent Language Models"). Each client's delta is
 * clipped to L2 norm C, clients are weighted uniformly (the paper's fixed weights w_k = 1), and
 * Gaussian noise N(0, σ²) with σ = z·C/n per coordinate (z = noiseMultiplier, n = clients
 * aggregated) is added to the aggregate — so one client's contribution to the mean has L2
 * sensitivity C/n and the round is a Gaussian mechanism with noise multiplier z, which
 * {@link RdpAccountant} turns into (ε, δ).
 *
 * How the noise reaches "the aggregate" of an arbitrary inner strategy: the same noise vector ξ
 * is added to every clipped delta before the inner strategy runs. For any translation-equivariant
 * rule A — A(Δ_1 + ξ, …, Δ_n + ξ) = A(Δ_1, …, Δ_n) + ξ — that is exactly noise on the aggregate:
 * the mean (FedAvg, FedProx), and for FedAdam/FedYogi/FedAdagrad noise on the pseudo-gradient
 * *before* the server optimizer (DP then covers the optimizer by post-processing). Median,
 * trimmed mean and Krum are equivariant too, but their sensitivity is not C/n: the accountant's
 * (ε, δ) is only claimed for mean-based inner strategies.
 *
 * The noise of round r is drawn from ChaCha20(seed, nonce = r) (see {@link ChaChaRng}), so every
 * aggregator holding the seed produces the same bytes. The seed must stay secret among the
 * aggregators (they see raw updates anyway): anyone who knows it can subtract the noise.
 */
import { deltaNorm, type ModelWeights } from '../tensors.ts'
import { checkNumber, configObject, partitionUpdates, requireSome, sortRejections } from '../strategies/common.ts'
import {
  NoAcceptedUpdatesError,
  type AggregationResult,
  type ClientUpdate,
  type RejectedUpdate,
  type Strategy
} from '../strategies/types.ts'
import { ChaChaRng, checkSeed, nonceFromCounter } from './prng.ts'

export interface DpConfig {
  /** L2 bound C on each client's delta (> 0). */
  clipNorm: number
  /** z >= 0: the noise standard deviation is z·C/n. 0 disables noise (clipping only). */
  noiseMultiplier: number
  /** 32 secret bytes shared by the aggregators; round r's noise uses nonce r. */
  seed: Uint8Array
}

export interface DpState<S> {
  /** Rounds already aggregated: the nonce of the next round's noise. */
  round: number
  /** The inner strategy's state. */
  inner?: S
}

/** σ = z·C/n, the per-coordinate noise standard deviation for n clients. */
export function dpNoiseStd (clipNorm: number, noiseMultiplier: number, clients: number): number {
  return clients > 0 ? noiseMultiplier * clipNorm / clients : 0
}

/**
 * Scales x − global down to norm `clipNorm` when it is longer: returns global + s·(x − global)
 * with s = min(1, C/‖x − global‖), computed in float64 and rounded to float32 once.
 */
export function clipUpdate (update: ModelWeights, global: ModelWeights, clipNorm: number): { weights: ModelWeights, norm: number, scale: number } {
  const norm = deltaNorm(update, global)
  const scale = norm > clipNorm ? clipNorm / norm : 1
  return { weights: shiftedClip(update, global, scale, undefined), norm, scale }
}

function shiftedClip (update: ModelWeights, global: ModelWeights, scale: number, noise: Float64Array[] | undefined): ModelWeights {
  return global.map((tensor, t) => {
    const g = tensor.data
    const x = update[t].data
    const xi = noise?.[t]
    const data = new Float32Array(g.length)
    if (xi === undefined) {
      for (let i = 0; i < g.length; i++) data[i] = g[i] + scale * (x[i] - g[i])
    } else {
      for (let i = 0; i < g.length; i++) data[i] = g[i] + (scale * (x[i] - g[i]) + xi[i])
    }
    return { name: tensor.name, shape: [...tensor.shape], data }
  })
}

/**
 * Wraps `inner` with client-level DP (see the module comment). Per round: reject malformed or
 * non-finite updates; clip each delta to C; draw ξ ~ N(0, (z·C/n)²) per coordinate in model order
 * from ChaCha20(seed, round); give the inner strategy global + clipped delta + ξ with
 * numExamples = 1; report the accepted clients with their real numExamples (for rewards), how
 * many were clipped (not which: per-client norms would leak), σ and the round.
 */
export function withDifferentialPrivacy<C, S> (inner: Strategy<C, S>, dp: DpConfig): Strategy<C, DpState<S>> {
  const settings = configObject('dp', dp)
  const clipNorm = checkNumber('dp', 'clipNorm', settings.clipNorm, { min: 0, minExclusive: true })
  const noiseMultiplier = checkNumber('dp', 'noiseMultiplier', settings.noiseMultiplier, { min: 0 })
  const seed = checkSeed(settings.seed, 'dp seed').slice()
  return (global: ModelWeights, updates: readonly ClientUpdate[], config: C, state?: DpState<S>): AggregationResult<DpState<S>> => {
    const round = checkNumber('dp', 'state.round', state?.round ?? 0, { min: 0, integer: true })
    const partition = partitionUpdates(global, updates, { checkFinite: false })
    const rejected: RejectedUpdate[] = [...partition.rejected]
    const clients: Array<{ update: ClientUpdate, norm: number }> = []
    for (const update of partition.valid) {
      const norm = deltaNorm(update.weights, global)
      if (Number.isFinite(norm)) clients.push({ update, norm })
      else rejected.push({ clientId: update.clientId, code: 'non-finite', reason: 'the update holds NaN or ±Infinity (its delta norm is not finite)' })
    }
    requireSome('dp', { valid: clients.map(({ update }) => update), rejected })

    const n = clients.length
    const noiseStd = dpNoiseStd(clipNorm, noiseMultiplier, n)
    const noise = noiseStd > 0 ? drawNoise(global, noiseStd, seed, round) : undefined
    let clipped = 0
    const privatized: ClientUpdate[] = clients.map(({ update, norm }) => {
      const scale = norm > clipNorm ? clipNorm / norm : 1
      if (scale < 1) clipped++
      return { clientId: update.clientId, numExamples: 1, weights: shiftedClip(update.weights, global, scale, noise) }
    })
    const dpDetails = { clipNorm, noiseMultiplier, noiseStd, clients: n, clipped, round, weighting: 'uniform' }

    let result: AggregationResult<S>
    try {
      result = inner(global, privatized, config, state?.inner)
    } catch (err) {
      if (!(err instanceof NoAcceptedUpdatesError)) throw err
      throw new NoAcceptedUpdatesError({ ...err.report, strategy: `dp(${err.report.strategy})`, rejected: sortRejections([...rejected, ...err.report.rejected]), details: { ...err.report.details, dp: dpDetails } })
    }
    const examples = new Map(clients.map(({ update }) => [update.clientId, update.numExamples]))
    return {
      weights: result.weights,
      state: { round: round + 1, ...(result.state !== undefined ? { inner: result.state } : {}) },
      report: {
        strategy: `dp(${result.report.strategy})`,
        accepted: result.report.accepted.map((accepted) => ({ clientId: accepted.clientId, numExamples: examples.get(accepted.clientId) ?? accepted.numExamples })),
        rejected: sortRejections([...rejected, ...result.report.rejected]),
        details: { ...result.report.details, dp: dpDetails }
      }
    }
  }
}

/** ξ for every coordinate, tensor by tensor in model order, from ChaCha20(seed, nonce = round). */
function drawNoise (global: ModelWeights, std: number, seed: Uint8Array, round: number): Float64Array[] {
  const rng = new ChaChaRng(seed, nonceFromCounter(round))
  return global.map((tensor) => {
    const noise = new Float64Array(tensor.data.length)
    rng.fillGaussian(noise, std)
    return noise
  })
}
