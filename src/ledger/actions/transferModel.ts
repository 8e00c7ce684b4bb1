import { modelRegistryAbi } from '../artifacts/ModelRegistry.ts'
import { writeContract, type WriteResult } from '../write.ts'
import type { Address } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface TransferModelParameters {
  name: string
  to: Address
}

/** Gives the name to another account. Owner only. */
export async function transferModel (ledger: Ledger, parameters: TransferModelParameters, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  return await writeContract(ledger, {
    address: ledger.addresses.registry,
    abi: modelRegistryAbi,
    functionName: 'transferModel',
    args: [parameters.name, parameters.to],
    action: `transfer ${parameters.name} to ${parameters.to}`
  }, options)
}
