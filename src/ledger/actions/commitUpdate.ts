import { InvalidInputError } from '../../errors.ts'
import { federatedRoundsAbi } from '../artifacts/FederatedRounds.ts'
import { assertCid, assertJobId, assertRound, federatedRoundsOf } from '../federatedRounds.ts'
import { writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export interface CommitUpdateParameters {
  jobId: bigint
  round: number
  /** CID of the update file (safetensors). */
  updateCid: string
  /** Samples the update was trained on: the participant's weight in the payout. */
  numExamples: bigint
}

/** Commits the CID of the ledger's account's update for a round, before the round's deadline. */
export async function commitUpdate (ledger: Ledger, parameters: CommitUpdateParameters, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  assertJobId(parameters.jobId)
  assertRound(parameters.round)
  assertCid(parameters.updateCid, 'update')
  if (parameters.numExamples <= 0n) throw new InvalidInputError('An update must be trained on at least one example.')
  const action = `commit an update to round ${parameters.round} of federated job ${parameters.jobId}`
  const { address } = federatedRoundsOf(ledger, action)
  return await writeContract(ledger, {
    address,
    abi: federatedRoundsAbi,
    functionName: 'commitUpdate',
    args: [parameters.jobId, BigInt(parameters.round), parameters.updateCid, parameters.numExamples],
    action
  }, options)
}
