import { InvalidWeightsFileError, decodeSafetensors, encodeSafetensors, type ModelWeights } from '../tensors.ts'
import type { FedOptState } from '../strategies/fedOpt.ts'

/** Tensor names of a server optimizer's state inside a round's aggregate file. */
const STATE_PREFIX = '__fedopt/'

export interface GlobalModel {
  weights: ModelWeights
  /** FedAdam/FedYogi/FedAdagrad: the server optimizer's moments after the round. */
  optimizerState?: FedOptState
}

/**
 * A round's aggregate as one safetensors file: the model's tensors, then (server optimizers only)
 * the optimizer's state as extra tensors, so the next round's aggregators — whoever they are, a
 * restarted node included — start from the same state, and the file's CID commits to it too.
 */
export function encodeGlobal ({ weights, optimizerState }: GlobalModel): Uint8Array {
  if (optimizerState == null) return encodeSafetensors(weights)
  return encodeSafetensors([
    ...weights,
    { name: `${STATE_PREFIX}round`, shape: [1], data: Float32Array.of(optimizerState.round) },
    ...optimizerState.m.map(t => ({ ...t, name: `${STATE_PREFIX}m/${t.name}` })),
    ...optimizerState.v.map(t => ({ ...t, name: `${STATE_PREFIX}v/${t.name}` }))
  ])
}

export function decodeGlobal (bytes: Uint8Array): GlobalModel {
  const tensors = decodeSafetensors(bytes)
  const weights = tensors.filter(t => !t.name.startsWith(STATE_PREFIX))
  const round = tensors.find(t => t.name === `${STATE_PREFIX}round`)
  if (round == null) return { weights }
  const moment = (kind: 'm' | 'v'): ModelWeights => weights.map(w => {
    const found = tensors.find(t => t.name === `${STATE_PREFIX}${kind}/${w.name}`)
    if (found == null) throw new InvalidWeightsFileError(`the optimizer state has no ${kind} for "${w.name}"`)
    return { ...found, name: w.name }
  })
  return { weights, optimizerState: { round: round.data[0], m: moment('m'), v: moment('v') } }
}
