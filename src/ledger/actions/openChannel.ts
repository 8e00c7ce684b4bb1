import { isAddress, type Address, type Hex } from 'viem'
import { InvalidInputError } from '../../errors.ts'
import { paymentChannelsAbi } from '../artifacts/PaymentChannels.ts'
import { DEFAULT_CHANNEL_DURATION_SECONDS, MAX_CHANNEL_DURATION_SECONDS } from '../constants.ts'
import { NoAccountError } from '../errors.ts'
import { paymentChannelsOf } from '../paymentChannels.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import { signPermit, withPermitLock } from './permit.ts'
import type { Ledger } from '../createLedger.ts'

export interface OpenChannelParameters {
  /** Who gets paid: the account of the node serving the calls. */
  provider: Address
  /** Tokens escrowed (token base units): the most the provider can ever claim, unless topped up. */
  deposit: bigint
  /** Seconds until the channel expires (default one day, at most 365 days). */
  duration?: number
}

export interface OpenChannelReturnType extends WriteResult {
  channelId: Hex
  deposit: bigint
  /** Seconds since the epoch (chain time): the provider claims before it, the client reclaims from it on. */
  expiresAt: number
}

/** Opens a payment channel from the ledger's account to a provider, escrowing a deposit (one transaction, with a permit). */
export async function openChannel (ledger: Ledger, parameters: OpenChannelParameters, options?: { signal?: AbortSignal }): Promise<OpenChannelReturnType> {
  const action = `open a payment channel to ${parameters.provider}`
  if (ledger.account == null) throw new NoAccountError(action)
  const { address } = paymentChannelsOf(ledger, action)
  const duration = parameters.duration ?? DEFAULT_CHANNEL_DURATION_SECONDS
  if (!isAddress(parameters.provider)) throw new InvalidInputError(`Invalid provider address "${parameters.provider}".`)
  if (parameters.deposit <= 0n) throw new InvalidInputError('A payment channel needs a deposit (token base units > 0).')
  if (!Number.isSafeInteger(duration) || duration < 1 || duration > MAX_CHANNEL_DURATION_SECONDS) {
    throw new InvalidInputError(`A payment channel runs 1 to ${MAX_CHANNEL_DURATION_SECONDS} seconds (365 days), not ${duration}.`)
  }
  return await withPermitLock(ledger, async () => {
    const permit = await signPermit(ledger, address, parameters.deposit)
    const result = await writeContract(ledger, {
      address,
      abi: paymentChannelsAbi,
      functionName: 'openWithPermit',
      args: [parameters.provider, parameters.deposit, BigInt(duration), permit.deadline, permit.v, permit.r, permit.s],
      action
    }, options)
    const opened = findEvent(result.receipt, paymentChannelsAbi, 'ChannelOpened')!.args
    return { ...result, channelId: opened.channelId, deposit: opened.deposit, expiresAt: Number(opened.expiresAt) }
  })
}
