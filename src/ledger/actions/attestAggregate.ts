import { federatedRoundsAbi } from '../artifacts/FederatedRounds.ts'
import { assertCid, assertJobId, assertRound, federatedRoundsOf } from '../federatedRounds.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import { parseEventLogs, type Address } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface AttestAggregateReturnType extends WriteResult {
  /** This attestation finalized the round (it was the k-th naming the same CID). */
  finalized: boolean
  /** Attesters of another CID slashed by the finalization, with the stake each lost. */
  slashed: Array<{ attester: Address, amount: bigint }>
}

/** Attests, as an aggregator, the CID of a round's aggregate; the k-th agreeing attestation finalizes the round. */
export async function attestAggregate (ledger: Ledger, parameters: { jobId: bigint, round: number, aggregateCid: string }, options?: { signal?: AbortSignal }): Promise<AttestAggregateReturnType> {
  assertJobId(parameters.jobId)
  assertRound(parameters.round)
  assertCid(parameters.aggregateCid, 'aggregate')
  const action = `attest the aggregate of round ${parameters.round} of federated job ${parameters.jobId}`
  const { address } = federatedRoundsOf(ledger, action)
  const result = await writeContract(ledger, {
    address,
    abi: federatedRoundsAbi,
    functionName: 'attest',
    args: [parameters.jobId, BigInt(parameters.round), parameters.aggregateCid],
    action
  }, options)
  const finalized = findEvent(result.receipt, federatedRoundsAbi, 'RoundFinalized') != null
  const slashed = parseEventLogs({ abi: federatedRoundsAbi, logs: result.receipt.logs, eventName: 'Slashed' })
    .map(log => ({ attester: log.args.attester, amount: log.args.amount }))
  return { ...result, finalized, slashed }
}
