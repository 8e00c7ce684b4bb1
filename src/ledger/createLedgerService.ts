import path from 'node:path'
import { InvalidInputError } from '../errors.ts'
import { logger } from '../utils/logger.ts'
import { balanceOf } from './actions/balanceOf.ts'
import { fundFromFaucet, type FundFromFaucetReturnType } from './chain/fundFromFaucet.ts'
import { createRpcHandler, type RpcHandler } from './chain/createRpcHandler.ts'
import { parseContractsFile, readContractsFile, type ContractsFile } from './contractsFile.ts'
import { createLedger, type Ledger } from './createLedger.ts'
import { FaucetDisabledError } from './errors.ts'
import { startEmbeddedLedger } from './startEmbeddedLedger.ts'
import type { EmbeddedChain } from './chain/createEmbeddedChain.ts'
import type { Address, LocalAccount } from 'viem'

const log = logger('ledger')

/** A new node on the embedded chain starts with this much gas money for its own transactions. */
const MIN_OWN_ETH = 10n ** 18n

export interface LedgerServiceConfig {
  /** Where the embedded chain keeps its journal. */
  chainDir: string
  /** An external chain's JSON-RPC URL; absent = the embedded chain. */
  chainRpc?: string
  /** The contracts file of the external chain; absent = asked from the Mycelium node serving `chainRpc`. */
  contractsFile?: string
  account: LocalAccount
}

export interface LedgerInfo {
  chainId: number
  embedded: boolean
  rpcUrl?: string
  deployment: ContractsFile
  /** Nodes meet on the network of their ledger: chain id and registry address. */
  network: string
}

export interface LedgerService {
  ledger: Ledger
  chain: EmbeddedChain | undefined
  /** Standard JSON-RPC over the embedded chain (signed raw transactions only); absent on external chains. */
  rpc: RpcHandler | undefined
  info: () => LedgerInfo
  faucet: (to: Address, options?: { eth?: bigint, tokens?: bigint }) => Promise<FundFromFaucetReturnType>
  stop: () => Promise<void>
}

export function networkIdOf (deployment: ContractsFile): string {
  return `${deployment.chainId}-${deployment.contracts.registry.slice(2, 10).toLowerCase()}`
}

/** The ledger the node records everything on: its own embedded chain, or an external one by URL. */
export async function createLedgerService (config: LedgerServiceConfig, options: { signal?: AbortSignal } = {}): Promise<LedgerService> {
  if (config.chainRpc != null) return await externalLedger({ ...config, chainRpc: config.chainRpc }, options)
  const { chain, ledger, deployment } = await startEmbeddedLedger({ dir: config.chainDir, account: config.account }, options)
  const own = await balanceOf(ledger, { account: config.account.address })
  if (own.eth < MIN_OWN_ETH) await fundFromFaucet(chain, { to: config.account.address })
  log('embedded chain %d ready (registry %s)', ledger.chainId, deployment.contracts.registry)
  return {
    ledger,
    chain,
    rpc: createRpcHandler(chain),
    info: () => ({ chainId: ledger.chainId, embedded: true, deployment, network: networkIdOf(deployment) }),
    faucet: async (to, amounts = {}) => await fundFromFaucet(chain, { to, ...amounts }),
    stop: async () => { await chain.close() }
  }
}

async function externalLedger (config: LedgerServiceConfig & { chainRpc: string }, options: { signal?: AbortSignal }): Promise<LedgerService> {
  const deployment = config.contractsFile != null
    ? await readContractsFile(path.resolve(config.contractsFile)) ?? missingContracts(config.contractsFile)
    : await deploymentFromNode(config.chainRpc, options)
  const ledger = await createLedger({ rpcUrl: config.chainRpc, chainId: deployment.chainId, account: config.account, deployment }, options)
  log('external chain %d at %s', ledger.chainId, config.chainRpc)
  return {
    ledger,
    chain: undefined,
    rpc: undefined,
    info: () => ({ chainId: ledger.chainId, embedded: false, rpcUrl: config.chainRpc, deployment, network: networkIdOf(deployment) }),
    faucet: async to => await faucetOfNode(config.chainRpc, to, options),
    stop: async () => {}
  }
}

function missingContracts (file: string): never {
  throw new InvalidInputError(`No contracts file at ${file}.`, { hint: 'Deploy the contracts with `myc chain deploy --rpc URL`, which writes the file.' })
}

/** A Mycelium node serving `/rpc` also serves where its contracts are, at `/api/v0/chain`. */
async function deploymentFromNode (rpcUrl: string, options: { signal?: AbortSignal }): Promise<ContractsFile> {
  const url = new URL('/api/v0/chain', rpcUrl)
  try {
    const response = await fetch(url, { signal: options.signal ?? AbortSignal.timeout(10_000) })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const info = await response.json() as { deployment: unknown }
    return parseContractsFile(JSON.stringify(info.deployment), url.toString())
  } catch (err: any) {
    if (err instanceof InvalidInputError) throw err
    throw new InvalidInputError(`Cannot learn where the contracts are on ${rpcUrl}: ${err.message}.`, {
      hint: 'Pass --contracts FILE (written by `myc chain deploy --rpc URL`), or point --chain-rpc at a Mycelium node\'s /rpc.'
    })
  }
}

async function faucetOfNode (rpcUrl: string, to: Address, options: { signal?: AbortSignal }): Promise<FundFromFaucetReturnType> {
  const url = new URL('/api/v0/chain/faucet', rpcUrl)
  let response: Response
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: to }), signal: options.signal ?? AbortSignal.timeout(30_000) })
  } catch {
    throw new FaucetDisabledError()
  }
  if (!response.ok) throw new FaucetDisabledError()
  return await response.json() as FundFromFaucetReturnType
}
