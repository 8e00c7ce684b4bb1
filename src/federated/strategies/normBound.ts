/**
 * A norm-bound filter in front of any strategy: an update whose delta norm ‖x_k − x_global‖ is far
 * from the others' — more than `maxRatio` × the median delta norm (a scaled/boosted update), or
 * optionally less than `minRatio` × the median (a free rider sending the global model back) — is
 * rejected with the figures in the reason; the rest go to the inner strategy.
 *
 * Compose it outside the privacy wrapper — normBound(withDifferentialPrivacy(fedAvg, dp)) — so it
 * sees the raw deltas. Its report lists every client's delta norm: not differentially private.
 */
import { deltaNorm, type ModelWeights } from '../tensors.ts'
import { checkNumber, configObject, partitionUpdates, sortRejections } from './common.ts'
import { NoAcceptedUpdatesError, type AggregationResult, type ClientUpdate, type RejectedUpdate, type Strategy } from './types.ts'

export interface NormBoundConfig {
  /** Reject when ‖Δ‖ > maxRatio × median ‖Δ‖; default 3, must be >= 1. */
  maxRatio?: number
  /** Reject when ‖Δ‖ < minRatio × median ‖Δ‖; default 0 (off), must be < 1. */
  minRatio?: number
}

export const NORM_BOUND_DEFAULTS = { maxRatio: 3, minRatio: 0 } as const

/**
 * Wraps `inner` with the filter. Delta norms are float64 (see {@link deltaNorm}); the median of an
 * even count is the mean of the two middle norms. A NaN/±Infinity update has a non-finite norm
 * and is rejected as 'non-finite'.
 */
export function normBound<C, S> (inner: Strategy<C, S>, bound: NormBoundConfig = {}): Strategy<C, S> {
  const settings = configObject('norm-bound', bound)
  const maxRatio = checkNumber('norm-bound', 'maxRatio', settings.maxRatio ?? NORM_BOUND_DEFAULTS.maxRatio, { min: 1 })
  const minRatio = checkNumber('norm-bound', 'minRatio', settings.minRatio ?? NORM_BOUND_DEFAULTS.minRatio, { min: 0, max: 1, maxExclusive: true })
  return (global: ModelWeights, updates: readonly ClientUpdate[], config: C, state?: S): AggregationResult<S> => {
    const partition = partitionUpdates(global, updates, { checkFinite: false })
    const rejected: RejectedUpdate[] = [...partition.rejected]
    const measured: Array<{ update: ClientUpdate, norm: number }> = []
    for (const update of partition.valid) {
      const norm = deltaNorm(update.weights, global)
      if (Number.isFinite(norm)) measured.push({ update, norm })
      else rejected.push({ clientId: update.clientId, code: 'non-finite', reason: 'the update holds NaN or ±Infinity (its delta norm is not finite)' })
    }
    const median = medianOf(measured.map(({ norm }) => norm))
    const upper = maxRatio * median
    const lower = minRatio * median
    const kept: ClientUpdate[] = []
    for (const { update, norm } of measured) {
      if (norm > upper) {
        rejected.push({ clientId: update.clientId, code: 'norm-bound', reason: `delta norm ${fmt(norm)} exceeds ${maxRatio} × the median delta norm ${fmt(median)} (bound ${fmt(upper)})` })
      } else if (norm < lower) {
        rejected.push({ clientId: update.clientId, code: 'norm-bound', reason: `delta norm ${fmt(norm)} is below ${minRatio} × the median delta norm ${fmt(median)} (bound ${fmt(lower)})` })
      } else {
        kept.push(update)
      }
    }
    const filter = {
      maxRatio,
      minRatio,
      medianNorm: median,
      norms: Object.fromEntries(measured.map(({ update, norm }) => [update.clientId, norm]))
    }
    if (kept.length === 0) {
      throw new NoAcceptedUpdatesError({ strategy: 'norm-bound', accepted: [], rejected: sortRejections(rejected), details: { normBound: filter } })
    }
    let result: AggregationResult<S>
    try {
      result = inner(global, kept, config, state)
    } catch (err) {
      if (!(err instanceof NoAcceptedUpdatesError)) throw err
      throw new NoAcceptedUpdatesError({
        ...err.report,
        strategy: `norm-bound(${err.report.strategy})`,
        rejected: sortRejections([...rejected, ...err.report.rejected]),
        details: { ...err.report.details, normBound: filter }
      })
    }
    return {
      ...result,
      report: {
        strategy: `norm-bound(${result.report.strategy})`,
        accepted: result.report.accepted,
        rejected: sortRejections([...rejected, ...result.report.rejected]),
        details: { ...result.report.details, normBound: filter }
      }
    }
  }
}

function medianOf (values: number[]): number {
  if (values.length === 0) return 0
  const sorted = Float64Array.from(values).sort()
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

function fmt (value: number): string {
  return value.toPrecision(6)
}
