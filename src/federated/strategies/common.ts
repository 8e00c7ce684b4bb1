/**
 * Input checks and report plumbing shared by every strategy: the fixed client order, per-update
 * validation (rejected with a reason, never thrown: one bad client must not abort a round) and
 * config checks (thrown: a bad config is the caller's bug).
 */
import { InvalidInputError } from '../../errors.ts'
import {
  describeIncompatibility,
  describeNonFinite,
  findNonFinite,
  validateWeights,
  type ModelWeights
} from '../tensors.ts'
import {
  InvalidStrategyConfigError,
  NoAcceptedUpdatesError,
  type AcceptedUpdate,
  type AggregationReport,
  type ClientUpdate,
  type RejectedUpdate
} from './types.ts'

/** Ascending UTF-16 code-unit order: locale-independent, the same on every aggregator. */
export function compareIds (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export interface Partition {
  /** Well-formed updates, sorted by clientId. */
  valid: ClientUpdate[]
  rejected: RejectedUpdate[]
}

/**
 * Sorts updates by clientId and sets aside the malformed ones with a reason. Throws on a
 * malformed global model or a duplicated clientId (the round layer must dedupe: which of the two
 * counts is not the strategy's call). `checkFinite` scans every value (one pass over the data);
 * strategies that average can skip it and detect NaN/Infinity from the accumulator instead.
 */
export function partitionUpdates (global: ModelWeights, updates: readonly ClientUpdate[], options: { checkFinite: boolean }): Partition {
  validateWeights(global, 'the global weights')
  if (!Array.isArray(updates)) throw new InvalidInputError('updates must be an array of client updates')
  const sorted = [...updates].sort((a, b) => compareIds(a.clientId, b.clientId))
  const valid: ClientUpdate[] = []
  const rejected: RejectedUpdate[] = []
  for (let i = 0; i < sorted.length; i++) {
    const update = sorted[i]
    if (typeof update?.clientId !== 'string' || update.clientId === '') {
      throw new InvalidInputError('every client update needs a non-empty string clientId')
    }
    if (i > 0 && sorted[i - 1].clientId === update.clientId) {
      throw new InvalidInputError(`client '${update.clientId}' has more than one update in this round`, {
        hint: 'Keep one update per client (e.g. the one whose CID the client committed on chain) before aggregating.'
      })
    }
    const reject = (code: RejectedUpdate['code'], reason: string): void => { rejected.push({ clientId: update.clientId, code, reason }) }
    if (!Number.isSafeInteger(update.numExamples) || update.numExamples <= 0) {
      reject('invalid-examples', `numExamples must be a positive integer, got ${String(update.numExamples)}`)
      continue
    }
    if (!Array.isArray(update.weights)) {
      reject('incompatible', 'weights is not an array of tensors')
      continue
    }
    const mismatch = describeIncompatibility(global, update.weights) ?? describeMalformedData(update.weights)
    if (mismatch !== undefined) {
      reject('incompatible', mismatch)
      continue
    }
    if (options.checkFinite) {
      const nonFinite = findNonFinite(update.weights)
      if (nonFinite !== undefined) {
        reject('non-finite', describeNonFinite(nonFinite))
        continue
      }
    }
    valid.push(update)
  }
  return { valid, rejected }
}

function describeMalformedData (weights: ModelWeights): string | undefined {
  const bad = weights.find((tensor) => !(tensor.data instanceof Float32Array))
  return bad === undefined ? undefined : `tensor '${bad.name}' data is not a Float32Array`
}

/** Moves updates holding NaN/±Infinity from `valid` to `rejected` (both stay sorted). */
export function rejectNonFinite (partition: Partition): Partition {
  const valid: ClientUpdate[] = []
  const rejected = [...partition.rejected]
  for (const update of partition.valid) {
    const nonFinite = findNonFinite(update.weights)
    if (nonFinite === undefined) valid.push(update)
    else rejected.push({ clientId: update.clientId, code: 'non-finite', reason: describeNonFinite(nonFinite) })
  }
  return { valid, rejected: sortRejections(rejected) }
}

export function sortRejections (rejected: RejectedUpdate[]): RejectedUpdate[] {
  return rejected.sort((a, b) => compareIds(a.clientId, b.clientId))
}

export function acceptedOf (updates: readonly ClientUpdate[]): AcceptedUpdate[] {
  return updates.map((update) => ({ clientId: update.clientId, numExamples: update.numExamples }))
}

/** Throws {@link NoAcceptedUpdatesError} when nothing is left to aggregate. */
export function requireSome (strategy: string, partition: Partition, details: Record<string, unknown> = {}): void {
  if (partition.valid.length > 0) return
  throw new NoAcceptedUpdatesError({ strategy, accepted: [], rejected: sortRejections([...partition.rejected]), details })
}

export function report (strategy: string, accepted: readonly ClientUpdate[], rejected: RejectedUpdate[], details: Record<string, unknown> = {}): AggregationReport {
  return { strategy, accepted: acceptedOf(accepted), rejected: sortRejections([...rejected]), details }
}

// --- config checks -----------------------------------------------------------------------------

export function configObject<C extends object> (strategy: string, config: C | undefined): C {
  if (config === undefined) return {} as C
  if (typeof config !== 'object' || config === null) throw new InvalidStrategyConfigError(`${strategy}: config must be an object`)
  return config
}

export function checkNumber (strategy: string, name: string, value: unknown, range: { min?: number, max?: number, minExclusive?: boolean, maxExclusive?: boolean, integer?: boolean }): number {
  const describe = (): string => {
    const parts: string[] = []
    if (range.min !== undefined) parts.push(`${range.minExclusive === true ? '>' : '>='} ${range.min}`)
    if (range.max !== undefined) parts.push(`${range.maxExclusive === true ? '<' : '<='} ${range.max}`)
    return `${range.integer === true ? 'an integer' : 'a number'}${parts.length > 0 ? ` ${parts.join(' and ')}` : ''}`
  }
  const ok = typeof value === 'number' && Number.isFinite(value) &&
    (range.integer !== true || Number.isSafeInteger(value)) &&
    (range.min === undefined || (range.minExclusive === true ? value > range.min : value >= range.min)) &&
    (range.max === undefined || (range.maxExclusive === true ? value < range.max : value <= range.max))
  if (!ok) throw new InvalidStrategyConfigError(`${strategy}: ${name} must be ${describe()}, got ${String(value)}`)
  return value as number
}

export type Weighting = 'examples' | 'uniform'

export function checkWeighting (strategy: string, value: unknown, fallback: Weighting): Weighting {
  if (value === undefined) return fallback
  if (value !== 'examples' && value !== 'uniform') {
    throw new InvalidStrategyConfigError(`${strategy}: weighting must be 'examples' or 'uniform', got ${JSON.stringify(value)}`)
  }
  return value
}
