import { InvalidInputError } from '../../errors.ts'
import { paymentChannelsAbi } from '../artifacts/PaymentChannels.ts'
import { MAX_CHANNEL_DURATION_SECONDS } from '../constants.ts'
import { NoAccountError } from '../errors.ts'
import { assertChannelId, paymentChannelsOf } from '../paymentChannels.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import { signPermit, withPermitLock } from './permit.ts'
import type { Hex } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface TopUpChannelParameters {
  channelId: Hex
  /** Tokens to add to the deposit (token base units; default 0). */
  amount?: bigint
  /**
   * Seconds to extend the expiry by (default 0), counted from the current expiry, or from now if it has
   * passed (a channel not yet reclaimed can be revived). The expiry never moves earlier.
   */
  duration?: number
}

export interface TopUpChannelReturnType extends WriteResult {
  /** Tokens added. */
  amount: bigint
  /** The channel's deposit now. */
  deposit: bigint
  /** The channel's expiry now (seconds since the epoch, chain time). */
  expiresAt: number
}

/** Adds tokens to a payment channel the ledger's account opened and/or extends it (one transaction, with a permit). */
export async function topUpChannel (ledger: Ledger, parameters: TopUpChannelParameters, options?: { signal?: AbortSignal }): Promise<TopUpChannelReturnType> {
  const action = `top up payment channel ${parameters.channelId}`
  if (ledger.account == null) throw new NoAccountError(action)
  assertChannelId(parameters.channelId)
  const { address } = paymentChannelsOf(ledger, action)
  const amount = parameters.amount ?? 0n
  const duration = parameters.duration ?? 0
  if (amount < 0n) throw new InvalidInputError(`Cannot top up a payment channel with a negative amount (${amount}).`)
  if (!Number.isSafeInteger(duration) || duration < 0 || duration > MAX_CHANNEL_DURATION_SECONDS) {
    throw new InvalidInputError(`Extend a payment channel by 0 to ${MAX_CHANNEL_DURATION_SECONDS} seconds (365 days), not ${duration}.`)
  }
  if (amount === 0n && duration === 0) throw new InvalidInputError('A top-up must add tokens, time, or both.')
  const send = async (): Promise<WriteResult> => {
    if (amount === 0n) {
      return await writeContract(ledger, { address, abi: paymentChannelsAbi, functionName: 'topUp', args: [parameters.channelId, 0n, BigInt(duration)], action }, options)
    }
    const permit = await signPermit(ledger, address, amount)
    return await writeContract(ledger, {
      address,
      abi: paymentChannelsAbi,
      functionName: 'topUpWithPermit',
      args: [parameters.channelId, amount, BigInt(duration), permit.deadline, permit.v, permit.r, permit.s],
      action
    }, options)
  }
  const result = amount === 0n ? await send() : await withPermitLock(ledger, send)
  const toppedUp = findEvent(result.receipt, paymentChannelsAbi, 'ChannelToppedUp')!.args
  return { ...result, amount: toppedUp.amount, deposit: toppedUp.deposit, expiresAt: Number(toppedUp.expiresAt) }
}
