/**
 * The small JSON architecture spec federated jobs train and its validation, in pure JavaScript (the
 * tfjs model built from it is in tfModel.ts, loaded only when a node trains).
 *
 * ```json
 * { "input": { "shape": [28, 28, 1] },
 *   "layers": [{ "type": "conv2d", "filters": 8, "kernelSize": 3, "activation": "relu" },
 *              { "type": "maxPool2d", "poolSize": 2 }, { "type": "flatten" },
 *              { "type": "dense", "units": 64, "activation": "relu" }, { "type": "dropout", "rate": 0.2 }],
 *   "output": { "classes": 10 } }
 * ```
 *
 * `output` appends a dense classifier head (`classes` units, softmax): the model maps a sample to
 * class probabilities. Layers are named by type and per-type index (`conv2d_0`, `maxPool2d_0`,
 * `flatten_0`, `dense_0`, `dropout_0`, and the head `dense_1`), and the parameters are, in layer
 * order, `<layer>.kernel` then `<layer>.bias` — Keras layouts: dense kernels are [in, units],
 * conv kernels [kernelH, kernelW, inChannels, filters]. Samples are channels-last (NHWC).
 *
 * Initial weights come from a seeded pure-JavaScript generator ({@link initialWeights}: Glorot
 * uniform kernels, zero biases), so the same seed gives bit-identical weights anywhere.
 */
import { InvalidInputError, type BaseErrorParameters } from '../../errors.ts'
import { IncompatibleWeightsError, describeNonFinite, findNonFinite, validateWeights, type ModelWeights, type Tensor } from '../tensors.ts'
import { checkSeed, createRandom, deriveSeed } from './random.ts'

export type Activation = 'relu' | 'softmax' | 'linear'
export type Padding = 'valid' | 'same'
/** A size for both spatial axes, or [height, width]. */
export type SizePair = number | [number, number]

export interface DenseLayerSpec { type: 'dense', units: number, activation?: Activation }
export interface Conv2dLayerSpec {
  type: 'conv2d'
  filters: number
  kernelSize: SizePair
  /** Default 1. */
  strides?: SizePair
  /** Default 'valid'. */
  padding?: Padding
  /** 'relu' or 'linear' (default). */
  activation?: Exclude<Activation, 'softmax'>
}
export interface MaxPool2dLayerSpec {
  type: 'maxPool2d'
  poolSize: SizePair
  /** Default: poolSize (non-overlapping windows). Padding is always 'valid'. */
  strides?: SizePair
}
export interface FlattenLayerSpec { type: 'flatten' }
export interface DropoutLayerSpec { type: 'dropout', rate: number }
export type LayerSpec = DenseLayerSpec | Conv2dLayerSpec | MaxPool2dLayerSpec | FlattenLayerSpec | DropoutLayerSpec
export type LayerType = LayerSpec['type']

export interface ArchitectureSpec {
  /** One sample's shape: [features] or [height, width, channels]. */
  input: { shape: number[] }
  layers: LayerSpec[]
  /** A dense softmax head with this many units is appended after `layers`. */
  output: { classes: number }
}

/** A layer with every default filled in and its sizes resolved. */
export type NormalizedLayer =
  | { type: 'dense', units: number, activation: Activation }
  | { type: 'conv2d', filters: number, kernelSize: [number, number], strides: [number, number], padding: Padding, activation: 'relu' | 'linear' }
  | { type: 'maxPool2d', poolSize: [number, number], strides: [number, number] }
  | { type: 'flatten' }
  | { type: 'dropout', rate: number }

export interface ParameterSpec { name: string, shape: number[] }

export interface ResolvedLayer {
  /** Stable name, e.g. 'dense_0'. */
  name: string
  /** Index in `spec.layers`; the output head has index `spec.layers.length`. */
  index: number
  layer: NormalizedLayer
  /** Per-sample shapes (no batch axis). */
  inputShape: number[]
  outputShape: number[]
  /** [kernel, bias] for dense and conv2d layers, [] otherwise. */
  parameters: ParameterSpec[]
}

const RESOLVED = Symbol('mycelium.architecture')

/** A validated architecture: create with {@link validateArchitecture} or {@link parseArchitecture}. */
export interface Architecture {
  readonly [RESOLVED]: true
  /** The spec with defaults filled in (JSON-serializable). */
  spec: ArchitectureSpec
  inputShape: number[]
  /** Values per sample: the product of `inputShape`. */
  inputSize: number
  classes: number
  /** Hidden layers then the output head. */
  layers: ResolvedLayer[]
  /** All parameters in model order. */
  parameters: ParameterSpec[]
  parameterCount: number
}

