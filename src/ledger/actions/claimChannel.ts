import { paymentChannelsAbi } from '../artifacts/PaymentChannels.ts'
import { assertVoucher, paymentChannelsOf, type SignedVoucher } from '../paymentChannels.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export interface ClaimChannelReturnType extends WriteResult {
  /** Paid by this claim: the voucher's amount minus what the channel had paid out before. */
  amount: bigint
  /** The channel's total paid out now (the voucher's amount). */
  claimed: bigint
}

/** Claims the latest voucher of a payment channel the ledger's account provides (before the channel's expiry). */
export async function claimChannel (ledger: Ledger, parameters: SignedVoucher, options?: { signal?: AbortSignal }): Promise<ClaimChannelReturnType> {
  assertVoucher(parameters)
  const action = `claim payment channel ${parameters.channelId}`
  const { address } = paymentChannelsOf(ledger, action)
  const result = await writeContract(ledger, {
    address,
    abi: paymentChannelsAbi,
    functionName: 'claim',
    args: [parameters.channelId, parameters.cumulativeAmount, parameters.signature],
    action
  }, options)
  const claimed = findEvent(result.receipt, paymentChannelsAbi, 'ChannelClaimed')!.args
  return { ...result, amount: claimed.amount, claimed: claimed.claimed }
}
