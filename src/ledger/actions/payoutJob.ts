import { parseEventLogs, type Address } from 'viem'
import { federatedRoundsAbi } from '../artifacts/FederatedRounds.ts'
import { assertJobId, federatedRoundsOf } from '../federatedRounds.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export interface PayoutJobReturnType extends WriteResult {
  /** What was shared: the bounty plus slashed stakes. */
  pool: bigint
  /** Per participant, in join order: its share of the pool and the stake returned. */
  payments: Array<{ participant: Address, reward: bigint, stakeReturned: bigint }>
  /** Back to the sponsor: the rounding rest (or the whole pool if no update was accepted). */
  dust: bigint
}

/** Pays a finished federated job out (anyone may): the pool by accepted samples, the stakes back. */
export async function payoutJob (ledger: Ledger, parameters: { jobId: bigint }, options?: { signal?: AbortSignal }): Promise<PayoutJobReturnType> {
  assertJobId(parameters.jobId)
  const action = `pay out federated job ${parameters.jobId}`
  const { address } = federatedRoundsOf(ledger, action)
  const result = await writeContract(ledger, { address, abi: federatedRoundsAbi, functionName: 'payout', args: [parameters.jobId], action }, options)
  const payments = parseEventLogs({ abi: federatedRoundsAbi, logs: result.receipt.logs, eventName: 'ParticipantPaid' })
    .map(log => ({ participant: log.args.participant, reward: log.args.reward, stakeReturned: log.args.stakeReturned }))
  const paid = findEvent(result.receipt, federatedRoundsAbi, 'JobPaidOut')!.args
  return { ...result, pool: paid.pool, payments, dust: paid.dust }
}
