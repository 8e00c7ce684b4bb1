import { marketplaceAbi } from '../artifacts/Marketplace.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export interface WithdrawReturnType extends WriteResult {
  amount: bigint
}

/** Pays the ledger account's marketplace balance (sales and royalties) out in tokens. */
export async function withdraw (ledger: Ledger, options?: { signal?: AbortSignal }): Promise<WithdrawReturnType> {
  const result = await writeContract(ledger, {
    address: ledger.addresses.marketplace,
    abi: marketplaceAbi,
    functionName: 'withdraw',
    args: [],
    action: 'withdraw'
  }, options)
  return { ...result, amount: findEvent(result.receipt, marketplaceAbi, 'Withdrawn')!.args.amount }
}
