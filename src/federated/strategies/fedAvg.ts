/**
 * FedAvg (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
 * Decentralized Data"): the new global model is the average of the clients' weights, weighted by
 * their number of local examples.
 */
import { withData, type ModelWeights } from '../tensors.ts'
import {
  checkWeighting,
  configObject,
  partitionUpdates,
  rejectNonFinite,
  report,
  requireSome,
  type Partition,
  type Weighting
} from './common.ts'
import { allFinite, meanScratch, weightedMeanInto } from './kernels.ts'
import type { AggregationResult, ClientUpdate } from './types.ts'

export interface FedAvgConfig {
  /** 'examples' (default): weight by numExamples; 'uniform': every accepted client counts once. */
  weighting?: Weighting
}

/**
 * Weighted average of the updates' weights. Arithmetic: per coordinate, a float64 sum of
 * numExamples × value in clientId order, divided by the total, rounded to float32 once (see
 * {@link weightedMeanInto}). Updates with NaN/±Infinity are rejected (detected from the
 * accumulator, so clean rounds pay no extra pass).
 */
export function fedAvg (global: ModelWeights, updates: readonly ClientUpdate[], config?: FedAvgConfig): AggregationResult {
  const name = 'fedavg'
  const weighting = checkWeighting(name, configObject(name, config).weighting, 'examples')
  const { partition, means, totalWeight } = averageUpdates(name, global, partitionUpdates(global, updates, { checkFinite: false }), weighting, Float32Array)
  return {
    weights: withData(global, means),
    report: report(name, partition.valid, partition.rejected, { weighting, totalWeight })
  }
}

/**
 * The weighted mean of the valid updates, tensor by tensor, as Float32Array (FedAvg's output) or
 * Float64Array (the unrounded mean, for server optimizers). Rejects non-finite updates and
 * recomputes when the accumulator shows one.
 */
export function averageUpdates<A extends Float32ArrayConstructor | Float64ArrayConstructor> (
  strategy: string,
  global: ModelWeights,
  partition: Partition,
  weighting: Weighting,
  ArrayType: A
): { partition: Partition, means: Array<InstanceType<A>>, totalWeight: number } {
  requireSome(strategy, partition)
  let result = weightedMeans(global, partition.valid, weighting, ArrayType)
  if (!result.means.every((mean) => allFinite(mean))) {
    partition = rejectNonFinite(partition)
    requireSome(strategy, partition)
    result = weightedMeans(global, partition.valid, weighting, ArrayType)
  }
  return { partition, ...result }
}

function weightedMeans<A extends Float32ArrayConstructor | Float64ArrayConstructor> (
  global: ModelWeights,
  updates: readonly ClientUpdate[],
  weighting: Weighting,
  ArrayType: A
): { means: Array<InstanceType<A>>, totalWeight: number } {
  const weights = updates.map((update) => weighting === 'examples' ? update.numExamples : 1)
  const scratch = meanScratch(global.reduce((longest, tensor) => Math.max(longest, tensor.data.length), 1))
  const means = global.map((tensor, t) => {
    const out = new ArrayType(tensor.data.length) as InstanceType<A>
    weightedMeanInto(updates.map((update) => update.weights[t].data), weights, out, scratch)
    return out
  })
  return { means, totalWeight: weights.reduce((sum, weight) => sum + weight, 0) }
}
