import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs'
import { IncompatibleWeightsError } from '../tensors.ts'
import {
  InvalidArchitectureError,
  checkWeightsFor,
  describeArchitecture,
  initialWeights,
  parseArchitecture,
  validateArchitecture,
  type ArchitectureSpec
} from './architecture.ts'
import { ensureBackend } from './backend.ts'
import { buildModel, getModelWeights } from './tfModel.ts'

const MLP: ArchitectureSpec = { input: { shape: [784] }, layers: [{ type: 'dense', units: 128, activation: 'relu' }], output: { classes: 10 } }
const CNN: ArchitectureSpec = {
  input: { shape: [28, 28, 1] },
  layers: [
    { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' },
    { type: 'maxPool2d', poolSize: 2 },
    { type: 'conv2d', filters: 4, kernelSize: [3, 2], strides: 2, padding: 'same' },
    { type: 'flatten' },
    { type: 'dense', units: 16, activation: 'relu' },
    { type: 'dropout', rate: 0.25 }
  ],
  output: { classes: 10 }
}

function rejects (spec: unknown, message: RegExp): void {
  assert.throws(() => validateArchitecture(spec), (err: unknown) => {
    assert.ok(err instanceof InvalidArchitectureError, `expected InvalidArchitectureError, got ${String(err)}`)
    assert.equal(err.code, 'INVALID_ARCHITECTURE')
    assert.match(err.message, message)
    return true
  })
}

describe('architecture spec', () => {
  it('resolves an MLP: stable parameter names, order and shapes', () => {
    const arch = validateArchitecture(MLP)
    assert.deepEqual(arch.parameters, [
      { name: 'dense_0.kernel', shape: [784, 128] },
      { name: 'dense_0.bias', shape: [128] },
      { name: 'dense_1.kernel', shape: [128, 10] },
      { name: 'dense_1.bias', shape: [10] }
    ])
    assert.equal(arch.parameterCount, 101770)
    assert.equal(describeArchitecture(arch), '[784] → dense_0 128 relu → dense_1 10 softmax (101,770 parameters)')
    assert.equal(validateArchitecture(arch), arch, 'a validated architecture is returned as is')
  })

  it('resolves a CNN: per-type names, output shapes, defaults filled in', () => {
    const arch = validateArchitecture(CNN)
    assert.deepEqual(arch.layers.map((l) => [l.name, l.outputShape]), [
      ['conv2d_0', [26, 26, 8]],
      ['maxPool2d_0', [13, 13, 8]],
      ['conv2d_1', [7, 7, 4]],
      ['flatten_0', [196]],
      ['dense_0', [16]],
      ['dropout_0', [16]],
      ['dense_1', [10]]
    ])
    assert.deepEqual(arch.parameters.map((p) => p.name), ['conv2d_0.kernel', 'conv2d_0.bias', 'conv2d_1.kernel', 'conv2d_1.bias', 'dense_0.kernel', 'dense_0.bias', 'dense_1.kernel', 'dense_1.bias'])
    assert.deepEqual(arch.parameters[2].shape, [3, 2, 8, 4])
    assert.deepEqual(arch.spec.layers[0], { type: 'conv2d', filters: 8, kernelSize: [3, 3], strides: [1, 1], padding: 'valid', activation: 'relu' })
    assert.deepEqual(arch.spec.layers[1], { type: 'maxPool2d', poolSize: [2, 2], strides: [2, 2] })
    // The normalized spec is itself a valid spec describing the same model.
    assert.deepEqual(validateArchitecture(JSON.parse(JSON.stringify(arch.spec))).parameters, arch.parameters)
  })

  it('accepts softmax regression (no hidden layers)', () => {
    assert.deepEqual(validateArchitecture({ input: { shape: [4] }, layers: [], output: { classes: 3 } }).parameters.map((p) => p.shape), [[4, 3], [3]])
  })

  it('rejects bad specs with errors naming the field or layer', () => {
    rejects(null, /expected an object \{ input, layers, output \}/)
    rejects({ ...MLP, input: { shape: [28, 28] } }, /input\.shape must be \[features\] or \[height, width, channels\]/)
    rejects({ ...MLP, input: { shape: [0] } }, /input\.shape/)
    rejects({ ...MLP, output: { classes: 1 } }, /output\.classes must be an integer from 2/)
    rejects({ ...MLP, layers: 'dense' }, /layers must be an array/)
    rejects({ ...MLP, extra: 1 }, /the spec: unknown property "extra"/)
    rejects({ ...MLP, layers: [{ type: 'dense', units: 8 }, { type: 'lstm', units: 4 }] }, /layers\[1\]: unknown layer type "lstm" \(expected one of dense, conv2d, maxPool2d, flatten, dropout\)/)
    rejects({ ...MLP, layers: [{ type: 'dense' }] }, /layers\[0\] \(dense\): missing "units"/)
    rejects({ ...MLP, layers: [{ type: 'dense', units: 2.5 }] }, /layers\[0\] \(dense\): units must be an integer/)
    rejects({ ...MLP, layers: [{ type: 'dense', units: 8, activation: 'tanh' }] }, /layers\[0\] \(dense\): activation must be one of relu, softmax, linear, got "tanh"/)
    rejects({ ...CNN, layers: [{ type: 'conv2d', filters: 4, kernel_size: 3 }] }, /layers\[0\] \(conv2d\): unknown property "kernel_size"/)
    rejects({ ...CNN, layers: [{ type: 'conv2d', filters: 4, kernelSize: 3, activation: 'softmax' }] }, /layers\[0\] \(conv2d\): activation must be 'relu' or 'linear'/)
    rejects({ ...MLP, layers: [{ type: 'conv2d', filters: 4, kernelSize: 3 }] }, /layers\[0\] \(conv2d\): needs a \[height, width, channels\] input but receives \[784\]/)
    rejects({ ...CNN, layers: [{ type: 'conv2d', filters: 4, kernelSize: 3 }, { type: 'dense', units: 8 }, { type: 'flatten' }] }, /layers\[1\] \(dense\): needs a flat input but receives \[26, 26, 4\]/)
    rejects({ ...CNN, layers: [{ type: 'conv2d', filters: 4, kernelSize: 3 }] }, /the output head needs a flat input but the last layer produces \[26, 26, 4\]/)
    rejects({ ...CNN, layers: [{ type: 'maxPool2d', poolSize: 8 }, { type: 'maxPool2d', poolSize: 2 }, { type: 'conv2d', filters: 2, kernelSize: 3 }, { type: 'flatten' }] }, /layers\[2\] \(conv2d\): kernelSize 3 is larger than its input 1×1 with padding 'valid'/)
    rejects({ ...CNN, layers: [{ type: 'maxPool2d', poolSize: [2, 30] }, { type: 'flatten' }] }, /layers\[0\] \(maxPool2d\): poolSize 2×30 is larger than its input 28×28/)
    rejects({ ...MLP, layers: [{ type: 'dropout', rate: 1 }] }, /layers\[0\] \(dropout\): rate must be a number in \[0, 1\), got 1/)
    rejects({ ...MLP, layers: [{ type: 'dense', units: 65536 }, { type: 'dense', units: 65536 }] }, /parameters is more than the limit/)
    assert.throws(() => parseArchitecture('{"input": '), /architecture: not valid JSON/)
  })
})

describe('weights', () => {
  it('initial weights are seeded: same seed, same bytes; Glorot-bounded kernels, zero biases', () => {
    const a = initialWeights(CNN, 7)
    const b = initialWeights(CNN, 7)
    const c = initialWeights(CNN, 8)
    assert.deepEqual(a, b)
    assert.notDeepEqual(a[0].data, c[0].data)
    const kernel = a.find((t) => t.name === 'dense_0.kernel')!
    const limit = Math.sqrt(6 / (196 + 16))
    assert.ok(kernel.data.every((v) => Math.abs(v) <= limit))
    assert.ok(Math.max(...kernel.data) > limit * 0.9, 'spans the Glorot range')
    assert.ok(a.filter((t) => t.name.endsWith('.bias')).every((t) => t.data.every((v) => v === 0)))
  })

  it('round-trips through a tfjs model: same names, order and values', async () => {
    await ensureBackend()
    for (const spec of [MLP, CNN]) {
      const arch = validateArchitecture(spec)
      const weights = initialWeights(arch, 3).map((t, i) => ({ ...t, data: t.data.map((v, j) => v + ((i + j) % 7) * 1e-3) }))
      const model = buildModel(arch, weights)
      try {
        assert.deepEqual(model.layers.map((l) => l.name), arch.layers.map((l) => l.name))
        // tfjs' own weight order agrees with ours.
        assert.deepEqual(model.getWeights().map((w) => w.shape), arch.parameters.map((p) => p.shape))
        const back = getModelWeights(model, arch)
        assert.deepEqual(back.map((t) => t.name), arch.parameters.map((p) => p.name))
        assert.deepEqual(back, weights)
      } finally {
        model.dispose()
      }
    }
    assert.equal(tf.memory().numTensors, 0, 'no tensor leaked')
  })

  it('rejects weights that do not fit the architecture', () => {
    const weights = initialWeights(MLP, 1)
    assert.throws(() => checkWeightsFor(MLP, [weights[1], weights[0], ...weights.slice(2)]), (err: unknown) =>
      err instanceof IncompatibleWeightsError && /tensor #0 is 'dense_0.bias', expected 'dense_0.kernel' \(found at #1: out of order\)/.test(err.message))
    assert.throws(() => checkWeightsFor(MLP, weights.slice(0, 3)), /missing tensor 'dense_1.bias'/)
    assert.throws(() => checkWeightsFor(MLP, [{ ...weights[0], shape: [128, 784] }, ...weights.slice(1)]), /tensor 'dense_0.kernel' has shape \[128, 784\], expected \[784, 128\]/)
    const nan = weights.map((t) => ({ ...t, data: t.data.slice() }))
    nan[3].data[2] = NaN
    assert.throws(() => checkWeightsFor(MLP, nan), /non-finite value: tensor 'dense_1.bias' element 2 is NaN/)
  })
})
