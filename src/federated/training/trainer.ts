/**
 * The built-in trainer: local training of a JSON-spec model on a node's own data, starting from a
 * round's global weights, on tfjs with the WebAssembly backend.
 *
 * Determinism: initial weights, the per-epoch shuffles and the dropout masks all come from the
 * `seed`; the wasm and cpu backends are single-threaded, so the same inputs give bit-identical
 * weights from run to run on the same backend (tested). Different backends may differ in the last
 * bits (different kernels), which is why aggregation — not training — is the consensus step.
 *
 * FedProx: with `proximalMu` = μ > 0 the local objective is loss + (μ/2)·‖w − w_global‖²
 * (Li et al. 2020), which keeps a client with skewed data from drifting far from the global model.
 */
import * as tf from '@tensorflow/tfjs'
import { BaseError, InvalidInputError, type BaseErrorParameters } from '../../errors.ts'
import { findNonFinite, describeNonFinite, type ModelWeights } from '../tensors.ts'
import { checkWeightsFor, initialWeights, validateArchitecture, type Architecture, type ArchitectureSpec } from './architecture.ts'
import { buildModel, getModelWeights, modelVariables } from './tfModel.ts'
import { ensureBackend, runExclusive, type TrainingBackend } from './backend.ts'
import { checkDataset, featureSize, type Dataset } from './data.ts'
import { checkSeed, createRandom, deriveSeed, permutation } from './random.ts'

export type OptimizerName = 'sgd' | 'adam'

export interface TrainLocalOptions {
  architecture: ArchitectureSpec | Architecture
  /** The round's global weights; default: {@link initialWeights}(architecture, seed). */
  globalWeights?: ModelWeights
  data: Dataset
  /** Default 1. */
  epochs?: number
  /** Default 32. The last batch of an epoch may be smaller. */
  batchSize?: number
  /** Default 0.05 for SGD, 0.001 for Adam. */
  learningRate?: number
  /** Default 'sgd' (plain, no momentum). The optimizer's state starts fresh every call. */
  optimizer?: OptimizerName
  /** FedProx μ ≥ 0 (default 0: plain local SGD, as in FedAvg). */
  proximalMu?: number
  /** Seeds the initial weights (when no globalWeights), the shuffles and dropout. Default 0. */
  seed?: number
  /** Aborts between batches; the promise rejects with the signal's reason. */
  signal?: AbortSignal
  /** Called after every epoch. */
  onEpoch?: (progress: EpochProgress) => void
}

export interface EpochProgress { epoch: number, epochs: number, loss: number, accuracy: number }

export interface TrainingMetrics {
  /** Mean cross-entropy over the last epoch's batches (without the proximal term). */
  loss: number
  /** Training accuracy over the last epoch, in [0, 1]. */
  accuracy: number
}

export interface TrainLocalResult {
  weights: ModelWeights
  /** Training samples (not multiplied by epochs): the weight FedAvg gives this update. */
  numExamples: number
  metrics: TrainingMetrics
  stats: {
    backend: TrainingBackend
    epochs: number
    steps: number
    durationMs: number
    samplesPerSecond: number
    /** (μ/2)·‖w − w_global‖² at the end, when proximalMu > 0. */
    proximalLoss?: number
  }
}

export interface EvaluateOptions {
  architecture: ArchitectureSpec | Architecture
  weights: ModelWeights
  data: Dataset
  /** Samples per forward pass (memory only). Default 1000. */
  batchSize?: number
}

export interface EvaluationResult {
  /** Mean cross-entropy. */
  loss: number
  accuracy: number
  numExamples: number
}

/** Local training produced NaN/Infinity (learning rate too high, bad data…). */
export class TrainingDivergedError extends BaseError {
  override name = 'TrainingDivergedError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, {
      code: 'TRAINING_DIVERGED',
      status: 422,
      hint: 'Lower the learning rate, scale the features to about [0, 1], or check the data for extreme values.',
      ...parameters
    })
  }
}

const DEFAULT_LEARNING_RATE: Record<OptimizerName, number> = { sgd: 0.05, adam: 0.001 }
/** Give the event loop a turn this often, so a node keeps serving its network while training. */
const YIELD_EVERY_MS = 25

