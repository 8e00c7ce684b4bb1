import { InvalidInputError } from '../../errors.ts'
import { federatedRoundsAbi } from '../artifacts/FederatedRounds.ts'
import { NoAccountError } from '../errors.ts'
import { assertCid, federatedRoundsOf, MAX_FL_PARTICIPANTS, MAX_FL_ROUND_DURATION_SECONDS, MAX_FL_ROUNDS, type JobTerms } from '../federatedRounds.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import { signPermit, withPermitLock } from './permit.ts'
import type { Ledger } from '../createLedger.ts'

export type { JobTerms } from '../federatedRounds.ts'

export interface OpenJobReturnType extends WriteResult {
  jobId: bigint
  /** Seconds since the epoch (chain time): round 1 takes commitments (and the job participants) until then. */
  firstDeadline: number
}

/** Opens a federated-learning job sponsored by the ledger's account, escrowing its bounty (one transaction, with a permit). */
export async function openJob (ledger: Ledger, parameters: JobTerms, options?: { signal?: AbortSignal }): Promise<OpenJobReturnType> {
  const action = 'open a federated job'
  if (ledger.account == null) throw new NoAccountError(action)
  const { address, contract } = federatedRoundsOf(ledger, action)
  const p = parameters
  const int = (value: number, min: number, max: number, what: string): void => {
    if (!Number.isSafeInteger(value) || value < min || value > max) throw new InvalidInputError(`${what} must be ${min} to ${max}, not ${value}.`)
  }
  int(p.rounds, 1, MAX_FL_ROUNDS, 'The number of rounds')
  int(p.participantsWanted, 1, MAX_FL_PARTICIPANTS, 'The participants wanted')
  int(p.aggregatorsK, 1, p.participantsWanted, 'The agreeing attestations needed (k)')
  int(p.roundDuration, 1, MAX_FL_ROUND_DURATION_SECONDS, 'The round duration (seconds)')
  assertCid(p.taskSpecCid, 'task specification')
  if (p.bounty <= 0n) throw new InvalidInputError('A federated job needs a bounty (token base units > 0).')
  if (p.stake < 0n || p.baseVersionId < 0n) throw new InvalidInputError('The stake and the base version id must be ≥ 0.')
  return await withPermitLock(ledger, async () => {
    const permit = await signPermit(ledger, address, p.bounty)
    const terms = {
      baseVersionId: p.baseVersionId,
      taskSpecCid: p.taskSpecCid,
      rounds: p.rounds,
      participantsWanted: p.participantsWanted,
      strategy: p.strategy,
      dpParams: p.dpParams,
      bounty: p.bounty,
      stake: p.stake,
      aggregatorsK: p.aggregatorsK,
      roundDuration: BigInt(p.roundDuration)
    }
    const result = await writeContract(ledger, {
      address,
      abi: federatedRoundsAbi,
      functionName: 'openJobWithPermit',
      args: [terms, permit.deadline, permit.v, permit.r, permit.s],
      action
    }, options)
    const jobId: bigint = findEvent(result.receipt, federatedRoundsAbi, 'JobOpened')!.args.jobId
    const round = await contract.read.roundOf([jobId, 1n])
    return { ...result, jobId, firstDeadline: Number(round.deadline) }
  })
}
