/**
 * The contract every aggregation strategy follows (Flower-style): a pure function of the round's
 * global weights, the clients' updates, a config and the strategy's state from the previous round.
 * No I/O, no clock, no Math.random — the same inputs give the same output bytes on every
 * aggregator, whatever the order the updates arrived in.
 */
import { InvalidInputError, type BaseErrorParameters } from '../../errors.ts'
import type { ModelWeights } from '../tensors.ts'

export interface ClientUpdate {
  /** Identifies the client; updates are aggregated in ascending code-unit order of this id. */
  clientId: string
  /** The client's full weights after local training (not a delta). */
  weights: ModelWeights
  /** Local examples the update was trained on (a positive integer): FedAvg's weight. */
  numExamples: number
}

/** Why an update took no part in the aggregate. */
export type RejectionCode =
  | 'incompatible' // tensor names/shapes differ from the global model
  | 'invalid-examples' // numExamples is not a positive integer
  | 'non-finite' // NaN or ±Infinity
  | 'norm-bound' // delta norm far from the others'
  | 'not-selected' // Krum / Multi-Krum did not pick it
  | 'malformed' // the update file could not be read as the model's tensors (before any strategy runs)
  | 'unavailable' // the update file could not be fetched in time (before any strategy runs)

export interface RejectedUpdate {
  clientId: string
  code: RejectionCode
  reason: string
}

export interface AcceptedUpdate {
  clientId: string
  numExamples: number
}

/**
 * What happened to each update, for the round record and for rewards (accepted updates are paid
 * by sample count; rejected ones earn nothing). Lists are sorted by clientId; `details` holds
 * strategy-specific figures and is JSON-serialisable and deterministic.
 */
export interface AggregationReport {
  strategy: string
  accepted: AcceptedUpdate[]
  rejected: RejectedUpdate[]
  details: Record<string, unknown>
}

export interface AggregationResult<S = undefined> {
  weights: ModelWeights
  /** Pass back as `state` next round (server optimizers, the DP round counter). */
  state?: S
  report: AggregationReport
}

export type Strategy<C, S = undefined> = (
  global: ModelWeights,
  updates: readonly ClientUpdate[],
  config: C,
  state?: S
) => AggregationResult<S>

/** Every update was rejected (or none was given): there is nothing to aggregate. */
export class NoAcceptedUpdatesError extends InvalidInputError {
  override name = 'NoAcceptedUpdatesError'
  readonly report: AggregationReport
  constructor (report: AggregationReport, parameters: BaseErrorParameters = {}) {
    super(report.rejected.length === 0
      ? `${report.strategy}: no client updates to aggregate`
      : `${report.strategy}: all ${report.rejected.length} client updates were rejected`, {
      code: 'NO_ACCEPTED_UPDATES',
      details: report.rejected.map((rejection) => `${rejection.clientId}: ${rejection.reason}`).join('; ') || undefined,
      hint: 'The round cannot produce a new model; keep the current global weights and open the next round.',
      ...parameters
    })
    this.report = report
  }
}

/** A strategy's config that cannot work (a negative learning rate, too many Byzantine clients…). */
export class InvalidStrategyConfigError extends InvalidInputError {
  override name = 'InvalidStrategyConfigError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'INVALID_STRATEGY_CONFIG', ...parameters })
  }
}
