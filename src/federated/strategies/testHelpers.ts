/** Small builders for the strategy and privacy tests (not used by production code). */
import type { ModelWeights } from '../tensors.ts'
import type { ClientUpdate } from './types.ts'

/** One 1-D tensor per argument, named t0, t1, … */
export function weights (...tensors: number[][]): ModelWeights {
  return tensors.map((values, i) => ({ name: `t${i}`, shape: [values.length], data: Float32Array.from(values) }))
}

export function update (clientId: string, tensors: number[][] | ModelWeights, numExamples = 1): ClientUpdate {
  const model = tensors.length > 0 && !Array.isArray(tensors[0]) ? tensors as ModelWeights : weights(...tensors as number[][])
  return { clientId, weights: model, numExamples }
}

/** The values of each tensor as plain arrays (for deepEqual against hand-computed numbers). */
export function values (model: ModelWeights): number[][] {
  return model.map((tensor) => [...tensor.data])
}

/** Hand-computed expectations are written in decimal; compare after float32 rounding. */
export function f32 (...numbers: number[]): number[] {
  return numbers.map((n) => Math.fround(n))
}
