import { readContract } from '../write.ts'
import type { Address } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface Listing {
  name: string
  seller: Address
  /** Token base units; 0n when not for sale. */
  price: bigint
  /** Token base units per period; 0n when not for rent. */
  rentPrice: bigint
  /** Seconds. */
  rentPeriod: number
}

/** The active listing of a model, or undefined (never listed, unlisted, or the name changed hands). */
export async function getListing (ledger: Ledger, parameters: { name: string }, options?: { signal?: AbortSignal }): Promise<Listing | undefined> {
  options?.signal?.throwIfAborted()
  const [listing, active] = await readContract(ledger, `read the listing of ${parameters.name}`, async () => await ledger.contracts.marketplace.read.listingOf([parameters.name]))
  if (!active) return undefined
  return { name: parameters.name, seller: listing.seller, price: listing.price, rentPrice: listing.rentPrice, rentPeriod: Number(listing.rentPeriod) }
}
