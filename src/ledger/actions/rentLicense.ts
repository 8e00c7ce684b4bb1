import { InvalidInputError, NotFoundError } from '../../errors.ts'
import { marketplaceAbi } from '../artifacts/Marketplace.ts'
import { NoAccountError } from '../errors.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import { getListing } from './getListing.ts'
import { signPermit, withPermitLock } from './permit.ts'
import type { Ledger } from '../createLedger.ts'

export interface RentLicenseParameters {
  name: string
  /** Rental periods to pay for (default 1); an unexpired rental is extended. */
  periods?: number
  /** Refuse to pay more per period than this (token base units); default: the rental price listed now. */
  maxPricePerPeriod?: bigint
}

export interface RentLicenseReturnType extends WriteResult {
  amount: bigint
  /** Seconds since the epoch (chain time) when the rental ends. */
  expiresAt: number
}

/** Rents a model, or extends the rental, paying with the token (one transaction, with a permit). */
export async function rentLicense (ledger: Ledger, parameters: RentLicenseParameters, options?: { signal?: AbortSignal }): Promise<RentLicenseReturnType> {
  if (ledger.account == null) throw new NoAccountError(`rent ${parameters.name}`)
  const periods = parameters.periods ?? 1
  if (!Number.isSafeInteger(periods) || periods < 1) throw new InvalidInputError(`Rent for a whole number of periods (1 or more), not ${periods}.`)
  const listing = await getListing(ledger, parameters, options)
  if (listing == null) throw new NotFoundError(`${parameters.name} is not listed for sale or rent.`, { code: 'NOT_LISTED' })
  const maxPricePerPeriod = parameters.maxPricePerPeriod ?? listing.rentPrice
  return await withPermitLock(ledger, async () => {
    const permit = await signPermit(ledger, ledger.addresses.marketplace, maxPricePerPeriod * BigInt(periods))
    const result = await writeContract(ledger, {
      address: ledger.addresses.marketplace,
      abi: marketplaceAbi,
      functionName: 'rentWithPermit',
      args: [parameters.name, BigInt(periods), maxPricePerPeriod, permit.deadline, permit.v, permit.r, permit.s],
      action: `rent ${parameters.name}`
    }, options)
    const rented = findEvent(result.receipt, marketplaceAbi, 'Rented')!.args
    return { ...result, amount: rented.amount, expiresAt: Number(rented.expiresAt) }
  })
}
