import { InvalidInputError } from '../../errors.ts'
import { validateArchitecture, type ArchitectureSpec } from '../training/architecture.ts'
import { MAX_TASK_SPEC_BYTES } from './constants.ts'

export const TASK_SPEC_TYPE = 'mycelium/fl-task'
export const TASK_SPEC_SCHEMA_VERSION = 1

/** Aggregation rules a job may name; each is deterministic, so honest aggregators agree on the bytes. */
export const STRATEGY_NAMES = ['fedavg', 'fedprox', 'fedadam', 'fedyogi', 'fedadagrad', 'median', 'trimmed-mean', 'krum', 'multi-krum'] as const
/** Server optimizers: their state travels in each round's aggregate file. */
export const SERVER_OPTIMIZERS: readonly StrategyName[] = ['fedadam', 'fedyogi', 'fedadagrad']
export type StrategyName = typeof STRATEGY_NAMES[number]

export interface StrategySpec {
  name: StrategyName
  /** trimmed-mean: beta (default 0.2); krum / multi-krum: f (default ⌊(n−3)/2⌋ at aggregation), m. */
  beta?: number
  f?: number
  m?: number
  /** fedadam / fedyogi / fedadagrad: server learning rate η (required), β1, β2, τ. */
  eta?: number
  beta1?: number
  beta2?: number
  tau?: number
  /** Drop updates whose delta norm exceeds maxRatio × the median norm (off when absent). */
  normBound?: { maxRatio: number }
}

/**
 * Client-level differential privacy, distributed: every participant clips its delta to `clipNorm`
 * and adds Gaussian noise of std z·C/√n itself (n = participants wanted), so the uniform mean of n
 * updates carries noise of std z·C/n — DP-FedAvg's — while no aggregator ever needs a secret seed
 * and aggregation stays deterministic and verifiable.
 */
export interface DpSpec {
  clipNorm: number
  noiseMultiplier: number
  delta: number
}

export interface TrainingSpec {
  epochs: number
  batchSize: number
  learningRate: number
  optimizer: 'sgd' | 'adam'
  /** FedProx μ (0: plain FedAvg local training). */
  proximalMu: number
}

/** What a job trains and how: stored as a JSON file; its CID goes on chain with the job. */
export interface TaskSpec {
  type: typeof TASK_SPEC_TYPE
  schemaVersion: typeof TASK_SPEC_SCHEMA_VERSION
  /** The model version trained from: its manifest CID and the files in it. */
  base: { name: string, version: string, manifestCid: string, weightsFile: string }
  architecture: ArchitectureSpec
  training: TrainingSpec
  strategy: StrategySpec
  dp?: DpSpec
  /**
   * Secure aggregation: participants commit masked updates; aggregators only ever see the sum (the
   * uniform mean of the survivors' deltas, each coordinate clamped to ±clip). Needs a mean-based
   * strategy (fedavg, fedprox) without a norm bound: robust rules need to see individual updates.
   */
  secureAggregation?: { clip: number }
  /** The version the sponsor publishes at the end (the base is its parent). */
  publish: { name: string, version: string }
  /** Free text for participants (what data is wanted, label meanings…). */
  description?: string
}

export class InvalidTaskSpecError extends InvalidInputError {
  override name = 'InvalidTaskSpecError'
  constructor (problem: string) {
    super(`Invalid federated task specification: ${problem}.`, {
      code: 'INVALID_TASK_SPEC',
      hint: 'See `myc fl open --help` for the training, strategy and privacy options.'
    })
  }
}

const positive = (value: unknown, what: string, integer = false): number => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new InvalidTaskSpecError(`${what} must be a positive ${integer ? 'integer' : 'number'}, not ${JSON.stringify(value)}`)
  }
  return value
}

