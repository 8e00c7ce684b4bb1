import { isAddress, type Address } from 'viem'
import { InvalidInputError } from '../../errors.ts'
import { federatedRoundsAbi } from '../artifacts/FederatedRounds.ts'
import { assertJobId, assertRound, federatedRoundsOf } from '../federatedRounds.ts'
import { writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

/**
 * Rejects a participant's update of a round (an outlier or poisoned): it earns nothing. Sponsor only,
 * before the payout. In a full system the aggregators' report decides; here it is the sponsor's call.
 */
export async function rejectUpdate (ledger: Ledger, parameters: { jobId: bigint, round: number, participant: Address, reason: string }, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  assertJobId(parameters.jobId)
  assertRound(parameters.round)
  if (!isAddress(parameters.participant)) throw new InvalidInputError(`Invalid participant address "${parameters.participant}".`)
  const action = `reject the update of ${parameters.participant} in round ${parameters.round} of federated job ${parameters.jobId}`
  const { address } = federatedRoundsOf(ledger, action)
  return await writeContract(ledger, {
    address,
    abi: federatedRoundsAbi,
    functionName: 'rejectUpdate',
    args: [parameters.jobId, BigInt(parameters.round), parameters.participant, parameters.reason],
    action
  }, options)
}
