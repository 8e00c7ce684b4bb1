import { bytesToBigInt, hashTypedData, hexToBytes, isAddressEqual, isHex, size, type Address, type GetContractReturnType, type Hex, type PublicClient } from 'viem'
import { recoverDigestSigner, SECP256K1_ORDER } from '../identity/secp256k1.ts'
import { InvalidInputError } from '../errors.ts'
import { VOUCHER_MIN_TIME_LEFT_SECONDS } from './constants.ts'
import { PaymentChannelsNotDeployedError } from './errors.ts'
import type { paymentChannelsAbi } from './artifacts/PaymentChannels.ts'
import type { Ledger } from './createLedger.ts'

/**
 * Vouchers of the PaymentChannels contract: EIP-712 typed data a client signs off chain, one per paid
 * call, saying how much it owes the provider in total on a channel. The domain is the contract's (its
 * name and version, the chain id and its address), so a voucher is worthless on another channel, another
 * deployment or another chain.
 */
export const PAYMENT_CHANNELS_DOMAIN = { name: 'Mycelium PaymentChannels', version: '1' } as const

export const VOUCHER_TYPES = {
  Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint256' }
  ]
} as const

export interface Voucher {
  channelId: Hex
  /** Everything the client owes on the channel so far, in token base units (not the price of one call). */
  cumulativeAmount: bigint
}

export interface SignedVoucher extends Voucher {
  signature: Hex
}

/** Where vouchers are valid: the chain and the PaymentChannels contract. */
export interface VoucherDomain {
  chainId: number
  verifyingContract: Address
}

/** A payment channel as stored by the contract. */
export interface Channel {
  channelId: Hex
  client: Address
  provider: Address
  /** Everything the client deposited, in token base units (what was paid out included). */
  deposit: bigint
  /** Paid out to the provider so far: the amount of the last voucher claimed. */
  claimed: bigint
  /** Seconds since the epoch (chain time): claims are possible before it, reclaiming from it on. */
  expiresAt: number
  /** The client reclaimed the rest: nothing more can happen to the channel. */
  closed: boolean
}

const MAX_UINT256 = 2n ** 256n - 1n
/** secp256k1's order / 2: the contract (OpenZeppelin's ECDSA) refuses signatures with a larger `s`. */
const SECP256K1_HALF_ORDER = SECP256K1_ORDER / 2n

/** The ledger's PaymentChannels contract, or a clear error when its contracts file predates it. */
export function paymentChannelsOf (ledger: Ledger, action: string): { address: Address, contract: GetContractReturnType<typeof paymentChannelsAbi, PublicClient> } {
  const address = ledger.addresses.paymentChannels
  const contract = ledger.contracts.paymentChannels
  if (address == null || contract == null) throw new PaymentChannelsNotDeployedError(action, ledger.chainId)
  return { address, contract }
}

/** The voucher domain of a ledger's PaymentChannels contract (no chain access). */
export function voucherDomain (ledger: Ledger): VoucherDomain {
  return { chainId: ledger.chainId, verifyingContract: paymentChannelsOf(ledger, 'sign or check vouchers').address }
}

/** Refuses a channel id that is not 32 bytes of hex. */
export function assertChannelId (channelId: Hex): void {
  if (!isHex(channelId, { strict: true }) || size(channelId) !== 32) {
    throw new InvalidInputError(`Invalid payment channel id "${String(channelId)}": expected 32 bytes of hex.`)
  }
}

/** Refuses what the contract could never accept: a channel id that is not 32 bytes, an amount outside uint256. */
export function assertVoucher (voucher: Voucher): void {
  assertChannelId(voucher.channelId)
  if (typeof voucher.cumulativeAmount !== 'bigint' || voucher.cumulativeAmount < 0n || voucher.cumulativeAmount > MAX_UINT256) {
    throw new InvalidInputError(`Invalid voucher amount ${String(voucher.cumulativeAmount)}: expected token base units (a bigint ≥ 0).`)
  }
}

export function voucherTypedData (domain: VoucherDomain, voucher: Voucher) {
  return {
    domain: { ...PAYMENT_CHANNELS_DOMAIN, chainId: domain.chainId, verifyingContract: domain.verifyingContract },
    types: VOUCHER_TYPES,
    primaryType: 'Voucher' as const,
    message: { channelId: voucher.channelId, cumulativeAmount: voucher.cumulativeAmount }
  }
}

/** The EIP-712 digest of a voucher: what the client signs (the contract's `voucherDigest`). */
export function hashVoucher (domain: VoucherDomain, voucher: Voucher): Hex {
  return hashTypedData(voucherTypedData(domain, voucher))
}

