/** Aggregation strategies: pure functions of (global weights, client updates, config, state). */
export { fedAvg, type FedAvgConfig } from './fedAvg.ts'
export { fedProx, proximalGradient, proximalLoss, type FedProxConfig } from './fedProx.ts'
export { fedAdam, fedYogi, fedAdagrad, initialFedOptState, FEDOPT_DEFAULTS, type FedOptConfig, type FedOptState } from './fedOpt.ts'
export { coordinateMedian, trimmedMean, type TrimmedMeanConfig } from './coordinateWise.ts'
export { krum, multiKrum, krumScores, type KrumConfig } from './krum.ts'
export { normBound, NORM_BOUND_DEFAULTS, type NormBoundConfig } from './normBound.ts'
export { compareIds, type Weighting } from './common.ts'
export {
  NoAcceptedUpdatesError,
  InvalidStrategyConfigError,
  type AcceptedUpdate,
  type AggregationReport,
  type AggregationResult,
  type ClientUpdate,
  type RejectedUpdate,
  type RejectionCode,
  type Strategy
} from './types.ts'
