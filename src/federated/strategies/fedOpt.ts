/**
 * Adaptive server optimizers from Reddi et al. 2021, "Adaptive Federated Optimization" (ICLR),
 * Algorithm 2. The clients' average delta is a pseudo-gradient Δ_t that the server feeds to
 * Adam, Yogi or Adagrad, per coordinate:
 *
 *   Δ_t = Σ_k n_k (x_k − x_t) / Σ_k n_k            (weighted like FedAvg; 'uniform' is the paper's)
 *   m_t = β1·m_{t−1} + (1 − β1)·Δ_t
 *   v_t = β2·v_{t−1} + (1 − β2)·Δ_t²                 FedAdam
 *   v_t = v_{t−1} − (1 − β2)·Δ_t²·sign(v_{t−1} − Δ_t²) FedYogi
 *   v_t = v_{t−1} + Δ_t²                             FedAdagrad
 *   x_{t+1} = x_t + η·m_t / (√v_t + τ)
 *
 * with m_{−1} = 0 and v_{−1} = τ² (the paper requires v_{−1} >= τ²); no bias correction, as in
 * the paper. Everything is computed in float64 from the float32 inputs and the float32 state;
 * x_{t+1}, m_t and v_t are each rounded to float32 once. The state is plain weights, so it can be
 * stored and shared as safetensors and any aggregator can resume from it.
 */
import { InvalidInputError } from '../../errors.ts'
import { describeIncompatibility, validateWeights, withData, type ModelWeights } from '../tensors.ts'
import { checkNumber, checkWeighting, configObject, partitionUpdates, report, type Weighting } from './common.ts'
import { averageUpdates } from './fedAvg.ts'
import type { AggregationResult, ClientUpdate } from './types.ts'

export interface FedOptConfig {
  /** Server learning rate η > 0. */
  eta: number
  /** Momentum decay β1 ∈ [0, 1); default 0.9. */
  beta1?: number
  /** Second-moment decay β2 ∈ [0, 1); default 0.99 (unused by FedAdagrad). */
  beta2?: number
  /** Adaptivity τ > 0 (also √ of the initial v); default 1e-3. */
  tau?: number
  /** Pseudo-gradient weighting; default 'examples'. */
  weighting?: Weighting
}

export interface FedOptState {
  /** Rounds already applied. */
  round: number
  /** First moment, shaped like the model. */
  m: ModelWeights
  /** Second moment, shaped like the model. */
  v: ModelWeights
}

type Optimizer = 'adam' | 'yogi' | 'adagrad'

export const FEDOPT_DEFAULTS = { beta1: 0.9, beta2: 0.99, tau: 1e-3 } as const

export function fedAdam (global: ModelWeights, updates: readonly ClientUpdate[], config: FedOptConfig, state?: FedOptState): AggregationResult<FedOptState> {
  return serverOptimizerStep('adam', global, updates, config, state)
}

export function fedYogi (global: ModelWeights, updates: readonly ClientUpdate[], config: FedOptConfig, state?: FedOptState): AggregationResult<FedOptState> {
  return serverOptimizerStep('yogi', global, updates, config, state)
}

export function fedAdagrad (global: ModelWeights, updates: readonly ClientUpdate[], config: FedOptConfig, state?: FedOptState): AggregationResult<FedOptState> {
  return serverOptimizerStep('adagrad', global, updates, config, state)
}

/** The state before the first round: m = 0, v = τ² (rounded to float32). */
export function initialFedOptState (global: ModelWeights, config: Pick<FedOptConfig, 'tau'> = {}): FedOptState {
  const tau = checkNumber('fedopt', 'tau', config.tau ?? FEDOPT_DEFAULTS.tau, { min: 0, minExclusive: true })
  return {
    round: 0,
    m: global.map((tensor) => ({ name: tensor.name, shape: [...tensor.shape], data: new Float32Array(tensor.data.length) })),
    v: global.map((tensor) => ({ name: tensor.name, shape: [...tensor.shape], data: new Float32Array(tensor.data.length).fill(tau * tau) }))
  }
}

