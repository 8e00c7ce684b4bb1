import { InvalidInputError } from '../../errors.ts'
import { federatedRoundsAbi } from '../artifacts/FederatedRounds.ts'
import { assertJobId, assertRound, federatedRoundsOf } from '../federatedRounds.ts'
import { writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export interface PostMetricParameters {
  jobId: bigint
  round: number
  /** E.g. "accuracy". */
  name: string
  /** The value × 10^6, rounded (0.9731 → 973_100n). */
  valueE6: bigint
}

/** Records an evaluation metric of a finalized round's aggregate, as the sponsor or a participant (validator). */
export async function postMetric (ledger: Ledger, parameters: PostMetricParameters, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  assertJobId(parameters.jobId)
  assertRound(parameters.round)
  if (typeof parameters.name !== 'string' || parameters.name.length === 0) throw new InvalidInputError('A metric needs a name.')
  const action = `post metric ${parameters.name} of round ${parameters.round} of federated job ${parameters.jobId}`
  const { address } = federatedRoundsOf(ledger, action)
  return await writeContract(ledger, {
    address,
    abi: federatedRoundsAbi,
    functionName: 'postMetric',
    args: [parameters.jobId, BigInt(parameters.round), parameters.name, parameters.valueE6],
    action
  }, options)
}
