import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs'
import { deltaNorm } from '../tensors.ts'
import { initialWeights, validateArchitecture, type ArchitectureSpec } from './architecture.ts'
import { ensureBackend } from './backend.ts'
import { holdOut, loadMnist, partitionNonIid, subset, type Dataset } from './data.ts'
import { TrainingDivergedError, evaluate, trainLocal } from './trainer.ts'

const MLP: ArchitectureSpec = { input: { shape: [784] }, layers: [{ type: 'dense', units: 128, activation: 'relu' }], output: { classes: 10 } }
const SMALL_MLP: ArchitectureSpec = { input: { shape: [784] }, layers: [{ type: 'dense', units: 32, activation: 'relu' }], output: { classes: 10 } }

let train: Dataset
let test: Dataset

before(async () => {
  assert.equal(await ensureBackend(), 'wasm', 'the wasm backend loads from the package files')
  const split = holdOut(await loadMnist({ count: 3000, seed: 1 }), 1 / 3, 1)
  train = split.train
  test = split.test
})

describe('trainLocal', () => {
  it('one epoch on 2,000 MNIST digits lifts held-out accuracy far above chance', async () => {
    const global = initialWeights(MLP, 1)
    const baseline = await evaluate({ architecture: MLP, weights: global, data: test })
    const result = await trainLocal({ architecture: MLP, globalWeights: global, data: train, epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd', seed: 1 })
    const after = await evaluate({ architecture: MLP, weights: result.weights, data: test })
    console.log(`# MLP 784-128-10, 2,000 samples, 1 epoch: held-out accuracy ${baseline.accuracy.toFixed(3)} → ${after.accuracy.toFixed(3)}, ` +
      `loss ${baseline.loss.toFixed(3)} → ${after.loss.toFixed(3)}; ${Math.round(result.stats.samplesPerSecond)} samples/s (${result.stats.backend})`)
    assert.equal(train.count, 2000)
    assert.equal(result.numExamples, 2000)
    assert.equal(result.stats.steps, Math.ceil(2000 / 32))
    assert.ok(baseline.accuracy < 0.2)
    assert.ok(after.accuracy > 0.75, `held-out accuracy ${after.accuracy}`)
    assert.ok(after.loss < baseline.loss)
    assert.ok(result.metrics.accuracy > 0.5 && result.metrics.loss > 0)
    assert.deepEqual(result.weights.map((t) => t.name), global.map((t) => t.name))
  })

  it('is deterministic for a seed (shuffles and dropout) and leaks no tensors', async () => {
    const spec: ArchitectureSpec = { ...SMALL_MLP, layers: [...SMALL_MLP.layers, { type: 'dropout', rate: 0.3 }] }
    const data = subset(train, Array.from({ length: 400 }, (_, i) => i))
    const tensorsBefore = tf.memory().numTensors
    const run = async (seed: number) => (await trainLocal({ architecture: spec, data, epochs: 2, learningRate: 0.05, seed })).weights
    const a = await run(5)
    const b = await run(5)
    const c = await run(6)
    assert.deepEqual(a, b)
    assert.notDeepEqual(a[0].data, c[0].data)
    assert.equal(tf.memory().numTensors, tensorsBefore)
  })

  it('FedProx: μ > 0 keeps the local model closer to the global one', async () => {
    // A non-IID shard (two digits) pulls the model far from the global weights.
    const shard = partitionNonIid(train, 5, { labelsPerClient: 2, seed: 1 })[0]
    const global = initialWeights(SMALL_MLP, 2)
    const drift = async (proximalMu: number) => {
      const result = await trainLocal({ architecture: SMALL_MLP, globalWeights: global, data: shard, epochs: 2, learningRate: 0.1, seed: 1, proximalMu })
      return { distance: deltaNorm(result.weights, global), result }
    }
    const plain = await drift(0)
    const prox = await drift(1)
    assert.ok(prox.distance < 0.8 * plain.distance, `‖w − w_global‖: μ=1 ${prox.distance} vs μ=0 ${plain.distance}`)
    assert.ok(prox.result.stats.proximalLoss! > 0)
    assert.equal(plain.result.stats.proximalLoss, undefined)
  })

  it('trains a small CNN with Adam (conv filter gradients: wasmKernels.ts)', async () => {
    const spec: ArchitectureSpec = {
      input: { shape: [28, 28, 1] },
      layers: [{ type: 'conv2d', filters: 4, kernelSize: 5, strides: 2, activation: 'relu' }, { type: 'maxPool2d', poolSize: 2 }, { type: 'flatten' }],
      output: { classes: 10 }
    }
    const images = (data: Dataset): Dataset => ({ ...data, featureShape: [28, 28, 1] })
    const result = await trainLocal({ architecture: spec, data: images(subset(train, Array.from({ length: 600 }, (_, i) => i))), epochs: 2, optimizer: 'adam', learningRate: 0.01, seed: 1 })
    const after = await evaluate({ architecture: spec, weights: result.weights, data: images(test) })
    assert.ok(after.accuracy > 0.5, `CNN held-out accuracy ${after.accuracy}`)
  })

  it('rejects data that does not fit the model, and reports divergence', async () => {
    const wrongSize: Dataset = { count: 2, featureShape: [3], x: new Float32Array(6), y: new Int32Array(2) }
    await assert.rejects(trainLocal({ architecture: MLP, data: wrongSize }), /data samples have 3 values \(shape \[3\]\) but the model's input \[784\] needs 784/)
    const badLabel = subset(train, [0, 1, 2])
    badLabel.y[1] = 10
    await assert.rejects(trainLocal({ architecture: MLP, data: badLabel }), /data sample 1 has label 10, outside the model's 10 classes/)
    await assert.rejects(trainLocal({ architecture: MLP, data: train, epochs: 0 }), /epochs must be an integer from 1/)
    await assert.rejects(trainLocal({ architecture: MLP, data: train, globalWeights: initialWeights(SMALL_MLP, 1) }), /globalWeights do not fit the architecture: tensor 'dense_0.kernel' has shape \[784, 32\], expected \[784, 128\]/)
    await assert.rejects(trainLocal({ architecture: SMALL_MLP, data: subset(train, Array.from({ length: 64 }, (_, i) => i)), learningRate: 1e30 }),
      (err: unknown) => err instanceof TrainingDivergedError && err.code === 'TRAINING_DIVERGED')
  })

  it('stops when aborted', async () => {
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(trainLocal({ architecture: SMALL_MLP, data: train, signal: controller.signal }), { name: 'AbortError' })
    const midway = new AbortController()
    let epochs = 0
    await assert.rejects(trainLocal({
      architecture: SMALL_MLP,
      data: train,
      epochs: 5,
      signal: midway.signal,
      onEpoch: () => { epochs++; midway.abort() }
    }), { name: 'AbortError' })
    assert.equal(epochs, 1)
  })

  it('evaluate reports loss and accuracy of given weights', async () => {
    const arch = validateArchitecture(SMALL_MLP)
    const result = await evaluate({ architecture: arch, weights: initialWeights(arch, 3), data: test, batchSize: 300 })
    assert.equal(result.numExamples, 1000)
    assert.ok(result.loss > 1.5 && result.loss < 4, `untrained loss ${result.loss} is about ln(10)`)
  })
})