export function validateStrategySpec (value: unknown): StrategySpec {
  const spec = value as StrategySpec
  if (spec == null || typeof spec !== 'object') throw new InvalidTaskSpecError('"strategy" must be an object')
  if (!(STRATEGY_NAMES as readonly string[]).includes(spec.name)) throw new InvalidTaskSpecError(`unknown strategy "${String(spec.name)}" (one of ${STRATEGY_NAMES.join(', ')})`)
  if (spec.beta != null && (typeof spec.beta !== 'number' || !(spec.beta >= 0 && spec.beta < 0.5))) throw new InvalidTaskSpecError('trimmed-mean beta must be in [0, 0.5)')
  if (spec.f != null && (!Number.isInteger(spec.f) || spec.f < 0)) throw new InvalidTaskSpecError('krum f must be an integer ≥ 0')
  if (spec.m != null) positive(spec.m, 'multi-krum m', true)
  if (SERVER_OPTIMIZERS.includes(spec.name)) positive(spec.eta, `${spec.name} eta (the server learning rate)`)
  for (const key of ['beta1', 'beta2'] as const) {
    if (spec[key] != null && !(typeof spec[key] === 'number' && spec[key] >= 0 && spec[key] < 1)) throw new InvalidTaskSpecError(`${key} must be in [0, 1)`)
  }
  if (spec.tau != null) positive(spec.tau, 'tau')
  if (spec.normBound != null && !(typeof spec.normBound.maxRatio === 'number' && spec.normBound.maxRatio >= 1)) throw new InvalidTaskSpecError('normBound.maxRatio must be ≥ 1')
  return spec
}

export function validateDpSpec (value: unknown): DpSpec {
  const dp = value as DpSpec
  if (dp == null || typeof dp !== 'object') throw new InvalidTaskSpecError('"dp" must be an object')
  positive(dp.clipNorm, 'dp.clipNorm')
  if (typeof dp.noiseMultiplier !== 'number' || !(dp.noiseMultiplier >= 0) || !Number.isFinite(dp.noiseMultiplier)) throw new InvalidTaskSpecError('dp.noiseMultiplier must be ≥ 0')
  if (typeof dp.delta !== 'number' || !(dp.delta > 0 && dp.delta < 1)) throw new InvalidTaskSpecError('dp.delta must be in (0, 1)')
  return dp
}

export function validateTaskSpec (value: unknown): TaskSpec {
  const spec = value as TaskSpec
  if (spec == null || typeof spec !== 'object') throw new InvalidTaskSpecError('not a JSON object')
  if (spec.type !== TASK_SPEC_TYPE || spec.schemaVersion !== TASK_SPEC_SCHEMA_VERSION) throw new InvalidTaskSpecError(`not a ${TASK_SPEC_TYPE} v${TASK_SPEC_SCHEMA_VERSION} document`)
  const base = spec.base
  if (base == null || typeof base.name !== 'string' || typeof base.version !== 'string' || typeof base.manifestCid !== 'string' || typeof base.weightsFile !== 'string') {
    throw new InvalidTaskSpecError('"base" needs name, version, manifestCid and weightsFile')
  }
  try {
    validateArchitecture(spec.architecture)
  } catch (err: any) {
    throw new InvalidTaskSpecError(`"architecture": ${err.shortMessage ?? err.message}`)
  }
  const t = spec.training
  if (t == null || typeof t !== 'object') throw new InvalidTaskSpecError('"training" must be an object')
  positive(t.epochs, 'training.epochs', true)
  positive(t.batchSize, 'training.batchSize', true)
  positive(t.learningRate, 'training.learningRate')
  if (t.optimizer !== 'sgd' && t.optimizer !== 'adam') throw new InvalidTaskSpecError('training.optimizer must be "sgd" or "adam"')
  if (typeof t.proximalMu !== 'number' || !(t.proximalMu >= 0)) throw new InvalidTaskSpecError('training.proximalMu must be ≥ 0')
  validateStrategySpec(spec.strategy)
  if (spec.dp != null) validateDpSpec(spec.dp)
  if (spec.secureAggregation != null) {
    positive(spec.secureAggregation.clip, 'secureAggregation.clip')
    if ((spec.strategy.name !== 'fedavg' && spec.strategy.name !== 'fedprox') || spec.strategy.normBound != null) {
      throw new InvalidTaskSpecError(`secure aggregation hides individual updates, so it works with fedavg or fedprox without a norm bound, not ${spec.strategy.name}${spec.strategy.normBound != null ? ' with a norm bound' : ''}`)
    }
  }
  if (spec.publish == null || typeof spec.publish.name !== 'string' || typeof spec.publish.version !== 'string') throw new InvalidTaskSpecError('"publish" needs name and version')
  return spec
}

export function encodeTaskSpec (spec: TaskSpec): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(validateTaskSpec(spec), null, 2) + '\n')
}

export function decodeTaskSpec (bytes: Uint8Array): TaskSpec {
  if (bytes.byteLength > MAX_TASK_SPEC_BYTES) throw new InvalidTaskSpecError(`larger than ${MAX_TASK_SPEC_BYTES} bytes`)
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new InvalidTaskSpecError('not UTF-8 JSON')
  }
  return validateTaskSpec(value)
}
