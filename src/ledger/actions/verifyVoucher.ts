import { checkVoucher, voucherDomain, type SignedVoucher, type VoucherCheck } from '../paymentChannels.ts'
import { readContract } from '../write.ts'
import { getChannel } from './getChannel.ts'
import type { Address } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface VerifyVoucherParameters extends SignedVoucher {
  /** The account that will claim (default: the ledger's account, if it has one). */
  provider?: Address
  /** The voucher must be worth at least this much: the last accepted voucher's amount plus the price of the call. */
  minAmount?: bigint
  /** Seconds the channel must still run before its expiry (default VOUCHER_MIN_TIME_LEFT_SECONDS). */
  minTimeLeft?: number
}

export type VerifyVoucherReturnType = VoucherCheck

/**
 * What a provider checks before serving a call paid by a voucher: the channel exists, pays this provider,
 * is open and not about to expire; the voucher is signed by the channel's client, within the deposit and
 * worth more than what was claimed (and at least `minAmount`). Reads the channel and the chain time;
 * `checkVoucher` does the same with a channel already at hand.
 */
export async function verifyVoucher (ledger: Ledger, parameters: VerifyVoucherParameters, options?: { signal?: AbortSignal }): Promise<VerifyVoucherReturnType> {
  const domain = voucherDomain(ledger)
  const [channel, block] = await Promise.all([
    getChannel(ledger, parameters, options),
    readContract(ledger, 'read the chain time', async () => await ledger.publicClient.getBlock({ blockTag: 'latest' }))
  ])
  const provider = parameters.provider ?? ledger.account?.address
  return await checkVoucher(domain, {
    ...parameters,
    channel,
    // Chain time, not the wall clock: they differ on a dev chain whose clock was moved.
    now: Number(block.timestamp),
    ...(provider != null ? { provider } : {})
  })
}
