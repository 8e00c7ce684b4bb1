import type { AggregationReport } from '../strategies/types.ts'
import type { LocalDataOptions } from '../training/data.ts'

/** How a participant takes part: fixed when it joins. */
export interface ParticipantSettings {
  /** Absolute path of the local data (CSV, JSON lines or an image folder); it never leaves the node. */
  dataDir: string
  dataOptions?: LocalDataOptions
  /** An external trainer command (see the trainer protocol); default: the built-in tfjs trainer. */
  trainer?: string
}

/** How the sponsor validates: fixed when it opens the job. */
export interface SponsorSettings {
  /** Held-out data the sponsor evaluates each round's aggregate on (metrics posted on chain). */
  validationDir?: string
  validationOptions?: LocalDataOptions
}

/** What this node did and saw in one round. */
export interface RoundRecord {
  updateCid?: string
  numExamples?: number
  training?: { loss?: number, accuracy?: number, durationMs: number, clippedFrom?: number, noiseStd?: number }
  /** Why this node did not commit an update this round. */
  missed?: string
  /** The aggregate this node computed and (as a participant) attested. */
  aggregateCid?: string
  /** The commitments it was computed from. */
  aggregateInputs?: string
  report?: Pick<AggregationReport, 'strategy' | 'accepted' | 'rejected'>
  carriedOver?: boolean
  attested?: boolean
  /** The aggregate the round finalized with (k agreeing attestations). */
  agreedCid?: string
  /** This node's aggregate differed from the agreed one. */
  outvoted?: boolean
  /** Differential privacy after this round: the round's effective noise multiplier and the job's (ε, δ) so far. */
  dp?: { noiseMultiplier: number, epsilon: number, delta: number }
  /** The sponsor's evaluation of the agreed aggregate on its validation data. */
  metrics?: { accuracy: number, loss: number, samples: number }
  /** The sponsor recorded its rejections and metrics on chain. */
  recorded?: boolean
  /** Secure aggregation: this round's secrets (hex; they never leave the node) and what it published. */
  secure?: { secrets?: Record<string, string>, revealCid?: string, revealedAt?: number }
}

export interface JobState {
  rounds: Record<string, RoundRecord>
  paidOut?: boolean
  published?: { name: string, version: string, cid: string }
  publishError?: string
  /** The round that got no agreement in time; the job was paid out as it stood before it. */
  stalled?: number
  /** Set when the job's loop gave up; it says why. */
  failed?: string
  done?: boolean
}
