import { InvalidInputError } from '../../errors.ts'
import { marketplaceAbi } from '../artifacts/Marketplace.ts'
import { writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export interface ListModelParameters {
  name: string
  /** Price of a perpetual licence in token base units; omitted or 0: not for sale. */
  price?: bigint
  /** Price of one rental period in token base units; omitted or 0: not for rent. */
  rentPrice?: bigint
  /** Length of a rental period in seconds (required with a rental price). */
  rentPeriod?: number
}

/** Offers licences to a model (replacing its listing, if any). Owner of the name only. */
export async function listModel (ledger: Ledger, parameters: ListModelParameters, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  const price = parameters.price ?? 0n
  const rentPrice = parameters.rentPrice ?? 0n
  const rentPeriod = parameters.rentPeriod ?? 0
  if (price < 0n || rentPrice < 0n) throw new InvalidInputError('Prices cannot be negative.')
  if (price === 0n && rentPrice === 0n) throw new InvalidInputError('A listing needs a price, a rental price, or both.')
  if ((rentPrice > 0n) !== (rentPeriod > 0)) throw new InvalidInputError('A rental price needs a rental period (and a period needs a price).', { hint: 'Give both, e.g. --rent 5 --period 30d.' })
  if (!Number.isSafeInteger(rentPeriod) || rentPeriod < 0) throw new InvalidInputError(`Invalid rental period ${rentPeriod}: whole seconds expected.`)
  return await writeContract(ledger, {
    address: ledger.addresses.marketplace,
    abi: marketplaceAbi,
    functionName: 'list',
    args: [parameters.name, price, rentPrice, BigInt(rentPeriod)],
    action: `list ${parameters.name}`
  }, options)
}
