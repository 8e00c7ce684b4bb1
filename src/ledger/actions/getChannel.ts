import { zeroAddress, type Hex } from 'viem'
import { assertChannelId, paymentChannelsOf, type Channel } from '../paymentChannels.ts'
import { readContract } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export type { Channel } from '../paymentChannels.ts'

/** A payment channel, or undefined if there is none with this id. */
export async function getChannel (ledger: Ledger, parameters: { channelId: Hex }, options?: { signal?: AbortSignal }): Promise<Channel | undefined> {
  options?.signal?.throwIfAborted()
  assertChannelId(parameters.channelId)
  const { contract } = paymentChannelsOf(ledger, 'read a payment channel')
  const channel = await readContract(ledger, `read payment channel ${parameters.channelId}`, async () => await contract.read.channelOf([parameters.channelId]))
  if (channel.client === zeroAddress) return undefined
  return {
    channelId: parameters.channelId,
    client: channel.client,
    provider: channel.provider,
    deposit: channel.deposit,
    claimed: channel.claimed,
    expiresAt: Number(channel.expiresAt),
    closed: channel.closed
  }
}
