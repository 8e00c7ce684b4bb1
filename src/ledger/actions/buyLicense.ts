import { NotFoundError } from '../../errors.ts'
import { marketplaceAbi } from '../artifacts/Marketplace.ts'
import { NoAccountError } from '../errors.ts'
import { writeContract, type WriteResult } from '../write.ts'
import { getListing } from './getListing.ts'
import { signPermit, withPermitLock } from './permit.ts'
import type { Ledger } from '../createLedger.ts'

export interface BuyLicenseParameters {
  name: string
  /** Refuse to pay more than this (token base units); default: the price listed now. */
  maxPrice?: bigint
}

export interface BuyLicenseReturnType extends WriteResult {
  price: bigint
}

/** Buys a perpetual licence to a model, paying with the token (one transaction, with a permit). */
export async function buyLicense (ledger: Ledger, parameters: BuyLicenseParameters, options?: { signal?: AbortSignal }): Promise<BuyLicenseReturnType> {
  if (ledger.account == null) throw new NoAccountError(`buy ${parameters.name}`)
  const listing = await getListing(ledger, parameters, options)
  if (listing == null) throw new NotFoundError(`${parameters.name} is not listed for sale or rent.`, { code: 'NOT_LISTED' })
  const maxPrice = parameters.maxPrice ?? listing.price
  return await withPermitLock(ledger, async () => {
    const permit = await signPermit(ledger, ledger.addresses.marketplace, maxPrice)
    const result = await writeContract(ledger, {
      address: ledger.addresses.marketplace,
      abi: marketplaceAbi,
      functionName: 'buyWithPermit',
      args: [parameters.name, maxPrice, permit.deadline, permit.v, permit.r, permit.s],
      action: `buy ${parameters.name}`
    }, options)
    return { ...result, price: listing.price }
  })
}