/** Trains a copy of the global model on local data and returns the new weights. */
export async function trainLocal (options: TrainLocalOptions): Promise<TrainLocalResult> {
  const arch = validateArchitecture(options.architecture)
  const epochs = options.epochs ?? 1
  const batchSize = options.batchSize ?? 32
  const optimizerName = options.optimizer ?? 'sgd'
  const mu = options.proximalMu ?? 0
  const seed = checkSeed(options.seed ?? 0)
  if (!Number.isSafeInteger(epochs) || epochs < 1 || epochs > 10000) throw new InvalidInputError(`trainLocal: epochs must be an integer from 1 to 10000, got ${String(epochs)}`)
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 65536) throw new InvalidInputError(`trainLocal: batchSize must be an integer from 1 to 65536, got ${String(batchSize)}`)
  if (optimizerName !== 'sgd' && optimizerName !== 'adam') throw new InvalidInputError(`trainLocal: optimizer must be 'sgd' or 'adam', got ${JSON.stringify(optimizerName)}`)
  const learningRate = options.learningRate ?? DEFAULT_LEARNING_RATE[optimizerName]
  if (typeof learningRate !== 'number' || !(learningRate > 0) || !Number.isFinite(learningRate)) throw new InvalidInputError(`trainLocal: learningRate must be a positive number, got ${String(learningRate)}`)
  if (typeof mu !== 'number' || !(mu >= 0) || !Number.isFinite(mu)) throw new InvalidInputError(`trainLocal: proximalMu must be a finite number ≥ 0, got ${String(mu)}`)
  checkDataFor(arch, options.data)
  const globalWeights = options.globalWeights ?? initialWeights(arch, seed)
  checkWeightsFor(arch, globalWeights, 'globalWeights')
  options.signal?.throwIfAborted()

  const backend = await ensureBackend()
  return await runExclusive(async () => {
    options.signal?.throwIfAborted()
    const started = performance.now()
    const data = options.data
    const size = arch.inputSize
    const count = data.count
    const model = buildModel(arch, globalWeights)
    const variables = modelVariables(model, arch)
    const anchors = mu > 0 ? globalWeights.map((tensor) => tf.tensor(tensor.data, tensor.shape, 'float32')) : []
    const halfMu = tf.scalar(mu / 2)
    const optimizer = optimizerName === 'adam' ? tf.train.adam(learningRate) : tf.train.sgd(learningRate)
    // tfjs Dropout layers read their `seed` field on every call: one seed per step and layer.
    const dropouts = arch.layers.filter((layer) => layer.layer.type === 'dropout').map((layer) => model.getLayer(layer.name) as unknown as { seed?: number })
    const random = createRandom(deriveSeed(seed, 0x5eed))
    const batchX = new Float32Array(Math.min(batchSize, count) * size)
    const batchY = new Int32Array(Math.min(batchSize, count))
    let steps = 0
    let metrics: TrainingMetrics = { loss: NaN, accuracy: NaN }
    let lastYield = performance.now()
    try {
      for (let epoch = 0; epoch < epochs; epoch++) {
        const order = permutation(count, random)
        let lossSum = 0
        let correct = 0
        for (let start = 0; start < count; start += batchSize) {
          options.signal?.throwIfAborted()
          const m = Math.min(batchSize, count - start)
          for (let i = 0; i < m; i++) {
            const j = order[start + i]
            batchX.set(data.x.subarray(j * size, (j + 1) * size), i * size)
            batchY[i] = data.y[j]
          }
          steps++
          dropouts.forEach((layer, k) => { layer.seed = deriveSeed(seed, 0xd409, steps, k) })
          const [lossTensor, correctTensor] = tf.tidy(() => {
            const xs = tf.tensor(batchX.subarray(0, m * size), [m, ...arch.inputShape], 'float32')
            const labels = tf.tensor1d(batchY.subarray(0, m), 'int32')
            const ys = tf.oneHot(labels, arch.classes)
            let dataLoss: tf.Scalar | undefined
            let hits: tf.Scalar | undefined
            const { grads } = tf.variableGrads(() => {
              const probs = model.apply(xs, { training: true }) as tf.Tensor
              dataLoss = tf.keep(tf.mean(tf.metrics.categoricalCrossentropy(ys, probs)) as tf.Scalar)
              hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), labels), 'float32')) as tf.Scalar)
              if (anchors.length === 0) return dataLoss
              const distances = variables.map((variable, i) => tf.sum(tf.squaredDifference(variable, anchors[i])))
              return tf.add(dataLoss, tf.mul(halfMu, tf.addN(distances))) as tf.Scalar
            }, variables)
            optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })))
            return [dataLoss!, hits!]
          })
          const batchLoss = lossTensor.dataSync()[0]
          const batchHits = correctTensor.dataSync()[0]
          lossTensor.dispose()
          correctTensor.dispose()
          if (!Number.isFinite(batchLoss)) {
            throw new TrainingDivergedError(`local training diverged: the loss became ${batchLoss} at epoch ${epoch + 1}, step ${steps}`)
          }
          lossSum += batchLoss * m
          correct += batchHits
          if (performance.now() - lastYield > YIELD_EVERY_MS) {
            await new Promise((resolve) => setImmediate(resolve))
            lastYield = performance.now()
          }
        }
        metrics = { loss: lossSum / count, accuracy: correct / count }
        options.onEpoch?.({ epoch: epoch + 1, epochs, ...metrics })
      }
      const weights = getModelWeights(model, arch)
      const nonFinite = findNonFinite(weights)
      if (nonFinite !== undefined) throw new TrainingDivergedError(`local training diverged: ${describeNonFinite(nonFinite)}`)
      const durationMs = performance.now() - started
      return {
        weights,
        numExamples: count,
        metrics,
        stats: {
          backend,
          epochs,
          steps,
          durationMs,
          samplesPerSecond: (count * epochs) / (durationMs / 1000),
          ...(mu > 0 ? { proximalLoss: proximalTerm(weights, globalWeights, mu) } : {})
        }
      }
    } finally {
      model.dispose()
      optimizer.dispose()
      halfMu.dispose()
      for (const anchor of anchors) anchor.dispose()
    }
  })
}

