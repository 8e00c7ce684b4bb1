import { zeroAddress } from 'viem'
import { assertJobId, federatedRoundsOf, type Job } from '../federatedRounds.ts'
import { readContract } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export type { Job } from '../federatedRounds.ts'

/** A federated job with its participants, or undefined if there is none with this id. */
export async function getJob (ledger: Ledger, parameters: { jobId: bigint }, options?: { signal?: AbortSignal }): Promise<Job | undefined> {
  options?.signal?.throwIfAborted()
  assertJobId(parameters.jobId)
  const { contract } = federatedRoundsOf(ledger, 'read a federated job')
  const [job, participants] = await readContract(ledger, `read federated job ${parameters.jobId}`, async () => await Promise.all([
    contract.read.jobOf([parameters.jobId]),
    contract.read.participantsOf([parameters.jobId])
  ]))
  if (job.sponsor === zeroAddress) return undefined
  const { terms } = job
  return {
    jobId: parameters.jobId,
    sponsor: job.sponsor,
    openedAt: Number(job.openedAt),
    participantCount: job.participantCount,
    finalizedRounds: job.finalizedRounds,
    paidOut: job.paidOut,
    pool: job.pool,
    totalAccepted: job.totalAccepted,
    participants: [...participants],
    baseVersionId: terms.baseVersionId,
    taskSpecCid: terms.taskSpecCid,
    rounds: terms.rounds,
    participantsWanted: terms.participantsWanted,
    strategy: terms.strategy,
    dpParams: terms.dpParams,
    bounty: terms.bounty,
    stake: terms.stake,
    aggregatorsK: terms.aggregatorsK,
    roundDuration: Number(terms.roundDuration)
  }
}
