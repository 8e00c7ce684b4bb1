import { readContract } from '../write.ts'
import type { Hex } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface VerifyAnchoredReceiptParameters {
  anchorId: bigint
  receiptHash: Hex
  proof: readonly Hex[]
}

/** Asks the UsageAnchor contract whether the receipt is in the batch anchored as `anchorId`. */
export async function verifyAnchoredReceipt (ledger: Ledger, parameters: VerifyAnchoredReceiptParameters, options?: { signal?: AbortSignal }): Promise<boolean> {
  options?.signal?.throwIfAborted()
  return await readContract(ledger, `verify receipt ${parameters.receiptHash}`, async () =>
    await ledger.contracts.anchor.read.verifyReceipt([parameters.anchorId, parameters.receiptHash, parameters.proof]))
}
