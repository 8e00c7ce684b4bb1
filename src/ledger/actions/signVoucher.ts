import { assertVoucher, voucherDomain, voucherTypedData, type Voucher } from '../paymentChannels.ts'
import type { Hex, LocalAccount } from 'viem'
import type { Ledger } from '../createLedger.ts'

/**
 * Signs a voucher of a payment channel with the client's account: EIP-712 with the contract's domain,
 * entirely off chain. `cumulativeAmount` is the total owed on the channel so far (the previous voucher's
 * amount plus the price of this call), never more than the deposit or the provider cannot claim it.
 */
export async function signVoucher (account: LocalAccount, ledger: Ledger, parameters: Voucher): Promise<Hex> {
  assertVoucher(parameters)
  return await account.signTypedData!(voucherTypedData(voucherDomain(ledger), parameters))
}