/** The limits below keep a hostile job spec from asking a node for absurd allocations. */
export const ARCHITECTURE_LIMITS = {
  maxLayers: 64,
  maxUnits: 65536,
  maxFilters: 4096,
  maxKernelSize: 64,
  maxInputSize: 16 * 1024 * 1024,
  maxClasses: 100000,
  maxParameters: 200_000_000
} as const

export class InvalidArchitectureError extends InvalidInputError {
  override name = 'InvalidArchitectureError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(`architecture: ${shortMessage}`, { code: 'INVALID_ARCHITECTURE', ...parameters })
  }
}

const LAYER_KEYS: Record<LayerType, string[]> = {
  dense: ['units', 'activation'],
  conv2d: ['filters', 'kernelSize', 'strides', 'padding', 'activation'],
  maxPool2d: ['poolSize', 'strides'],
  flatten: [],
  dropout: ['rate']
}
const ACTIVATIONS: Activation[] = ['relu', 'softmax', 'linear']
const SPEC_HINT = 'See src/federated/training/architecture.ts for the spec: { input: { shape }, layers: [dense | conv2d | maxPool2d | flatten | dropout], output: { classes } }.'

export function isArchitecture (value: unknown): value is Architecture {
  return typeof value === 'object' && value !== null && (value as Partial<Architecture>)[RESOLVED] === true
}

/** Parses and validates an architecture from JSON text. */
export function parseArchitecture (json: string): Architecture {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch (err) {
    throw new InvalidArchitectureError(`not valid JSON (${(err as Error).message})`, { hint: SPEC_HINT })
  }
  return validateArchitecture(value)
}

/**
 * Checks `spec` and resolves every layer's shapes and parameters. Throws
 * {@link InvalidArchitectureError} naming the offending field or layer (e.g.
 * "layers[2] (conv2d): kernelSize 5 is larger than its input 4×4 with padding 'valid'").
 * An already validated {@link Architecture} is returned as is.
 */
export function validateArchitecture (spec: unknown): Architecture {
  if (isArchitecture(spec)) return spec
  if (!isPlainObject(spec)) throw new InvalidArchitectureError('expected an object { input, layers, output }', { hint: SPEC_HINT })
  rejectUnknownKeys(spec, ['input', 'layers', 'output'], 'the spec')

  if (!isPlainObject(spec.input)) throw new InvalidArchitectureError('input must be an object { shape: [...] }', { hint: SPEC_HINT })
  rejectUnknownKeys(spec.input, ['shape'], 'input')
  const inputShape = spec.input.shape
  if (!Array.isArray(inputShape) || !(inputShape.length === 1 || inputShape.length === 3) || !inputShape.every(isPositiveInteger)) {
    throw new InvalidArchitectureError(`input.shape must be [features] or [height, width, channels] of positive integers, got ${JSON.stringify(inputShape)}`, { hint: 'MNIST is [784] for an MLP or [28, 28, 1] for a CNN.' })
  }
  const inputSize = product(inputShape)
  if (inputSize > ARCHITECTURE_LIMITS.maxInputSize) throw new InvalidArchitectureError(`input.shape ${JSON.stringify(inputShape)} has ${inputSize} values, more than ${ARCHITECTURE_LIMITS.maxInputSize}`)

  if (!isPlainObject(spec.output)) throw new InvalidArchitectureError('output must be an object { classes }', { hint: SPEC_HINT })
  rejectUnknownKeys(spec.output, ['classes'], 'output')
  const classes = spec.output.classes
  if (!isPositiveInteger(classes) || classes < 2 || classes > ARCHITECTURE_LIMITS.maxClasses) {
    throw new InvalidArchitectureError(`output.classes must be an integer from 2 to ${ARCHITECTURE_LIMITS.maxClasses}, got ${JSON.stringify(classes)}`)
  }

  if (!Array.isArray(spec.layers)) throw new InvalidArchitectureError('layers must be an array (it may be empty: softmax regression)', { hint: SPEC_HINT })
  if (spec.layers.length > ARCHITECTURE_LIMITS.maxLayers) throw new InvalidArchitectureError(`${spec.layers.length} layers is more than the limit of ${ARCHITECTURE_LIMITS.maxLayers}`)

  const counters: Record<LayerType, number> = { dense: 0, conv2d: 0, maxPool2d: 0, flatten: 0, dropout: 0 }
  const layers: ResolvedLayer[] = []
  const normalizedSpecs: LayerSpec[] = []
  let shape: number[] = [...inputShape]
  const resolve = (index: number, raw: unknown, where: string): void => {
    const layer = normalizeLayer(raw, where)
    const name = `${layer.type}_${counters[layer.type]++}`
    const resolved = resolveLayer(layer, name, index, shape, `${where} (${layer.type})`)
    layers.push(resolved)
    shape = resolved.outputShape
  }
  spec.layers.forEach((raw, index) => {
    resolve(index, raw, `layers[${index}]`)
    normalizedSpecs.push(toSpec(layers[layers.length - 1].layer))
  })
  if (shape.length !== 1) {
    throw new InvalidArchitectureError(`the output head needs a flat input but the last layer produces ${formatShape(shape)}`, { hint: 'End `layers` with { "type": "flatten" }.' })
  }
  resolve(spec.layers.length, { type: 'dense', units: classes, activation: 'softmax' }, 'output')

  const parameters = layers.flatMap((layer) => layer.parameters)
  const parameterCount = parameters.reduce((sum, parameter) => sum + product(parameter.shape), 0)
  if (parameterCount > ARCHITECTURE_LIMITS.maxParameters) {
    throw new InvalidArchitectureError(`${parameterCount} parameters is more than the limit of ${ARCHITECTURE_LIMITS.maxParameters}`)
  }
  return {
    [RESOLVED]: true,
    spec: { input: { shape: [...inputShape] }, layers: normalizedSpecs, output: { classes } },
    inputShape: [...inputShape],
    inputSize,
    classes,
    layers,
    parameters,
    parameterCount
  }
}

