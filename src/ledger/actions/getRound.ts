import { assertJobId, assertRound, federatedRoundsOf, type Round } from '../federatedRounds.ts'
import { readContract } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export type { Commitment, Round } from '../federatedRounds.ts'

/**
 * A round of a federated job: its deadline, commitments, attesters and (once finalized) the agreed
 * aggregate CID. A round that has not started has deadline 0 and nothing else.
 */
export async function getRound (ledger: Ledger, parameters: { jobId: bigint, round: number }, options?: { signal?: AbortSignal }): Promise<Round> {
  options?.signal?.throwIfAborted()
  assertJobId(parameters.jobId)
  assertRound(parameters.round)
  const { contract } = federatedRoundsOf(ledger, 'read a federated round')
  const args = [parameters.jobId, BigInt(parameters.round)] as const
  const [round, commitments, attesters] = await readContract(ledger, `read round ${parameters.round} of federated job ${parameters.jobId}`, async () => await Promise.all([
    contract.read.roundOf(args),
    contract.read.commitmentsOf(args),
    contract.read.attestersOf(args)
  ]))
  return {
    jobId: parameters.jobId,
    round: parameters.round,
    deadline: Number(round.deadline),
    finalizedAt: Number(round.finalizedAt),
    aggregateCid: round.finalizedAt !== 0n ? round.aggregateCid : undefined,
    attestationCount: round.attestationCount,
    commitments: commitments.map(c => ({ participant: c.participant, updateCid: c.updateCid, numExamples: c.numExamples, committedAt: Number(c.committedAt), rejected: c.rejected })),
    attesters: [...attesters]
  }
}
