import { coordinateMedian, trimmedMean } from '../strategies/coordinateWise.ts'
import { fedAvg } from '../strategies/fedAvg.ts'
import { fedAdagrad, fedAdam, fedYogi, type FedOptState } from '../strategies/fedOpt.ts'
import { fedProx } from '../strategies/fedProx.ts'
import { krum, multiKrum } from '../strategies/krum.ts'
import { normBound } from '../strategies/normBound.ts'
import { NoAcceptedUpdatesError, type AggregationReport, type ClientUpdate, type RejectedUpdate, type Strategy } from '../strategies/types.ts'
import { compareIds } from '../strategies/common.ts'
import { cloneWeights, type ModelWeights } from '../tensors.ts'
import type { DpSpec, StrategySpec } from './taskSpec.ts'

export interface AggregateRoundParameters {
  global: ModelWeights
  /** Updates that could be read; any order (strategies sort by clientId). */
  updates: readonly ClientUpdate[]
  /** Updates refused before aggregation (unreadable, unavailable), with their reasons. */
  refused?: readonly RejectedUpdate[]
  strategy: StrategySpec
  /** With DP every accepted update counts once (the sensitivity analysis assumes uniform weights). */
  dp?: DpSpec
  /** The μ the clients trained with (recorded in a FedProx report). */
  proximalMu?: number
  /** Server optimizers: the state after the previous round (none before the first). */
  optimizerState?: FedOptState
}

export interface AggregateRoundReturnType {
  weights: ModelWeights
  report: AggregationReport
  /** No update was accepted: the global weights carry over unchanged. */
  carriedOver: boolean
  /** Server optimizers: the state to carry into the next round. */
  optimizerState?: FedOptState
}

/**
 * One round's aggregation as a job names it: a pure function (no I/O, no clock, no randomness), so
 * every honest aggregator gets the same weights, hence the same file bytes and CID. When nothing is
 * accepted the previous global weights carry over, so the round still has a well-defined result.
 */
export function aggregateRound ({ global, updates, refused = [], strategy, dp, proximalMu = 0, optimizerState }: AggregateRoundParameters): AggregateRoundReturnType {
  const run = strategyFor(strategy, updates.length, dp != null, proximalMu, optimizerState)
  const bounded = strategy.normBound != null ? normBound(run, { maxRatio: strategy.normBound.maxRatio }) : run
  const merge = (report: AggregationReport): AggregationReport => ({
    ...report,
    rejected: [...report.rejected, ...refused].sort((a, b) => compareIds(a.clientId, b.clientId))
  })
  try {
    const result = bounded(global, updates, undefined)
    return { weights: result.weights, report: merge(result.report), carriedOver: false, ...(result.state != null ? { optimizerState: result.state } : {}) }
  } catch (err) {
    if (!(err instanceof NoAcceptedUpdatesError)) throw err
    return { weights: cloneWeights(global), report: merge(err.report), carriedOver: true, ...(optimizerState != null ? { optimizerState } : {}) }
  }
}

function strategyFor (spec: StrategySpec, n: number, uniform: boolean, mu: number, state: FedOptState | undefined): Strategy<undefined, FedOptState | undefined> {
  const weighting = uniform ? 'uniform' : 'examples'
  const byzantine = spec.f ?? Math.max(0, Math.floor((n - 3) / 2))
  switch (spec.name) {
    case 'fedavg': return (g, u) => fedAvg(g, u, { weighting })
    // FedProx differs from FedAvg on the clients (the proximal term); the server side is the same mean.
    case 'fedprox': return (g, u) => fedProx(g, u, { weighting, mu })
    case 'fedadam': return (g, u) => fedAdam(g, u, serverConfig(spec, weighting), state)
    case 'fedyogi': return (g, u) => fedYogi(g, u, serverConfig(spec, weighting), state)
    case 'fedadagrad': return (g, u) => fedAdagrad(g, u, serverConfig(spec, weighting), state)
    case 'median': return (g, u) => coordinateMedian(g, u)
    case 'trimmed-mean': return (g, u) => trimmedMean(g, u, { beta: spec.beta ?? 0.2 })
    case 'krum': return (g, u) => krum(g, u, { f: byzantine })
    case 'multi-krum': return (g, u) => multiKrum(g, u, { f: byzantine, ...(spec.m != null ? { m: spec.m } : {}) })
  }
}

function serverConfig (spec: StrategySpec, weighting: 'uniform' | 'examples'): { eta: number, beta1?: number, beta2?: number, tau?: number, weighting: 'uniform' | 'examples' } {
  return {
    eta: spec.eta!,
    weighting,
    ...(spec.beta1 != null ? { beta1: spec.beta1 } : {}),
    ...(spec.beta2 != null ? { beta2: spec.beta2 } : {}),
    ...(spec.tau != null ? { tau: spec.tau } : {})
  }
}
