import { readContract } from '../write.ts'
import type { Address } from 'viem'
import type { Ledger } from '../createLedger.ts'

export interface Balances {
  /** Wei, for gas. */
  eth: bigint
  /** Token base units held. */
  tokens: bigint
  /** Token base units the marketplace owes the account (sales, royalties), paid out by `withdraw`. */
  withdrawable: bigint
}

/** What an account (default: the ledger's) holds. */
export async function balanceOf (ledger: Ledger, parameters: { account?: Address } = {}, options?: { signal?: AbortSignal }): Promise<Balances> {
  options?.signal?.throwIfAborted()
  const account = parameters.account ?? ledger.account?.address
  if (account == null) throw new TypeError('balanceOf needs an account.')
  const [eth, tokens, withdrawable] = await readContract(ledger, `read the balances of ${account}`, async () => await Promise.all([
    ledger.publicClient.getBalance({ address: account }),
    ledger.contracts.token.read.balanceOf([account]),
    ledger.contracts.marketplace.read.balanceOf([account])
  ]))
  return { eth, tokens, withdrawable }
}
