import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as ort from 'onnxruntime-node'
import { initialWeights, validateArchitecture, type Architecture, type ArchitectureSpec } from './architecture.ts'
import { loadMnist, type Dataset } from './data.ts'
import { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, exportOnnx } from './exportOnnx.ts'
import { createRandom } from './random.ts'
import { predict, trainLocal } from './trainer.ts'
import type { ModelWeights } from '../tensors.ts'

const MLP: ArchitectureSpec = {
  input: { shape: [784] },
  layers: [{ type: 'dense', units: 64, activation: 'relu' }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 32, activation: 'linear' }],
  output: { classes: 10 }
}
const CNN: ArchitectureSpec = {
  input: { shape: [28, 28, 1] },
  layers: [
    { type: 'conv2d', filters: 6, kernelSize: 3, activation: 'relu' },
    { type: 'maxPool2d', poolSize: 2 },
    { type: 'conv2d', filters: 5, kernelSize: [3, 2], strides: 2, padding: 'same', activation: 'relu' },
    { type: 'maxPool2d', poolSize: [2, 3], strides: 1 },
    { type: 'flatten' },
    { type: 'dense', units: 16, activation: 'relu' }
  ],
  output: { classes: 10 }
}

let mnist: Dataset
before(async () => { mnist = await loadMnist({ count: 500, seed: 7 }) })

/** Max |onnxruntime − tfjs| over the class probabilities of `count` samples, and argmax agreement. */
async function compare (arch: Architecture, weights: ModelWeights, x: Float32Array, count: number): Promise<{ maxDiff: number, sameArgmax: boolean }> {
  const expected = await predict({ architecture: arch, weights, x })
  const session = await ort.InferenceSession.create(exportOnnx({ architecture: arch, weights }))
  try {
    assert.deepEqual(session.inputNames, [ONNX_INPUT_NAME])
    assert.deepEqual(session.outputNames, [ONNX_OUTPUT_NAME])
    const output = await session.run({ [ONNX_INPUT_NAME]: new ort.Tensor('float32', x.slice(), [count, ...arch.inputShape]) })
    const actual = output[ONNX_OUTPUT_NAME].data as Float32Array
    assert.deepEqual(output[ONNX_OUTPUT_NAME].dims, [count, arch.classes])
    let maxDiff = 0
    let sameArgmax = true
    for (let i = 0; i < actual.length; i++) maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]))
    for (let s = 0; s < count; s++) {
      const argmax = (p: Float32Array): number => p.indexOf(Math.max(...p))
      if (argmax(actual.subarray(s * arch.classes, (s + 1) * arch.classes)) !== argmax(expected.subarray(s * arch.classes, (s + 1) * arch.classes))) sameArgmax = false
    }
    return { maxDiff, sameArgmax }
  } finally {
    await session.release()
  }
}

describe('exportOnnx', () => {
  for (const [label, spec] of [['MLP', MLP], ['CNN', CNN]] as const) {
    it(`${label}: onnxruntime matches tfjs on 20 MNIST digits (max abs diff < 1e-4)`, async () => {
      const arch = validateArchitecture(spec)
      const data: Dataset = { ...mnist, featureShape: [...arch.inputShape] }
      const trained = await trainLocal({ architecture: arch, data, epochs: 1, learningRate: 0.05, seed: 3 })
      const { maxDiff, sameArgmax } = await compare(arch, trained.weights, data.x.subarray(0, 20 * 784), 20)
      console.log(`# ${label}: max |onnxruntime − tfjs| = ${maxDiff.toExponential(2)}`)
      assert.ok(maxDiff < 1e-4, `max abs diff ${maxDiff}`)
      assert.ok(sameArgmax)
    })
  }

  it('multi-channel input: NHWC → NCHW and back keeps channels and flatten order', async () => {
    const arch = validateArchitecture({
      input: { shape: [7, 6, 3] },
      layers: [{ type: 'conv2d', filters: 4, kernelSize: 2, padding: 'same' }, { type: 'flatten' }],
      output: { classes: 5 }
    })
    const random = createRandom(11)
    const weights = initialWeights(arch, 5).map((t) => ({ ...t, data: t.data.map((v) => v * 3 + (random() - 0.5) * 0.2) }))
    const x = Float32Array.from({ length: 8 * arch.inputSize }, () => random())
    const { maxDiff } = await compare(arch, weights, x, 8)
    assert.ok(maxDiff < 1e-5, `max abs diff ${maxDiff}`)
  })

  it('records the architecture in the metadata and refuses weights that do not fit', () => {
    const arch = validateArchitecture(MLP)
    const bytes = exportOnnx({ architecture: arch, weights: initialWeights(arch, 1), metadata: { 'mycelium.job': 'job-1' } })
    const text = Buffer.from(bytes).toString('latin1')
    assert.ok(text.includes('mycelium.architecture') && text.includes('"units":64') && text.includes('job-1'))
    assert.throws(() => exportOnnx({ architecture: arch, weights: initialWeights(arch, 1).slice(1) }), /weights do not fit the architecture/)
  })
})
