import { modelRegistryAbi } from '../artifacts/ModelRegistry.ts'
import { writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'
import type { ApprovePublisherParameters } from './approvePublisher.ts'

export type RevokePublisherParameters = ApprovePublisherParameters

/** Withdraws a publisher's approval. Owner only. */
export async function revokePublisher (ledger: Ledger, parameters: RevokePublisherParameters, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  return await writeContract(ledger, {
    address: ledger.addresses.registry,
    abi: modelRegistryAbi,
    functionName: 'revokePublisher',
    args: [parameters.name, parameters.publisher],
    action: `revoke ${parameters.publisher} as a publisher of ${parameters.name}`
  }, options)
}