function normalizeLayer (raw: unknown, where: string): NormalizedLayer {
  if (!isPlainObject(raw)) throw new InvalidArchitectureError(`${where} must be an object with a "type"`, { hint: SPEC_HINT })
  const type = raw.type
  if (typeof type !== 'string' || !Object.hasOwn(LAYER_KEYS, type)) {
    throw new InvalidArchitectureError(`${where}: unknown layer type ${JSON.stringify(type)} (expected one of ${Object.keys(LAYER_KEYS).join(', ')})`)
  }
  const layerType = type as LayerType
  const label = `${where} (${layerType})`
  rejectUnknownKeys(raw, ['type', ...LAYER_KEYS[layerType]], label)
  switch (layerType) {
    case 'dense': {
      const units = integerField(raw, 'units', label, 1, ARCHITECTURE_LIMITS.maxUnits)
      const activation = raw.activation ?? 'linear'
      if (!ACTIVATIONS.includes(activation as Activation)) throw new InvalidArchitectureError(`${label}: activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(activation)}`)
      return { type: 'dense', units, activation: activation as Activation }
    }
    case 'conv2d': {
      const filters = integerField(raw, 'filters', label, 1, ARCHITECTURE_LIMITS.maxFilters)
      const kernelSize = pairField(raw, 'kernelSize', label)
      const strides = raw.strides === undefined ? [1, 1] as [number, number] : pairField(raw, 'strides', label)
      const padding = raw.padding ?? 'valid'
      if (padding !== 'valid' && padding !== 'same') throw new InvalidArchitectureError(`${label}: padding must be 'valid' or 'same', got ${JSON.stringify(padding)}`)
      const activation = raw.activation ?? 'linear'
      if (activation !== 'relu' && activation !== 'linear') {
        throw new InvalidArchitectureError(`${label}: activation must be 'relu' or 'linear', got ${JSON.stringify(activation)}`, {
          hint: activation === 'softmax' ? 'softmax is only supported on dense layers (the output head already applies it).' : undefined
        })
      }
      return { type: 'conv2d', filters, kernelSize, strides, padding, activation }
    }
    case 'maxPool2d': {
      const poolSize = pairField(raw, 'poolSize', label)
      const strides = raw.strides === undefined ? poolSize : pairField(raw, 'strides', label)
      return { type: 'maxPool2d', poolSize, strides }
    }
    case 'flatten':
      return { type: 'flatten' }
    case 'dropout': {
      const rate = raw.rate
      if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0 || rate >= 1) {
        throw new InvalidArchitectureError(`${label}: rate must be a number in [0, 1), got ${JSON.stringify(rate)}`)
      }
      return { type: 'dropout', rate }
    }
  }
}

