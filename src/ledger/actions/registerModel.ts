import { modelRegistryAbi } from '../artifacts/ModelRegistry.ts'
import { writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export interface RegisterModelParameters {
  name: string
}

/** Registers `name` to the ledger's account (the first registrant owns a name). */
export async function registerModel (ledger: Ledger, parameters: RegisterModelParameters, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  return await writeContract(ledger, {
    address: ledger.addresses.registry,
    abi: modelRegistryAbi,
    functionName: 'register',
    args: [parameters.name],
    action: `register ${parameters.name}`
  }, options)
}
