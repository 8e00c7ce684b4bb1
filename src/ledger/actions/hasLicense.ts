import { readContract } from '../write.ts'
import type { Address } from 'viem'
import type { Ledger } from '../createLedger.ts'

/**
 * Whether `account` may use the model now: it owns or publishes it, bought a licence, or rents it until
 * after the latest block's time. The check a node makes before serving a listed model to a peer.
 */
export async function hasLicense (ledger: Ledger, parameters: { name: string, account: Address }, options?: { signal?: AbortSignal }): Promise<boolean> {
  options?.signal?.throwIfAborted()
  return await readContract(ledger, `check the licence of ${parameters.account} on ${parameters.name}`, async () => await ledger.contracts.marketplace.read.hasLicense([parameters.name, parameters.account]))
}