function resolveLayer (layer: NormalizedLayer, name: string, index: number, inputShape: number[], label: string): ResolvedLayer {
  const resolved = (outputShape: number[], parameters: ParameterSpec[] = []): ResolvedLayer =>
    ({ name, index, layer, inputShape: [...inputShape], outputShape, parameters })
  switch (layer.type) {
    case 'dense': {
      if (inputShape.length !== 1) {
        throw new InvalidArchitectureError(`${label}: needs a flat input but receives ${formatShape(inputShape)}`, { hint: 'Add { "type": "flatten" } before it.' })
      }
      return resolved([layer.units], [
        { name: `${name}.kernel`, shape: [inputShape[0], layer.units] },
        { name: `${name}.bias`, shape: [layer.units] }
      ])
    }
    case 'conv2d': {
      const [height, width, channels] = spatialInput(inputShape, label)
      const outHeight = windowOutput(height, layer.kernelSize[0], layer.strides[0], layer.padding)
      const outWidth = windowOutput(width, layer.kernelSize[1], layer.strides[1], layer.padding)
      if (outHeight < 1 || outWidth < 1) {
        throw new InvalidArchitectureError(`${label}: kernelSize ${formatPair(layer.kernelSize)} is larger than its input ${height}×${width} with padding 'valid'`, { hint: 'Use a smaller kernel, padding "same", or fewer pooling layers before it.' })
      }
      return resolved([outHeight, outWidth, layer.filters], [
        { name: `${name}.kernel`, shape: [layer.kernelSize[0], layer.kernelSize[1], channels, layer.filters] },
        { name: `${name}.bias`, shape: [layer.filters] }
      ])
    }
    case 'maxPool2d': {
      const [height, width, channels] = spatialInput(inputShape, label)
      const outHeight = windowOutput(height, layer.poolSize[0], layer.strides[0], 'valid')
      const outWidth = windowOutput(width, layer.poolSize[1], layer.strides[1], 'valid')
      if (outHeight < 1 || outWidth < 1) {
        throw new InvalidArchitectureError(`${label}: poolSize ${formatPair(layer.poolSize)} is larger than its input ${height}×${width}`)
      }
      return resolved([outHeight, outWidth, channels])
    }
    case 'flatten':
      return resolved([product(inputShape)])
    case 'dropout':
      return resolved([...inputShape])
  }
}

function spatialInput (inputShape: number[], label: string): [number, number, number] {
  if (inputShape.length !== 3) {
    throw new InvalidArchitectureError(`${label}: needs a [height, width, channels] input but receives ${formatShape(inputShape)}`, {
      hint: 'Convolution and pooling layers need input.shape [h, w, c] (e.g. [28, 28, 1]) and must come before any flatten/dense layer.'
    })
  }
  return [inputShape[0], inputShape[1], inputShape[2]]
}

function windowOutput (size: number, window: number, stride: number, padding: Padding): number {
  return padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - window) / stride) + 1
}

function toSpec (layer: NormalizedLayer): LayerSpec {
  switch (layer.type) {
    case 'conv2d': return { type: 'conv2d', filters: layer.filters, kernelSize: [...layer.kernelSize], strides: [...layer.strides], padding: layer.padding, activation: layer.activation }
    case 'maxPool2d': return { type: 'maxPool2d', poolSize: [...layer.poolSize], strides: [...layer.strides] }
    default: return { ...layer }
  }
}

/** One line, e.g. "[784] → dense_0 128 relu → dense_1 10 softmax (101,770 parameters)". */
export function describeArchitecture (architecture: ArchitectureSpec | Architecture): string {
  const arch = validateArchitecture(architecture)
  const parts = arch.layers.map((resolved) => {
    const layer = resolved.layer
    switch (layer.type) {
      case 'dense': return `${resolved.name} ${layer.units} ${layer.activation}`
      case 'conv2d': return `${resolved.name} ${layer.filters}×${formatPair(layer.kernelSize)} ${layer.activation}`
      case 'maxPool2d': return `${resolved.name} ${formatPair(layer.poolSize)}`
      case 'dropout': return `${resolved.name} ${layer.rate}`
      case 'flatten': return resolved.name
    }
  })
  return `${formatShape(arch.inputShape)} → ${parts.join(' → ')} (${arch.parameterCount.toLocaleString('en-US')} parameters)`
}

// ---------------------------------------------------------------------------------------------
// Weights

/**
 * Seeded initial weights: kernels Glorot-uniform (limit √(6 / (fanIn + fanOut)), Keras fans:
 * a conv kernel's fanIn is kh·kw·inChannels and fanOut kh·kw·filters), biases zero. Each tensor
 * draws from its own stream derived from (seed, parameter index), so adding a layer at the end
 * does not change the others.
 */
