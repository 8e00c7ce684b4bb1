/**
 * Client-level DP without a trusted aggregator (distributed DP-FedAvg): each participant clips its
 * own delta to L2 norm C and adds Gaussian noise of std z·C/√n per coordinate, n being the
 * participants the job wants. The uniform mean of m such updates has sensitivity C/m to one
 * participant and noise std z·C/√(n·m) — for m = n exactly DP-FedAvg's z·C/n, so the round is a
 * Gaussian mechanism with noise multiplier z·√(m/n) (fewer participants: less noise, and the
 * accountant is told so). No seed is shared and nothing is secret among aggregators: aggregation
 * stays a deterministic, verifiable function of the committed updates.
 */
import { randomBytes } from 'node:crypto'
import { InvalidInputError } from '../../errors.ts'
import { deltaNorm, type ModelWeights } from '../tensors.ts'
import { ChaChaRng, SEED_BYTES } from './prng.ts'

export interface DistributedDpParameters {
  clipNorm: number
  noiseMultiplier: number
  /** n: the participants the job wants (the noise share of each). */
  participants: number
  /** Fresh secret randomness by default; tests pass a fixed seed. */
  seed?: Uint8Array
}

export interface PrivatizedUpdate {
  weights: ModelWeights
  /** ‖Δ‖ before clipping. */
  norm: number
  /** The factor Δ was scaled by (1: not clipped). */
  scale: number
  /** Per-coordinate noise std added. */
  noiseStd: number
}

/** Clips the update's delta from `global` and adds this participant's share of the Gaussian noise. */
export function privatizeUpdate (update: ModelWeights, global: ModelWeights, { clipNorm, noiseMultiplier, participants, seed }: DistributedDpParameters): PrivatizedUpdate {
  if (!(clipNorm > 0) || !(noiseMultiplier >= 0) || !Number.isInteger(participants) || participants < 1) {
    throw new InvalidInputError(`Invalid DP parameters: clipNorm ${clipNorm}, noiseMultiplier ${noiseMultiplier}, participants ${participants}.`)
  }
  const norm = deltaNorm(update, global)
  const scale = norm > clipNorm ? clipNorm / norm : 1
  const noiseStd = noiseMultiplier * clipNorm / Math.sqrt(participants)
  const rng = new ChaChaRng(seed ?? randomBytes(SEED_BYTES))
  const weights = global.map((tensor, t) => {
    const g = tensor.data
    const x = update[t].data
    const data = new Float32Array(g.length)
    for (let i = 0; i < g.length; i++) data[i] = g[i] + scale * (x[i] - g[i]) + (noiseStd > 0 ? noiseStd * rng.nextGaussian() : 0)
    return { name: tensor.name, shape: [...tensor.shape], data }
  })
  return { weights, norm, scale, noiseStd }
}

/** The noise multiplier a round actually had when `aggregated` of `participants` noisy updates were averaged. */
export function effectiveNoiseMultiplier (noiseMultiplier: number, aggregated: number, participants: number): number {
  return aggregated > 0 ? noiseMultiplier * Math.sqrt(aggregated / participants) : 0
}
