/**
 * Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine
 * Tolerant Gradient Descent"). Each update gets a score: the sum of its squared distances to its
 * n − f − 2 nearest other updates. Krum keeps the update with the lowest score; Multi-Krum keeps
 * the m lowest and averages them. Requires n >= 2f + 3.
 */
import { InvalidInputError } from '../../errors.ts'
import { withData, type ModelWeights } from '../tensors.ts'
import { checkNumber, checkWeighting, configObject, partitionUpdates, rejectNonFinite, report, requireSome, type Weighting } from './common.ts'
import { allFinite, meanScratch, pairwiseSquaredDistances, weightedMeanInto } from './kernels.ts'
import type { AggregationResult, ClientUpdate, RejectedUpdate } from './types.ts'

export interface KrumConfig {
  /** Byzantine clients tolerated (f >= 0). */
  f: number
  /** Updates selected: 1 (default) is Krum, more is Multi-Krum; at most n − f. */
  m?: number
  /** How the m selected updates are averaged; default 'uniform' (as in the paper). */
  weighting?: Weighting
}

/**
 * Scores are float64 sums of the n − f − 2 smallest squared distances, added in ascending
 * order; ties between equal scores go to the lower clientId. Output = the weighted mean of the
 * selected updates (exactly the selected update when m = 1).
 */
export function krum (global: ModelWeights, updates: readonly ClientUpdate[], config: KrumConfig): AggregationResult {
  const raw = configObject('krum', config)
  return krumSelect(global, updates, raw, checkNumber('krum', 'm', raw.m ?? 1, { min: 1, integer: true }))
}

/** Multi-Krum: {@link krum} averaging the m best; m defaults to n − f (the largest selection). */
export function multiKrum (global: ModelWeights, updates: readonly ClientUpdate[], config: KrumConfig): AggregationResult {
  const raw = configObject('multi-krum', config)
  return krumSelect(global, updates, raw, raw.m === undefined ? 'n-f' : checkNumber('multi-krum', 'm', raw.m, { min: 1, integer: true }))
}

function krumSelect (global: ModelWeights, updates: readonly ClientUpdate[], raw: KrumConfig, requested: number | 'n-f'): AggregationResult {
  const name = requested === 1 ? 'krum' : 'multi-krum'
  const f = checkNumber(name, 'f', raw.f, { min: 0, integer: true })
  const weighting = checkWeighting(name, raw.weighting, 'uniform')
  let partition = partitionUpdates(global, updates, { checkFinite: false })
  requireSome(name, partition, { f })
  checkKrumSize(name, partition.valid.length, f, requested)
  let distances = pairwiseSquaredDistances(partition.valid.map((update) => update.weights.map((tensor) => tensor.data)))
  if (!allFinite(distances)) {
    // NaN/±Infinity in an update poisons its distances: reject such updates, then measure again.
    partition = rejectNonFinite(partition)
    requireSome(name, partition, { f })
    distances = pairwiseSquaredDistances(partition.valid.map((update) => update.weights.map((tensor) => tensor.data)))
  }
  const valid = partition.valid
  const n = valid.length
  const m = checkKrumSize(name, n, f, requested)

  const scores = krumScores(distances, n, f)
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b)
  const selected = order.slice(0, m).sort((a, b) => a - b)
  const chosen = selected.map((i) => valid[i])

  const weights = chosen.map((update) => weighting === 'examples' ? update.numExamples : 1)
  const scratch = meanScratch(global.reduce((longest, tensor) => Math.max(longest, tensor.data.length), 1))
  const out = global.map((tensor, t) => {
    const data = new Float32Array(tensor.data.length)
    weightedMeanInto(chosen.map((update) => update.weights[t].data), weights, data, scratch)
    return data
  })

  const rank = new Map(order.map((index, position) => [index, position + 1]))
  const notSelected: RejectedUpdate[] = valid
    .map((update, i) => ({ update, i }))
    .filter(({ i }) => !selected.includes(i))
    .map(({ update, i }) => ({
      clientId: update.clientId,
      code: 'not-selected' as const,
      reason: `Krum score ${scores[i].toPrecision(6)} ranks ${rank.get(i)} of ${n}; the ${m} lowest were selected`
    }))
  return {
    weights: withData(global, out),
    report: report(name, chosen, [...partition.rejected, ...notSelected], {
      f,
      m,
      weighting,
      neighbours: n - f - 2,
      scores: Object.fromEntries(valid.map((update, i) => [update.clientId, scores[i]]))
    })
  }
}


/** Throws unless n >= 2f + 3 and m <= n − f; returns m. */
function checkKrumSize (name: string, n: number, f: number, requested: number | 'n-f'): number {
  if (n < 2 * f + 3) {
    throw new InvalidInputError(`${name} with f = ${f} needs at least ${2 * f + 3} valid updates (n >= 2f + 3), got ${n}`, {
      hint: 'Lower f, wait for more participants, or use the coordinate-wise median for small rounds.'
    })
  }
  const m = requested === 'n-f' ? Math.max(1, n - f) : requested
  if (m > n - f) {
    throw new InvalidInputError(`${name}: m = ${m} exceeds n − f = ${n - f}`, { hint: 'Select at most n − f updates so no Byzantine update is needed to fill the selection.' })
  }
  return m
}

/** score(i) = Σ of the n − f − 2 smallest squared distances from i to the others. */
export function krumScores (distances: Float64Array, n: number, f: number): Float64Array {
  const neighbours = n - f - 2
  const scores = new Float64Array(n)
  const row = new Float64Array(n - 1)
  for (let i = 0; i < n; i++) {
    let r = 0
    for (let j = 0; j < n; j++) if (j !== i) row[r++] = distances[i * n + j]
    row.sort()
    let score = 0
    for (let j = 0; j < neighbours; j++) score += row[j]
    scores[i] = score
  }
  return scores
}
