import { modelRegistryAbi } from '../artifacts/ModelRegistry.ts'
import { writeContract, type WriteResult } from '../write.ts'
import type { Address } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface ApprovePublisherParameters {
  name: string
  publisher: Address
}

/** Lets another account add versions of the name. Owner only. */
export async function approvePublisher (ledger: Ledger, parameters: ApprovePublisherParameters, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  return await writeContract(ledger, {
    address: ledger.addresses.registry,
    abi: modelRegistryAbi,
    functionName: 'approvePublisher',
    args: [parameters.name, parameters.publisher],
    action: `approve ${parameters.publisher} as a publisher of ${parameters.name}`
  }, options)
}