function serverOptimizerStep (optimizer: Optimizer, global: ModelWeights, updates: readonly ClientUpdate[], rawConfig: FedOptConfig, state: FedOptState | undefined): AggregationResult<FedOptState> {
  const name = `fed${optimizer}`
  const config = configObject(name, rawConfig)
  const eta = checkNumber(name, 'eta', config.eta, { min: 0, minExclusive: true })
  const beta1 = checkNumber(name, 'beta1', config.beta1 ?? FEDOPT_DEFAULTS.beta1, { min: 0, max: 1, maxExclusive: true })
  const beta2 = checkNumber(name, 'beta2', config.beta2 ?? FEDOPT_DEFAULTS.beta2, { min: 0, max: 1, maxExclusive: true })
  const tau = checkNumber(name, 'tau', config.tau ?? FEDOPT_DEFAULTS.tau, { min: 0, minExclusive: true })
  const weighting = checkWeighting(name, config.weighting, 'examples')
  const previous = state ?? initialFedOptState(global, { tau })
  checkState(name, global, previous)

  const { partition, means } = averageUpdates(name, global, partitionUpdates(global, updates, { checkFinite: false }), weighting, Float64Array)
  const out: Float32Array[] = []
  const mOut: Float32Array[] = []
  const vOut: Float32Array[] = []
  let pseudoGradientSquares = 0
  let stepSquares = 0
  for (let t = 0; t < global.length; t++) {
    const x = global[t].data
    const mean = means[t]
    const m = previous.m[t].data
    const v = previous.v[t].data
    const length = x.length
    const next = new Float32Array(length)
    const nextM = new Float32Array(length)
    const nextV = new Float32Array(length)
    for (let i = 0; i < length; i++) {
      const delta = mean[i] - x[i]
      const square = delta * delta
      pseudoGradientSquares += square
      const mi = beta1 * m[i] + (1 - beta1) * delta
      const vPrev = v[i]
      const vi = optimizer === 'adam'
        ? beta2 * vPrev + (1 - beta2) * square
        : optimizer === 'yogi'
          ? vPrev - (1 - beta2) * square * Math.sign(vPrev - square)
          : vPrev + square
      next[i] = x[i] + eta * mi / (Math.sqrt(vi) + tau)
      const step = next[i] - x[i]
      stepSquares += step * step
      nextM[i] = mi
      nextV[i] = vi
    }
    out.push(next)
    mOut.push(nextM)
    vOut.push(nextV)
  }
  const round = previous.round + 1
  return {
    weights: withData(global, out),
    state: { round, m: withData(global, mOut), v: withData(global, vOut) },
    report: report(name, partition.valid, partition.rejected, {
      optimizer,
      eta,
      beta1,
      ...(optimizer === 'adagrad' ? {} : { beta2 }),
      tau,
      weighting,
      round,
      pseudoGradientNorm: Math.sqrt(pseudoGradientSquares),
      stepNorm: Math.sqrt(stepSquares)
    })
  }
}

function checkState (strategy: string, global: ModelWeights, state: FedOptState): void {
  if (typeof state !== 'object' || state === null || !Number.isSafeInteger(state.round) || state.round < 0) {
    throw new InvalidInputError(`${strategy}: state must be { round, m, v } from the previous round`)
  }
  for (const key of ['m', 'v'] as const) {
    validateWeights(state[key], `${strategy} state.${key}`)
    const problem = describeIncompatibility(global, state[key])
    if (problem !== undefined) {
      throw new InvalidInputError(`${strategy}: state.${key} does not match the global model: ${problem}`, {
        hint: 'The optimizer state belongs to another model; start from initialFedOptState(global) or the previous round\'s state.'
      })
    }
  }
}
