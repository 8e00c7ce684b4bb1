/**
 * FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks"). The server side is
 * FedAvg; the difference is on the clients, whose local objective adds the proximal term
 * (μ/2)·‖w − w_global‖² so local training cannot drift far from the round's global model.
 * Trainers use {@link proximalGradient} and {@link proximalLoss}.
 */
import { assertCompatible, type ModelWeights } from '../tensors.ts'
import { checkNumber, configObject } from './common.ts'
import { fedAvg, type FedAvgConfig } from './fedAvg.ts'
import type { AggregationResult, ClientUpdate } from './types.ts'

export interface FedProxConfig extends FedAvgConfig {
  /** Proximal coefficient μ >= 0 the clients trained with (recorded in the report). */
  mu: number
}

/** Server aggregation for FedProx: FedAvg, reported as 'fedprox' with its μ. */
export function fedProx (global: ModelWeights, updates: readonly ClientUpdate[], config: FedProxConfig): AggregationResult {
  const mu = checkNumber('fedprox', 'mu', configObject('fedprox', config).mu, { min: 0 })
  const result = fedAvg(global, updates, { weighting: config.weighting })
  return { ...result, report: { ...result.report, strategy: 'fedprox', details: { ...result.report.details, mu } } }
}

/** ∇ of the proximal term: μ·(w − w_global), tensor by tensor (float64 math, float32 result). */
export function proximalGradient (weights: ModelWeights, globalWeights: ModelWeights, mu: number): ModelWeights {
  checkNumber('fedprox', 'mu', mu, { min: 0 })
  assertCompatible(globalWeights, weights, { reference: 'the global weights', candidate: 'the local weights' })
  return weights.map((tensor, t) => {
    const w = tensor.data
    const g = globalWeights[t].data
    const data = new Float32Array(w.length)
    for (let i = 0; i < w.length; i++) data[i] = mu * (w[i] - g[i])
    return { name: tensor.name, shape: [...tensor.shape], data }
  })
}

/** The proximal term (μ/2)·‖w − w_global‖², accumulated in float64. */
export function proximalLoss (weights: ModelWeights, globalWeights: ModelWeights, mu: number): number {
  checkNumber('fedprox', 'mu', mu, { min: 0 })
  assertCompatible(globalWeights, weights, { reference: 'the global weights', candidate: 'the local weights' })
  let sum = 0
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t].data
    const g = globalWeights[t].data
    for (let i = 0; i < w.length; i++) {
      const d = w[i] - g[i]
      sum += d * d
    }
  }
  return (mu / 2) * sum
}
