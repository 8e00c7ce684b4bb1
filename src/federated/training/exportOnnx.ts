/**
 * Exports a trained architecture + weights to ONNX, so `myc infer` (onnxruntime) runs the final
 * model of a federated job and gets the same predictions as tfjs.
 *
 * The graph takes `input` [batch, ...input.shape] — channels-last (NHWC) for images, exactly
 * the layout the trainer uses — and returns `probabilities` [batch, classes]. ONNX convolutions
 * are channels-first, so the graph transposes NHWC→NCHW before the first conv/pool layer and back
 * NCHW→NHWC before flattening, which keeps the flatten order (and so the dense weights) identical
 * to tfjs'. Conv kernels go from tfjs [kh, kw, in, out] to ONNX [out, in, kh, kw]; 'same' padding
 * is written as explicit pads with the extra row/column at the end, as TensorFlow does. Dense
 * layers are Gemm with the tfjs [in, units] kernel as B (transB = 0); dropout is the identity.
 */
import { checkWeightsFor, validateArchitecture, type Architecture, type ArchitectureSpec } from './architecture.ts'
import { encodeOnnxModel, type OnnxInitializer, type OnnxNode } from './onnxWriter.ts'
import type { ModelWeights } from '../tensors.ts'

export const ONNX_INPUT_NAME = 'input'
export const ONNX_OUTPUT_NAME = 'probabilities'
export const ONNX_OPSET = 17

export interface ExportOnnxOptions {
  architecture: ArchitectureSpec | Architecture
  weights: ModelWeights
  /** The graph's name; default 'mycelium_model'. */
  graphName?: string
  docString?: string
  /** Extra ModelProto.metadata_props (e.g. the job id, class names as JSON). */
  metadata?: Record<string, string>
}

