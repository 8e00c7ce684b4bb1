import type { Address, GetContractReturnType, PublicClient } from 'viem'
import { InvalidInputError } from '../errors.ts'
import { FederatedRoundsNotDeployedError } from './errors.ts'
import type { federatedRoundsAbi } from './artifacts/FederatedRounds.ts'
import type { Ledger } from './createLedger.ts'

/**
 * Federated-learning jobs of the FederatedRounds contract: a sponsor escrows a bounty, participants
 * join (optionally staked), commit the CID of their update each round and attest the CID of the
 * aggregate; k agreeing attestations finalize a round (attesters of another CID are slashed); after the
 * last round the bounty is paid by accepted sample counts.
 */

/** The same limits as the contract (MAX_ROUNDS, MAX_PARTICIPANTS, MAX_ROUND_DURATION). */
export const MAX_FL_ROUNDS = 1000
export const MAX_FL_PARTICIPANTS = 100
export const MAX_FL_ROUND_DURATION_SECONDS = 30 * 86_400

export interface JobTerms {
  /** ModelRegistry version id of the model trained from. */
  baseVersionId: bigint
  /** CID of the task specification (data schema, architecture, hyper-parameters). */
  taskSpecCid: string
  rounds: number
  participantsWanted: number
  /** Aggregation strategy, e.g. "fedavg". */
  strategy: string
  /** Differential-privacy parameters (e.g. JSON); "" when off. */
  dpParams: string
  /** Tokens escrowed (token base units), paid out by accepted samples. */
  bounty: bigint
  /** Tokens each participant stakes on joining (token base units, may be 0n). */
  stake: bigint
  /** Agreeing attestations that finalize a round. */
  aggregatorsK: number
  /** Seconds each round takes commitments. */
  roundDuration: number
}

export interface Job extends JobTerms {
  jobId: bigint
  sponsor: Address
  /** Seconds since the epoch (chain time). */
  openedAt: number
  participantCount: number
  finalizedRounds: number
  paidOut: boolean
  /** What the payout shares: the bounty plus slashed stakes. */
  pool: bigint
  /** Sum of the accepted (not rejected) numExamples of every participant. */
  totalAccepted: bigint
  /** In the order they joined. */
  participants: Address[]
}

export interface Commitment {
  participant: Address
  updateCid: string
  numExamples: bigint
  committedAt: number
  rejected: boolean
}

export interface Round {
  jobId: bigint
  round: number
  /** Commitments are taken before it (chain time); 0 until the round started (the previous one finalized). */
  deadline: number
  /** 0 until finalized. */
  finalizedAt: number
  /** The agreed aggregate CID; undefined until finalized. */
  aggregateCid: string | undefined
  attestationCount: number
  commitments: Commitment[]
  /** Who attested, in order. */
  attesters: Address[]
}

/** The ledger's FederatedRounds contract, or a clear error when its contracts file predates it. */
export function federatedRoundsOf (ledger: Ledger, action: string): { address: Address, contract: GetContractReturnType<typeof federatedRoundsAbi, PublicClient> } {
  const address = ledger.addresses.federatedRounds
  const contract = ledger.contracts.federatedRounds
  if (address == null || contract == null) throw new FederatedRoundsNotDeployedError(action, ledger.chainId)
  return { address, contract }
}

export function assertJobId (jobId: bigint): void {
  if (typeof jobId !== 'bigint' || jobId < 1n) throw new InvalidInputError(`Invalid federated job id ${String(jobId)}: expected a bigint ≥ 1.`)
}

export function assertRound (round: number): void {
  if (!Number.isSafeInteger(round) || round < 1 || round > MAX_FL_ROUNDS) throw new InvalidInputError(`Invalid round ${round}: expected 1 to ${MAX_FL_ROUNDS}.`)
}

export function assertCid (cid: string, what: string): void {
  if (typeof cid !== 'string' || cid.length === 0) throw new InvalidInputError(`A federated job needs the CID of the ${what}.`)
}
