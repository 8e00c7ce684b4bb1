import { numberToHex, pad } from 'viem'
import { federatedRoundsAbi } from '../artifacts/FederatedRounds.ts'
import { assertJobId, federatedRoundsOf } from '../federatedRounds.ts'
import { readDecodedLogs, type ModelEvent } from './readModelEvents.ts'
import type { Ledger } from '../createLedger.ts'

/**
 * Every event of federated jobs, oldest first: opened, joined, each update committed or rejected,
 * each attestation, finalization and slashing, validator metrics, and the payout. Every
 * FederatedRounds event indexes the job id first, so one `eth_getLogs` filter per job finds them.
 */
export async function readJobEvents (ledger: Ledger, parameters: { jobIds: readonly bigint[], fromBlock?: bigint, toBlock?: bigint }, options?: { signal?: AbortSignal }): Promise<ModelEvent[]> {
  if (parameters.jobIds.length === 0) return []
  parameters.jobIds.forEach(assertJobId)
  const { address } = federatedRoundsOf(ledger, 'read the events of federated jobs')
  return await readDecodedLogs(ledger, {
    filters: [{ address, topics: [null, parameters.jobIds.map(id => pad(numberToHex(id), { size: 32 }))] }],
    sources: { [address.toLowerCase()]: { contract: 'federated', abi: federatedRoundsAbi } },
    fromBlock: parameters.fromBlock,
    toBlock: parameters.toBlock,
    what: `the events of federated job${parameters.jobIds.length > 1 ? 's' : ''} ${parameters.jobIds.join(', ')}`
  }, options)
}