/** ONNX ModelProto bytes (opset 17, IR 8) computing the architecture's class probabilities. */
export function exportOnnx (options: ExportOnnxOptions): Uint8Array {
  const arch = validateArchitecture(options.architecture)
  checkWeightsFor(arch, options.weights)
  const byName = new Map(options.weights.map((tensor) => [tensor.name, tensor]))
  const nodes: OnnxNode[] = []
  const initializers: OnnxInitializer[] = []
  let current = ONNX_INPUT_NAME
  // An object, not a let: TypeScript does not see the closure below change a local's narrowed type.
  const state: { layout: 'flat' | 'nhwc' | 'nchw' } = { layout: arch.inputShape.length === 1 ? 'flat' : 'nhwc' }
  const add = (node: OnnxNode): void => {
    nodes.push(node)
    current = node.outputs[0]
  }
  const toChannelsFirst = (name: string): void => {
    if (state.layout !== 'nhwc') return
    add({ name: `${name}.to_nchw`, opType: 'Transpose', inputs: [current], outputs: [`${name}.to_nchw`], attributes: { perm: { type: 'ints', value: [0, 3, 1, 2] } } })
    state.layout = 'nchw'
  }
  const last = arch.layers.length - 1
  for (const [position, resolved] of arch.layers.entries()) {
    const layer = resolved.layer
    const name = resolved.name
    switch (layer.type) {
      case 'conv2d': {
        toChannelsFirst(name)
        const kernel = byName.get(`${name}.kernel`)!
        const [kh, kw, inChannels, filters] = kernel.shape
        initializers.push({ name: `${name}.weight`, dims: [filters, inChannels, kh, kw], data: hwioToOihw(kernel.data, kh, kw, inChannels, filters) })
        initializers.push({ name: `${name}.bias`, dims: [filters], data: byName.get(`${name}.bias`)!.data })
        const [inHeight, inWidth] = resolved.inputShape
        const [padTop, padBottom] = samePadding(layer.padding, inHeight, layer.kernelSize[0], layer.strides[0])
        const [padLeft, padRight] = samePadding(layer.padding, inWidth, layer.kernelSize[1], layer.strides[1])
        add({
          name,
          opType: 'Conv',
          inputs: [current, `${name}.weight`, `${name}.bias`],
          outputs: [`${name}.out`],
          attributes: {
            kernel_shape: { type: 'ints', value: [kh, kw] },
            strides: { type: 'ints', value: layer.strides },
            pads: { type: 'ints', value: [padTop, padLeft, padBottom, padRight] },
            dilations: { type: 'ints', value: [1, 1] },
            group: { type: 'int', value: 1 }
          }
        })
        if (layer.activation === 'relu') add({ name: `${name}.relu`, opType: 'Relu', inputs: [current], outputs: [`${name}.relu`] })
        break
      }
      case 'maxPool2d':
        toChannelsFirst(name)
        add({
          name,
          opType: 'MaxPool',
          inputs: [current],
          outputs: [`${name}.out`],
          attributes: {
            kernel_shape: { type: 'ints', value: layer.poolSize },
            strides: { type: 'ints', value: layer.strides },
            pads: { type: 'ints', value: [0, 0, 0, 0] }
          }
        })
        break
      case 'flatten':
        if (state.layout === 'flat') break
        if (state.layout === 'nchw') {
          add({ name: `${name}.to_nhwc`, opType: 'Transpose', inputs: [current], outputs: [`${name}.to_nhwc`], attributes: { perm: { type: 'ints', value: [0, 2, 3, 1] } } })
        }
        add({ name, opType: 'Flatten', inputs: [current], outputs: [`${name}.out`], attributes: { axis: { type: 'int', value: 1 } } })
        state.layout = 'flat'
        break
      case 'dropout':
        break // identity at inference
      case 'dense': {
        const kernel = byName.get(`${name}.kernel`)!
        initializers.push({ name: `${name}.kernel`, dims: [...kernel.shape], data: kernel.data })
        initializers.push({ name: `${name}.bias`, dims: [layer.units], data: byName.get(`${name}.bias`)!.data })
        add({ name, opType: 'Gemm', inputs: [current, `${name}.kernel`, `${name}.bias`], outputs: [`${name}.out`], attributes: { transB: { type: 'int', value: 0 } } })
        if (layer.activation === 'relu') add({ name: `${name}.relu`, opType: 'Relu', inputs: [current], outputs: [`${name}.relu`] })
        if (layer.activation === 'softmax') add({ name: `${name}.softmax`, opType: 'Softmax', inputs: [current], outputs: [`${name}.softmax`], attributes: { axis: { type: 'int', value: -1 } } })
        break
      }
    }
    if (position === last) {
      // The head is always a dense softmax layer: rename its final output.
      nodes[nodes.length - 1].outputs = [ONNX_OUTPUT_NAME]
    }
  }
  return encodeOnnxModel({
    graphName: options.graphName ?? 'mycelium_model',
    nodes,
    initializers,
    inputs: [{ name: ONNX_INPUT_NAME, shape: ['batch', ...arch.inputShape] }],
    outputs: [{ name: ONNX_OUTPUT_NAME, shape: ['batch', arch.classes] }],
    opsetVersion: ONNX_OPSET,
    producerName: 'mycelium',
    docString: options.docString,
    metadata: { 'mycelium.architecture': JSON.stringify(arch.spec), ...options.metadata }
  })
}

/** [kh, kw, in, out] (tfjs) → [out, in, kh, kw] (ONNX). */
function hwioToOihw (data: Float32Array, kh: number, kw: number, inChannels: number, filters: number): Float32Array {
  const out = new Float32Array(data.length)
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < inChannels; i++) {
        for (let o = 0; o < filters; o++) {
          out[((o * inChannels + i) * kh + y) * kw + x] = data[((y * kw + x) * inChannels + i) * filters + o]
        }
      }
    }
  }
  return out
}

/** TensorFlow's 'same' padding: the total split with the odd pixel at the end; 'valid' is none. */
function samePadding (padding: 'valid' | 'same', size: number, kernel: number, stride: number): [number, number] {
  if (padding === 'valid') return [0, 0]
  const outSize = Math.ceil(size / stride)
  const total = Math.max((outSize - 1) * stride + kernel - size, 0)
  return [Math.floor(total / 2), total - Math.floor(total / 2)]
}