/** Loss and accuracy of `weights` on `data` (no training). */
export async function evaluate (options: EvaluateOptions): Promise<EvaluationResult> {
  const arch = validateArchitecture(options.architecture)
  checkDataFor(arch, options.data)
  const probabilities = await predict({ architecture: arch, weights: options.weights, x: options.data.x, batchSize: options.batchSize })
  const data = options.data
  let loss = 0
  let correct = 0
  for (let i = 0; i < data.count; i++) {
    const row = probabilities.subarray(i * arch.classes, (i + 1) * arch.classes)
    // Keras' categorical cross-entropy on probabilities: clipped to [ε, 1 − ε].
    loss -= Math.log(Math.min(Math.max(row[data.y[i]], 1e-7), 1 - 1e-7))
    let best = 0
    for (let c = 1; c < row.length; c++) if (row[c] > row[best]) best = c
    if (best === data.y[i]) correct++
  }
  return { loss: loss / data.count, accuracy: correct / data.count, numExamples: data.count }
}

export interface PredictOptions {
  architecture: ArchitectureSpec | Architecture
  weights: ModelWeights
  /** `count × inputSize` values, row-major (channels-last for images). */
  x: Float32Array
  batchSize?: number
}

/** Class probabilities, `count × classes` values. */
export async function predict (options: PredictOptions): Promise<Float32Array> {
  const arch = validateArchitecture(options.architecture)
  const batchSize = options.batchSize ?? 1000
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`predict: batchSize must be a positive integer, got ${String(batchSize)}`)
  if (!(options.x instanceof Float32Array) || options.x.length % arch.inputSize !== 0) {
    throw new InvalidInputError(`predict: x must be a Float32Array of count × ${arch.inputSize} values`)
  }
  checkWeightsFor(arch, options.weights)
  await ensureBackend()
  return await runExclusive(async () => {
    const count = options.x.length / arch.inputSize
    const out = new Float32Array(count * arch.classes)
    const model = buildModel(arch, options.weights)
    try {
      for (let start = 0; start < count; start += batchSize) {
        const m = Math.min(batchSize, count - start)
        const probs = tf.tidy(() => model.predict(tf.tensor(options.x.subarray(start * arch.inputSize, (start + m) * arch.inputSize), [m, ...arch.inputShape], 'float32')) as tf.Tensor)
        out.set(probs.dataSync() as Float32Array, start * arch.classes)
        probs.dispose()
        await new Promise((resolve) => setImmediate(resolve))
      }
    } finally {
      model.dispose()
    }
    return out
  })
}

function checkDataFor (arch: Architecture, data: Dataset): void {
  checkDataset(data, 'data')
  if (data.count === 0) throw new InvalidInputError('data holds no samples')
  if (featureSize(data) !== arch.inputSize) {
    throw new InvalidInputError(`data samples have ${featureSize(data)} values (shape [${data.featureShape.join(', ')}]) but the model's input [${arch.inputShape.join(', ')}] needs ${arch.inputSize}`)
  }
  for (let i = 0; i < data.count; i++) {
    const label = data.y[i]
    if (label < 0 || label >= arch.classes) {
      throw new InvalidInputError(`data sample ${i} has label ${label}, outside the model's ${arch.classes} classes (0 … ${arch.classes - 1})`)
    }
  }
  const nonFinite = findNonFinite([{ name: 'x', shape: [data.x.length], data: data.x }])
  if (nonFinite !== undefined) throw new InvalidInputError(`data sample ${Math.floor(nonFinite.index / arch.inputSize)} has a non-finite feature (${nonFinite.value})`)
}

function proximalTerm (weights: ModelWeights, global: ModelWeights, mu: number): number {
  let sum = 0
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t].data
    const g = global[t].data
    for (let i = 0; i < w.length; i++) sum += (w[i] - g[i]) ** 2
  }
  return (mu / 2) * sum
}
