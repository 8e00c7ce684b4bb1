import { addressOfKey, signedBy } from '../../identity/secp256k1.ts'
import { assertVoucher, checkVoucher, hashVoucher, isCanonicalVoucherSignature, voucherDomain, type Channel, type SignedVoucher, type VoucherCheck, type VoucherDomain } from '../paymentChannels.ts'
import { readContract } from '../write.ts'
import { getChannel } from './getChannel.ts'
import { isAddressEqual, type Address } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface VerifyVoucherParameters extends SignedVoucher {
  /** The account that will claim (default: the ledger's account, if it has one). */
  provider?: Address
  /** The voucher must be worth at least this much: the last accepted voucher's amount plus the price of the call. */
  minAmount?: bigint
  /** Seconds the channel must still run before its expiry (default VOUCHER_MIN_TIME_LEFT_SECONDS). */
  minTimeLeft?: number
  /**
   * The secp256k1 public key of whoever presents the voucher (a paying peer's key), when known: if it
   * is the channel's client, the signature is checked against it instead of recovering the signer, at
   * a fraction of the cost. The result is the same either way (anything else is still recovered).
   */
  clientKey?: Uint8Array
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
  const signer = parameters.clientKey != null ? signedByClient(domain, parameters, channel, parameters.clientKey) : undefined
  return await checkVoucher(domain, {
    ...parameters,
    channel,
    // Chain time, not the wall clock: they differ on a dev chain whose clock was moved.
    now: Number(block.timestamp),
    ...(provider != null ? { provider } : {}),
    ...(signer != null ? { signer } : {})
  })
}

/**
 * The channel's client, if `clientKey` is its key and signed the voucher by the contract's rules (what
 * recoverVoucherSigner would then return); undefined when that does not hold, and the signer is to be
 * recovered as usual.
 */
function signedByClient (domain: VoucherDomain, voucher: SignedVoucher, channel: Channel | undefined, clientKey: Uint8Array): Address | undefined {
  try {
    if (channel == null || !isCanonicalVoucherSignature(voucher.signature)) return undefined
    const client = addressOfKey(clientKey)
    if (!isAddressEqual(client, channel.client)) return undefined
    assertVoucher(voucher)
    return signedBy(hashVoucher(domain, voucher), voucher.signature, clientKey) ? channel.client : undefined
  } catch {
    // Not a key, or a voucher the checks below refuse anyway: recovered (or refused) there, as without a key.
    return undefined
  }
}
