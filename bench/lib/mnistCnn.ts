/**
 * The MNIST CNN of McMahan et al. 2017 ("Communication-Efficient Learning of Deep Networks from
 * Decentralized Data", the FedAvg paper), written as ONNX with the test fixtures' writer:
 *
 *   input float32 [batch, 1, 28, 28]
 *   → Conv 5×5×32 (same padding) → Relu → MaxPool 2×2
 *   → Conv 5×5×64 (same padding) → Relu → MaxPool 2×2
 *   → Flatten [batch, 3136] → Gemm 512 → Relu → Gemm 10 → logits float32 [batch, 10]
 *
 * 1,663,370 parameters, ~12.3 M multiply-adds per sample. Weights are uniform in ±1/sqrt(fan-in)
 * (PyTorch's default initialisation) from a seeded PRNG, so every machine builds the same bytes.
 */
import { createRandom as mulberry32 } from '../../src/federated/training/random.ts'
import { buildOnnxModel, type OnnxAttributeValue, type OnnxTensorSpec } from '../../test/fixtures/onnx.ts'

export const CNN_INPUT = 'input'
export const CNN_OUTPUT = 'logits'
export const IMAGE_SIZE = 28
export const CLASSES = 10
/** Floats per sample of the input. */
export const SAMPLE_ELEMENTS = IMAGE_SIZE * IMAGE_SIZE

const KERNEL = 5
const PAD = (KERNEL - 1) / 2
const CONV1 = 32
const CONV2 = 64
const HIDDEN = 512
/** 64 channels × 7 × 7 after two 2×2 poolings. */
const FLATTENED = CONV2 * (IMAGE_SIZE / 4) * (IMAGE_SIZE / 4)

export interface CnnWeights {
  conv1w: Float32Array
  conv1b: Float32Array
  conv2w: Float32Array
  conv2b: Float32Array
  fc1w: Float32Array
  fc1b: Float32Array
  fc2w: Float32Array
  fc2b: Float32Array
}

export function cnnWeights (seed = 1): CnnWeights {
  const random = mulberry32(seed)
  const uniform = (count: number, fanIn: number): Float32Array => {
    const bound = 1 / Math.sqrt(fanIn)
    const out = new Float32Array(count)
    for (let i = 0; i < count; i++) out[i] = (random() * 2 - 1) * bound
    return out
  }
  const conv1FanIn = 1 * KERNEL * KERNEL
  const conv2FanIn = CONV1 * KERNEL * KERNEL
  return {
    conv1w: uniform(CONV1 * conv1FanIn, conv1FanIn),
    conv1b: uniform(CONV1, conv1FanIn),
    conv2w: uniform(CONV2 * conv2FanIn, conv2FanIn),
    conv2b: uniform(CONV2, conv2FanIn),
    fc1w: uniform(HIDDEN * FLATTENED, FLATTENED),
    fc1b: uniform(HIDDEN, FLATTENED),
    fc2w: uniform(CLASSES * HIDDEN, HIDDEN),
    fc2b: uniform(CLASSES, HIDDEN)
  }
}

export function cnnParameterCount (weights: CnnWeights): number {
  return Object.values(weights).reduce((sum, array: Float32Array) => sum + array.length, 0)
}