/** The contract's rules for a voucher's signature: 65 bytes, `v` 27 or 28, `s` neither 0 nor above half the order. */
export function isCanonicalVoucherSignature (signature: Hex): boolean {
  if (typeof signature !== 'string' || !isHex(signature, { strict: true }) || size(signature) !== 65) return false
  const bytes = hexToBytes(signature)
  const s = bytesToBigInt(bytes.subarray(32, 64))
  return (bytes[64] === 27 || bytes[64] === 28) && s !== 0n && s <= SECP256K1_HALF_ORDER
}

/**
 * Who signed a voucher, by the contract's rules: a 65-byte signature with `v` 27 or 28 and a low `s`
 * (anything else is refused on chain, so it is refused here, even where viem would recover it).
 * Undefined if the signature is malformed.
 */
export async function recoverVoucherSigner (domain: VoucherDomain, signed: SignedVoucher): Promise<Address | undefined> {
  const { signature } = signed
  if (!isCanonicalVoucherSignature(signature)) return undefined
  try {
    return recoverDigestSigner(hashVoucher(domain, signed), signature)
  } catch {
    return undefined
  }
}

/** Why a provider should not accept a voucher. */
export type VoucherRejection =
  /** No channel with this id on this contract. */
  | 'unknown-channel'
  /** The channel pays someone else. */
  | 'wrong-provider'
  /** The client reclaimed the deposit. */
  | 'closed'
  /** Past the expiry: the voucher can no longer be claimed. */
  | 'expired'
  /** Less than `minTimeLeft` before the expiry: too late to be sure a claim is mined in time. */
  | 'expiring'
  /** Not signed (canonically) by the channel's client. */
  | 'bad-signature'
  /** Worth more than the deposit: the contract refuses to pay it. */
  | 'over-deposit'
  /** Worth no more than the channel already paid out: claiming it pays nothing. */
  | 'already-claimed'
  /** Worth less than `minAmount`. */
  | 'insufficient'

export interface VoucherCheck {
  valid: boolean
  /** Why it is not valid (the first reason found); undefined when valid. */
  reason: VoucherRejection | undefined
  /** Who signed it; undefined if the signature is malformed. */
  signer: Address | undefined
  /** What the client can still spend on the channel after this voucher: deposit − cumulativeAmount (0 when over). */
  remaining: bigint
  /** What claiming this voucher now would pay: cumulativeAmount − claimed (0 when nothing or over the deposit). */
  claimable: bigint
  channel: Channel | undefined
}

export interface CheckVoucherParameters extends SignedVoucher {
  /** The channel as read from the chain (undefined: there is none). */
  channel: Channel | undefined
  /** Chain time, seconds since the epoch. */
  now: number
  /** The account that will claim: the channel must pay it. Unchecked when absent. */
  provider?: Address
  /**
   * The voucher must be worth at least this much: a provider passes the amount of the last voucher it
   * accepted on the channel plus the price of the call.
   */
  minAmount?: bigint
  /** Seconds the channel must still run (default VOUCHER_MIN_TIME_LEFT_SECONDS); 0 to only refuse expired channels. */
  minTimeLeft?: number
  /**
   * Who signed the voucher, when the caller has already established it by the same rules as
   * `recoverVoucherSigner` (e.g. checked against the client's known key); recovered when absent.
   */
  signer?: Address
}

/**
 * Checks a voucher against a channel without touching the chain: what a provider does before serving a
 * call (with a channel it read recently). Everything the contract's `claim` checks, plus the provider,
 * a safety margin before the expiry and a minimum amount.
 */
export async function checkVoucher (domain: VoucherDomain, parameters: CheckVoucherParameters): Promise<VoucherCheck> {
  assertVoucher(parameters)
  const { channel, cumulativeAmount } = parameters
  const signer = parameters.signer ?? await recoverVoucherSigner(domain, parameters)
  const result = (reason: VoucherRejection | undefined): VoucherCheck => {
    const inDeposit = channel != null && cumulativeAmount <= channel.deposit
    return {
      valid: reason == null,
      reason,
      signer,
      remaining: inDeposit ? channel.deposit - cumulativeAmount : 0n,
      claimable: inDeposit && cumulativeAmount > channel.claimed ? cumulativeAmount - channel.claimed : 0n,
      channel
    }
  }
  if (channel == null) return result('unknown-channel')
  if (parameters.provider != null && !isAddressEqual(channel.provider, parameters.provider)) return result('wrong-provider')
  if (channel.closed) return result('closed')
  if (parameters.now >= channel.expiresAt) return result('expired')
  if (channel.expiresAt - parameters.now < (parameters.minTimeLeft ?? VOUCHER_MIN_TIME_LEFT_SECONDS)) return result('expiring')
  if (signer == null || !isAddressEqual(signer, channel.client)) return result('bad-signature')
  if (cumulativeAmount > channel.deposit) return result('over-deposit')
  if (cumulativeAmount <= channel.claimed) return result('already-claimed')
  if (parameters.minAmount != null && cumulativeAmount < parameters.minAmount) return result('insufficient')
  return result(undefined)
}
