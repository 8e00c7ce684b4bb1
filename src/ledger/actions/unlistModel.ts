import { marketplaceAbi } from '../artifacts/Marketplace.ts'
import { writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

/** Withdraws a model's listing; licences already sold stay valid. Owner of the name only. */
export async function unlistModel (ledger: Ledger, parameters: { name: string }, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  return await writeContract(ledger, {
    address: ledger.addresses.marketplace,
    abi: marketplaceAbi,
    functionName: 'unlist',
    args: [parameters.name],
    action: `unlist ${parameters.name}`
  }, options)
}