/** The model's bytes (a ModelProto with the weights inside). */
export function buildMnistCnnOnnx (weights: CnnWeights): Uint8Array {
  const conv: Record<string, OnnxAttributeValue> = { kernel_shape: { type: 'ints', value: [KERNEL, KERNEL] }, pads: { type: 'ints', value: [PAD, PAD, PAD, PAD] } }
  const pool: Record<string, OnnxAttributeValue> = { kernel_shape: { type: 'ints', value: [2, 2] }, strides: { type: 'ints', value: [2, 2] } }
  const transB = { transB: { type: 'int', value: 1 } } as const
  // Hosts are little-endian, as ONNX raw_data is: the floats' bytes go in as they are.
  const tensor = (name: string, dims: number[], data: Float32Array): OnnxTensorSpec => ({ name, dims, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) })
  return buildOnnxModel({
    graphName: 'mnist_cnn',
    nodes: [
      { name: 'conv1', opType: 'Conv', inputs: [CNN_INPUT, 'conv1.weight', 'conv1.bias'], outputs: ['conv1.out'], attributes: conv },
      { name: 'relu1', opType: 'Relu', inputs: ['conv1.out'], outputs: ['relu1.out'] },
      { name: 'pool1', opType: 'MaxPool', inputs: ['relu1.out'], outputs: ['pool1.out'], attributes: pool },
      { name: 'conv2', opType: 'Conv', inputs: ['pool1.out', 'conv2.weight', 'conv2.bias'], outputs: ['conv2.out'], attributes: conv },
      { name: 'relu2', opType: 'Relu', inputs: ['conv2.out'], outputs: ['relu2.out'] },
      { name: 'pool2', opType: 'MaxPool', inputs: ['relu2.out'], outputs: ['pool2.out'], attributes: pool },
      { name: 'flatten', opType: 'Flatten', inputs: ['pool2.out'], outputs: ['flat'], attributes: { axis: { type: 'int', value: 1 } } },
      { name: 'fc1', opType: 'Gemm', inputs: ['flat', 'fc1.weight', 'fc1.bias'], outputs: ['fc1.out'], attributes: transB },
      { name: 'relu3', opType: 'Relu', inputs: ['fc1.out'], outputs: ['relu3.out'] },
      { name: 'fc2', opType: 'Gemm', inputs: ['relu3.out', 'fc2.weight', 'fc2.bias'], outputs: [CNN_OUTPUT], attributes: transB }
    ],
    initializers: [
      tensor('conv1.weight', [CONV1, 1, KERNEL, KERNEL], weights.conv1w),
      tensor('conv1.bias', [CONV1], weights.conv1b),
      tensor('conv2.weight', [CONV2, CONV1, KERNEL, KERNEL], weights.conv2w),
      tensor('conv2.bias', [CONV2], weights.conv2b),
      tensor('fc1.weight', [HIDDEN, FLATTENED], weights.fc1w),
      tensor('fc1.bias', [HIDDEN], weights.fc1b),
      tensor('fc2.weight', [CLASSES, HIDDEN], weights.fc2w),
      tensor('fc2.bias', [CLASSES], weights.fc2b)
    ],
    inputs: [{ name: CNN_INPUT, shape: ['batch', 1, IMAGE_SIZE, IMAGE_SIZE] }],
    outputs: [{ name: CNN_OUTPUT, shape: ['batch', CLASSES] }]
  })
}

/** `batch` deterministic pseudo-images, pixels uniform in [0, 1). */
export function randomImages (batch: number, seed = 2): Float32Array {
  const random = mulberry32(seed)
  const out = new Float32Array(batch * SAMPLE_ELEMENTS)
  for (let i = 0; i < out.length; i++) out[i] = random()
  return out
}

/**
 * What the model computes for one image ([1, 28, 28]), in plain JavaScript (float64 sums), to
 * check that onnxruntime runs the graph meant here (padding, pooling, flatten order).
 */
export function cnnForward (weights: CnnWeights, image: Float32Array): Float64Array {
  const conv = (input: ArrayLike<number>, channels: number, size: number, kernels: Float32Array, bias: Float32Array, filters: number): Float64Array => {
    const out = new Float64Array(filters * size * size)
    for (let f = 0; f < filters; f++) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          let sum = bias[f]
          for (let c = 0; c < channels; c++) {
            for (let ky = 0; ky < KERNEL; ky++) {
              const iy = y + ky - PAD
              if (iy < 0 || iy >= size) continue
              for (let kx = 0; kx < KERNEL; kx++) {
                const ix = x + kx - PAD
                if (ix < 0 || ix >= size) continue
                sum += input[(c * size + iy) * size + ix] * kernels[((f * channels + c) * KERNEL + ky) * KERNEL + kx]
              }
            }
          }
          out[(f * size + y) * size + x] = Math.max(0, sum)
        }
      }
    }
    return out
  }
  const pool = (input: Float64Array, channels: number, size: number): Float64Array => {
    const half = size / 2
    const out = new Float64Array(channels * half * half)
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < half; y++) {
        for (let x = 0; x < half; x++) {
          const at = (dy: number, dx: number): number => input[(c * size + 2 * y + dy) * size + 2 * x + dx]
          out[(c * half + y) * half + x] = Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1))
        }
      }
    }
    return out
  }
  const dense = (input: ArrayLike<number>, matrix: Float32Array, bias: Float32Array, outputs: number, relu: boolean): Float64Array => {
    const out = new Float64Array(outputs)
    for (let o = 0; o < outputs; o++) {
      let sum = bias[o]
      for (let i = 0; i < input.length; i++) sum += input[i] * matrix[o * input.length + i]
      out[o] = relu ? Math.max(0, sum) : sum
    }
    return out
  }
  const p1 = pool(conv(image, 1, IMAGE_SIZE, weights.conv1w, weights.conv1b, CONV1), CONV1, IMAGE_SIZE)
  const p2 = pool(conv(p1, CONV1, IMAGE_SIZE / 2, weights.conv2w, weights.conv2b, CONV2), CONV2, IMAGE_SIZE / 2)
  return dense(dense(p2, weights.fc1w, weights.fc1b, HIDDEN, true), weights.fc2w, weights.fc2b, CLASSES, false)
}