export function initialWeights (architecture: ArchitectureSpec | Architecture, seed: number): ModelWeights {
  const arch = validateArchitecture(architecture)
  const base = checkSeed(seed)
  return arch.parameters.map((parameter, index) => {
    const data = new Float32Array(product(parameter.shape))
    if (parameter.name.endsWith('.kernel')) {
      const shape = parameter.shape
      const receptive = shape.length === 4 ? shape[0] * shape[1] : 1
      const fanIn = shape[shape.length - 2] * receptive
      const fanOut = shape[shape.length - 1] * receptive
      const limit = Math.sqrt(6 / (fanIn + fanOut))
      const random = createRandom(deriveSeed(base, index))
      for (let i = 0; i < data.length; i++) data[i] = (random() * 2 - 1) * limit
    }
    return { name: parameter.name, shape: [...parameter.shape], data }
  })
}

/**
 * Throws {@link IncompatibleWeightsError} unless `weights` hold exactly the architecture's
 * parameters (names, order, shapes), and an InvalidWeightsError for NaN/±Infinity.
 */
export function checkWeightsFor (architecture: ArchitectureSpec | Architecture, weights: readonly Tensor[], label = 'weights'): void {
  const arch = validateArchitecture(architecture)
  validateWeights(weights, label)
  const problem = describeMismatch(arch.parameters, weights)
  if (problem !== undefined) {
    throw new IncompatibleWeightsError(`${label} do not fit the architecture: ${problem}`, {
      hint: `Expected, in order: ${arch.parameters.map((p) => `${p.name} ${formatShape(p.shape)}`).join(', ')}.`
    })
  }
  const nonFinite = findNonFinite(weights)
  if (nonFinite !== undefined) {
    throw new IncompatibleWeightsError(`${label} contain a non-finite value: ${describeNonFinite(nonFinite)}`)
  }
}

function describeMismatch (expected: readonly ParameterSpec[], weights: readonly Tensor[]): string | undefined {
  for (let i = 0; i < Math.min(expected.length, weights.length); i++) {
    if (weights[i].name !== expected[i].name) {
      const elsewhere = weights.findIndex((tensor) => tensor.name === expected[i].name)
      return elsewhere === -1
        ? `tensor #${i} is '${weights[i].name}', expected '${expected[i].name}' (which is missing)`
        : `tensor #${i} is '${weights[i].name}', expected '${expected[i].name}' (found at #${elsewhere}: out of order)`
    }
    if (!sameShape(weights[i].shape, expected[i].shape)) {
      return `tensor '${expected[i].name}' has shape ${formatShape(weights[i].shape)}, expected ${formatShape(expected[i].shape)}`
    }
  }
  if (weights.length > expected.length) return `unexpected extra tensor '${weights[expected.length].name}' (expected ${expected.length} tensors)`
  if (weights.length < expected.length) return `missing tensor '${expected[weights.length].name}' (expected ${expected.length} tensors, got ${weights.length})`
  return undefined
}

// ---------------------------------------------------------------------------------------------

function integerField (raw: Record<string, unknown>, key: string, label: string, min: number, max: number): number {
  const value = raw[key]
  if (value === undefined) throw new InvalidArchitectureError(`${label}: missing "${key}"`)
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw new InvalidArchitectureError(`${label}: ${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
  }
  return value as number
}

function pairField (raw: Record<string, unknown>, key: string, label: string): [number, number] {
  const value = raw[key]
  if (value === undefined) throw new InvalidArchitectureError(`${label}: missing "${key}"`)
  const pair = typeof value === 'number' ? [value, value] : value
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((v) => isPositiveInteger(v) && v <= ARCHITECTURE_LIMITS.maxKernelSize)) {
    throw new InvalidArchitectureError(`${label}: ${key} must be an integer or [height, width] of integers from 1 to ${ARCHITECTURE_LIMITS.maxKernelSize}, got ${JSON.stringify(value)}`)
  }
  return [pair[0], pair[1]]
}

function rejectUnknownKeys (object: Record<string, unknown>, allowed: string[], label: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) {
      throw new InvalidArchitectureError(`${label}: unknown property "${key}" (expected ${allowed.length > 0 ? allowed.map((k) => `"${k}"`).join(', ') : 'no other properties'})`)
    }
  }
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isPositiveInteger (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

function product (shape: readonly number[]): number {
  let n = 1
  for (const dim of shape) n *= dim
  return n
}

function sameShape (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i])
}

export function formatShape (shape: readonly number[]): string {
  return `[${shape.join(', ')}]`
}

function formatPair (pair: [number, number]): string {
  return pair[0] === pair[1] ? String(pair[0]) : `${pair[0]}×${pair[1]}`
}
