import { createEmbeddedChain, type EmbeddedChain, type EmbeddedChainOptions } from './chain/createEmbeddedChain.ts'
import { createLedger, type Ledger } from './createLedger.ts'
import { ensureEmbeddedContracts } from './deployContracts.ts'
import type { LocalAccount } from 'viem'
import type { ContractsFile } from './contractsFile.ts'

export interface StartEmbeddedLedgerParameters extends Omit<EmbeddedChainOptions, 'signal'> {
  /** The account the ledger client signs with (the node's identity). */
  account?: LocalAccount
  /** Royalty rate of a first deployment, in basis points. */
  royaltyBps?: number
}

export interface EmbeddedLedger {
  chain: EmbeddedChain
  ledger: Ledger
  deployment: ContractsFile
}

/**
 * The embedded default in one call: opens (replays) the chain in `dir`, deploys the contracts on first
 * start (reusing `contracts.json` afterwards) and connects a ledger client with `account`.
 */
export async function startEmbeddedLedger (parameters: StartEmbeddedLedgerParameters = {}, options?: { signal?: AbortSignal }): Promise<EmbeddedLedger> {
  const { account, royaltyBps, ...chainOptions } = parameters
  const chain = await createEmbeddedChain({ ...chainOptions, ...(options?.signal != null ? { signal: options.signal } : {}) })
  try {
    const deployment = await ensureEmbeddedContracts(chain, { ...options, ...(royaltyBps != null ? { royaltyBps } : {}) })
    const ledger = await createLedger({ embedded: chain, deployment, ...(account != null ? { account } : {}) }, options)
    return { chain, ledger, deployment }
  } catch (err) {
    await chain.close()
    throw err
  }
}
