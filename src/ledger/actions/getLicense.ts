import { readContract } from '../write.ts'
import type { Address } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface License {
  /** Whether the account may use the model now (owner, publisher, buyer or current renter). */
  licensed: boolean
  purchased: boolean
  /** End of the account's rental (seconds since the epoch, chain time), if it ever rented. */
  rentalExpiresAt: number | undefined
}

/** The licence an account (default: the ledger's) holds on a model. */
export async function getLicense (ledger: Ledger, parameters: { name: string, account?: Address }, options?: { signal?: AbortSignal }): Promise<License> {
  options?.signal?.throwIfAborted()
  const account = parameters.account ?? ledger.account?.address
  if (account == null) throw new TypeError('getLicense needs an account.')
  const marketplace = ledger.contracts.marketplace
  const [licensed, [purchased, expiresAt]] = await readContract(ledger, `read the licence of ${account} on ${parameters.name}`, async () => await Promise.all([
    marketplace.read.hasLicense([parameters.name, account]),
    marketplace.read.licenseOf([parameters.name, account])
  ]))
  return { licensed, purchased, rentalExpiresAt: expiresAt === 0n ? undefined : Number(expiresAt) }
}
