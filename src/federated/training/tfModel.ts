/**
 * The architecture as a tfjs model: what the built-in trainer runs. Apart from architecture.ts (the
 * spec, pure), so a node loads tfjs only once it trains or evaluates.
 */
import * as tf from '@tensorflow/tfjs'
import { checkWeightsFor, validateArchitecture, type Architecture, type ArchitectureSpec } from './architecture.ts'
import type { ModelWeights, Tensor } from '../tensors.ts'

/**
 * A tfjs LayersModel for the architecture holding `weights` (checked with
 * {@link checkWeightsFor}); the caller disposes it. The backend must be initialized
 * (see ensureBackend in backend.ts).
 */
export function buildModel (architecture: ArchitectureSpec | Architecture, weights: readonly Tensor[]): tf.Sequential {
  const arch = validateArchitecture(architecture)
  checkWeightsFor(arch, weights)
  const model = tf.sequential({ name: 'mycelium_model' })
  try {
    for (const [position, resolved] of arch.layers.entries()) {
      const common = { name: resolved.name, ...(position === 0 ? { inputShape: arch.inputShape } : {}) }
      const layer = resolved.layer
      switch (layer.type) {
        case 'dense':
          model.add(tf.layers.dense({ ...common, units: layer.units, activation: layer.activation, kernelInitializer: 'zeros', biasInitializer: 'zeros' }))
          break
        case 'conv2d':
          model.add(tf.layers.conv2d({
            ...common,
            filters: layer.filters,
            kernelSize: layer.kernelSize,
            strides: layer.strides,
            padding: layer.padding,
            activation: layer.activation,
            dataFormat: 'channelsLast',
            kernelInitializer: 'zeros',
            biasInitializer: 'zeros'
          }))
          break
        case 'maxPool2d':
          model.add(tf.layers.maxPooling2d({ ...common, poolSize: layer.poolSize, strides: layer.strides, padding: 'valid', dataFormat: 'channelsLast' }))
          break
        case 'flatten':
          model.add(tf.layers.flatten(common))
          break
        case 'dropout':
          model.add(tf.layers.dropout({ ...common, rate: layer.rate }))
          break
      }
    }
    setModelWeights(model, arch, weights)
    return model
  } catch (err) {
    model.dispose()
    throw err
  }
}

/** The model's variables for each parameter of the architecture, in parameter order. */
export function modelVariables (model: tf.LayersModel, architecture: ArchitectureSpec | Architecture): tf.Variable[] {
  const arch = validateArchitecture(architecture)
  const variables: tf.Variable[] = []
  for (const resolved of arch.layers) {
    if (resolved.parameters.length === 0) continue
    const layer = model.getLayer(resolved.name)
    const [kernel, bias] = layer.trainableWeights
    if (kernel === undefined || bias === undefined || !kernel.originalName.endsWith('kernel') || !bias.originalName.endsWith('bias')) {
      throw new Error(`layer ${resolved.name}: expected trainable weights [kernel, bias], got [${layer.trainableWeights.map((w) => w.originalName).join(', ')}]`)
    }
    variables.push(kernel.read() as tf.Variable, bias.read() as tf.Variable)
  }
  return variables
}

/** Copies `weights` (checked against the architecture) into the model's variables. */
export function setModelWeights (model: tf.LayersModel, architecture: ArchitectureSpec | Architecture, weights: readonly Tensor[]): void {
  const arch = validateArchitecture(architecture)
  checkWeightsFor(arch, weights)
  const variables = modelVariables(model, arch)
  variables.forEach((variable, i) => {
    const value = tf.tensor(weights[i].data, weights[i].shape, 'float32')
    variable.assign(value)
    value.dispose()
  })
}

/** The model's parameters as {@link ModelWeights} (copies), named and ordered by the architecture. */
export function getModelWeights (model: tf.LayersModel, architecture: ArchitectureSpec | Architecture): ModelWeights {
  const arch = validateArchitecture(architecture)
  const variables = modelVariables(model, arch)
  return arch.parameters.map((parameter, i) => {
    const data = Float32Array.from(variables[i].dataSync() as Float32Array)
    return { name: parameter.name, shape: [...parameter.shape], data }
  })
}
