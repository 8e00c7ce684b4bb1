import { paymentChannelsAbi } from '../artifacts/PaymentChannels.ts'
import { assertChannelId, paymentChannelsOf } from '../paymentChannels.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import type { Hex } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface ReclaimChannelReturnType extends WriteResult {
  /** The unclaimed rest of the deposit, returned to the client (may be 0). */
  amount: bigint
}

/** Takes back the unclaimed rest of an expired payment channel the ledger's account opened, and closes it. */
export async function reclaimChannel (ledger: Ledger, parameters: { channelId: Hex }, options?: { signal?: AbortSignal }): Promise<ReclaimChannelReturnType> {
  assertChannelId(parameters.channelId)
  const action = `reclaim payment channel ${parameters.channelId}`
  const { address } = paymentChannelsOf(ledger, action)
  const result = await writeContract(ledger, {
    address,
    abi: paymentChannelsAbi,
    functionName: 'reclaim',
    args: [parameters.channelId],
    action
  }, options)
  return { ...result, amount: findEvent(result.receipt, paymentChannelsAbi, 'ChannelReclaimed')!.args.amount }
}
