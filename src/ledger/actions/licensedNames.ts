import { marketplaceAbi } from '../artifacts/Marketplace.ts'
import { modelRegistryAbi } from '../artifacts/ModelRegistry.ts'
import { readContract } from '../write.ts'
import type { Ledger } from '../createLedger.ts'
import type { Address } from 'viem'

/** Names an account ever bought or rented, from the marketplace's events (names come from the registry's). */
export async function licensedNames (ledger: Ledger, parameters: { account?: Address } = {}, options?: { signal?: AbortSignal }): Promise<string[]> {
  options?.signal?.throwIfAborted()
  const account = parameters.account ?? ledger.account?.address
  if (account == null) throw new TypeError('licensedNames needs an account.')
  const fromBlock = BigInt(ledger.deployment.deployBlock)
  const client = ledger.publicClient
  return await readContract(ledger, `read the licences of ${account}`, async () => {
    const [registered, purchased, rented] = await Promise.all([
      client.getContractEvents({ address: ledger.addresses.registry, abi: modelRegistryAbi, eventName: 'ModelRegistered', fromBlock }),
      client.getContractEvents({ address: ledger.addresses.marketplace, abi: marketplaceAbi, eventName: 'Purchased', args: { buyer: account }, fromBlock }),
      client.getContractEvents({ address: ledger.addresses.marketplace, abi: marketplaceAbi, eventName: 'Rented', args: { renter: account }, fromBlock })
    ])
    const names = new Map(registered.map(event => [event.args.nameHash!, event.args.name!]))
    const hashes = new Set([...purchased, ...rented].map(event => event.args.nameHash!))
    return [...hashes].map(hash => names.get(hash)).filter((name): name is string => name != null).sort()
  })
}
