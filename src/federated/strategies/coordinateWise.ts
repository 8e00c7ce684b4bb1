/**
 * Coordinate-wise robust rules (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
 * Optimal Statistical Rates"): each parameter of the new model is the median, or the trimmed
 * mean, of that parameter across the clients. Unweighted: a client's claimed numExamples must not
 * buy it influence over a robust statistic.
 */
import { withData, type ModelWeights } from '../tensors.ts'
import { checkNumber, configObject, partitionUpdates, rejectNonFinite, report, requireSome, type Partition } from './common.ts'
import { coordinateMedianInto, coordinateTrimmedMeanInto } from './kernels.ts'
import type { AggregationResult, ClientUpdate } from './types.ts'

/** Coordinate-wise median (even counts: the float64 mean of the two middle values). */
export function coordinateMedian (global: ModelWeights, updates: readonly ClientUpdate[], _config?: Record<string, never>): AggregationResult {
  const name = 'median'
  const { partition, out } = perTensor(name, global, partitionUpdates(global, updates, { checkFinite: false }), {}, (inputs, data) => coordinateMedianInto(inputs, data))
  return { weights: withData(global, out), report: report(name, partition.valid, partition.rejected, { clients: partition.valid.length }) }
}

/**
 * Runs a per-tensor kernel over the valid updates. Kernels report NaN/±Infinity in their inputs
 * (a by-product of their pass over the data); only then are the offending updates found and
 * rejected, and the kernel run again — clean rounds pay no separate scan.
 */
function perTensor (
  strategy: string,
  global: ModelWeights,
  initial: Partition,
  details: Record<string, unknown>,
  kernel: (inputs: Float32Array[], out: Float32Array, clients: number) => boolean
): { partition: Partition, out: Float32Array[] } {
  let partition = initial
  for (let attempt = 0; ; attempt++) {
    requireSome(strategy, partition, details)
    const valid = partition.valid
    let finite = true
    const out = global.map((tensor, t) => {
      const data = new Float32Array(tensor.data.length)
      if (!kernel(valid.map((update) => update.weights[t].data), data, valid.length)) finite = false
      return data
    })
    if (finite || attempt > 0) return { partition, out }
    partition = rejectNonFinite(partition)
  }
}

export interface TrimmedMeanConfig {
  /** β ∈ [0, 0.5): the fraction trimmed from EACH side; ⌊β·n⌋ values are dropped per side. */
  beta: number
}

/**
 * Coordinate-wise β-trimmed mean: per coordinate, drop the ⌊β·n⌋ smallest and ⌊β·n⌋ largest
 * values and average the rest (float64, rounded to float32 once; the summation order is fixed,
 * see {@link coordinateTrimmedMeanInto}).
 */
export function trimmedMean (global: ModelWeights, updates: readonly ClientUpdate[], config: TrimmedMeanConfig): AggregationResult {
  const name = 'trimmed-mean'
  const beta = checkNumber(name, 'beta', configObject(name, config).beta, { min: 0, max: 0.5, maxExclusive: true })
  // The 1e-9 absorbs representation error (0.3 × 10 must trim 3, not 2.9999999999999996 → 2).
  const trimFor = (n: number): number => Math.min(Math.floor(beta * n + 1e-9), Math.floor((n - 1) / 2))
  const { partition, out } = perTensor(name, global, partitionUpdates(global, updates, { checkFinite: false }), { beta }, (inputs, data, n) => coordinateTrimmedMeanInto(inputs, trimFor(n), data))
  const n = partition.valid.length
  const trim = trimFor(n)
  return {
    weights: withData(global, out),
    report: report(name, partition.valid, partition.rejected, { beta, trimmedPerSide: trim, keptPerCoordinate: n - 2 * trim })
  }
}
