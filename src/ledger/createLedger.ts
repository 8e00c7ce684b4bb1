import path from 'node:path'
import {
  createPublicClient,
  custom,
  defineChain,
  getContract,
  http,
  type Chain,
  type GetContractReturnType,
  type LocalAccount,
  type PublicClient,
  type Transport
} from 'viem'
import { federatedRoundsAbi } from './artifacts/FederatedRounds.ts'
import { marketplaceAbi } from './artifacts/Marketplace.ts'
import { modelRegistryAbi } from './artifacts/ModelRegistry.ts'
import { mycTokenAbi } from './artifacts/MycToken.ts'
import { paymentChannelsAbi } from './artifacts/PaymentChannels.ts'
import { usageAnchorAbi } from './artifacts/UsageAnchor.ts'
import { CONTRACTS_FILE, RPC_PROBE_TIMEOUT_MS } from './constants.ts'
import { readContractsFile, type ContractAddresses, type ContractsFile } from './contractsFile.ts'
import { ChainIdMismatchError, ChainUnreachableError, ContractsNotDeployedError, LedgerError, NoAccountError, toLedgerError } from './errors.ts'
import { TransactionSender } from './transactions.ts'
import type { EmbeddedChain } from './chain/createEmbeddedChain.ts'

export interface LedgerContracts {
  registry: GetContractReturnType<typeof modelRegistryAbi, PublicClient>
  token: GetContractReturnType<typeof mycTokenAbi, PublicClient>
  marketplace: GetContractReturnType<typeof marketplaceAbi, PublicClient>
  anchor: GetContractReturnType<typeof usageAnchorAbi, PublicClient>
  /** Absent when the contracts file predates PaymentChannels (see `paymentChannelsOf`). */
  paymentChannels: GetContractReturnType<typeof paymentChannelsAbi, PublicClient> | undefined
  /** Absent when the contracts file predates FederatedRounds (see `federatedRoundsOf`). */
  federatedRounds: GetContractReturnType<typeof federatedRoundsAbi, PublicClient> | undefined
}

/** What the node uses to talk to the ledger: clients, contracts, and (optionally) its account. */
export interface Ledger {
  chainId: number
  chain: Chain
  /** The in-process chain, when the ledger is the embedded one. */
  embedded: EmbeddedChain | undefined
  /** URL of an external chain's JSON-RPC endpoint. */
  rpcUrl: string | undefined
  publicClient: PublicClient
  /** The account this client signs with; reads work without one. */
  account: LocalAccount | undefined
  /** Where the contracts are (and from which block their history starts). */
  deployment: ContractsFile
  addresses: ContractAddresses
  /** Typed read-only contract instances (`ledger.contracts.registry.read.ownerOf([name])`). */
  contracts: LedgerContracts
  /** Sends this ledger's transactions; throws {@link NoAccountError} without an account. */
  sender: (action: string) => TransactionSender
}

export type LedgerChain =
  | { embedded: EmbeddedChain }
  | { rpcUrl: string, chainId: number }
  | { transport: Transport, chainId: number }

export type CreateLedgerParameters = LedgerChain & {
  account?: LocalAccount
  /** Where the contracts are; on the embedded chain, read from `contracts.json` in its directory by default. */
  deployment?: ContractsFile
}

export function viemChain (chainId: number, rpcUrl?: string): Chain {
  return defineChain({
    id: chainId,
    name: rpcUrl == null ? 'Mycelium embedded chain' : `Mycelium ledger (chain ${chainId})`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: rpcUrl != null ? [rpcUrl] : [] } }
  })
}

/** A viem transport to the embedded chain: in process, no retries (its answers are final). */
export function embeddedTransport (chain: EmbeddedChain): Transport {
  return custom(chain, { retryCount: 0 })
}

/**
 * Connects to the ledger: the embedded chain, or an external chain by URL (its chain id is checked, and
 * an unreachable endpoint is reported as such), and checks that the contracts are deployed there.
 */
export async function createLedger (parameters: CreateLedgerParameters, options?: { signal?: AbortSignal }): Promise<Ledger> {
  const { chainId, transport, embedded, rpcUrl } = resolveChain(parameters)
  const chain = viemChain(chainId, rpcUrl)
  // The embedded chain answers in microseconds: no caching of the block number (viem caches it for 4 s).
  const publicClient = createPublicClient({ chain, transport, ...(embedded != null ? { cacheTime: 0, pollingInterval: 50 } : {}) }) as PublicClient

  if (embedded == null) await assertChainId(publicClient, chainId, rpcUrl ?? 'the given transport', options?.signal)
  const deployment = parameters.deployment ?? await readEmbeddedDeployment(embedded)
  if (deployment.chainId !== chainId) {
    throw new LedgerError(`The contracts file is for chain ${deployment.chainId}, but the ledger is chain ${chainId}.`, {
      code: 'CHAIN_ID_MISMATCH',
      status: 409,
      hint: 'Use the contracts file written when the contracts were deployed on this chain.'
    })
  }
  await assertDeployed(publicClient, deployment, rpcUrl, options?.signal)

  const { contracts: addresses } = deployment
  const contracts: LedgerContracts = {
    registry: getContract({ address: addresses.registry, abi: modelRegistryAbi, client: publicClient }),
    token: getContract({ address: addresses.token, abi: mycTokenAbi, client: publicClient }),
    marketplace: getContract({ address: addresses.marketplace, abi: marketplaceAbi, client: publicClient }),
    anchor: getContract({ address: addresses.anchor, abi: usageAnchorAbi, client: publicClient }),
    paymentChannels: addresses.paymentChannels != null ? getContract({ address: addresses.paymentChannels, abi: paymentChannelsAbi, client: publicClient }) : undefined,
    federatedRounds: addresses.federatedRounds != null ? getContract({ address: addresses.federatedRounds, abi: federatedRoundsAbi, client: publicClient }) : undefined
  }
  const account = parameters.account
  const sender = account != null ? new TransactionSender({ client: publicClient, account, chainId, embedded: embedded != null }) : undefined
  return {
    chainId,
    chain,
    embedded,
    rpcUrl,
    publicClient,
    account,
    deployment,
    addresses,
    contracts,
    sender: action => {
      if (sender == null) throw new NoAccountError(action)
      return sender
    }
  }
}

function resolveChain (parameters: LedgerChain): { chainId: number, transport: Transport, embedded?: EmbeddedChain, rpcUrl?: string } {
  if ('embedded' in parameters) return { chainId: parameters.embedded.chainId, transport: embeddedTransport(parameters.embedded), embedded: parameters.embedded }
  if ('rpcUrl' in parameters) {
    return { chainId: parameters.chainId, transport: http(parameters.rpcUrl, { timeout: RPC_PROBE_TIMEOUT_MS, retryCount: 1 }), rpcUrl: parameters.rpcUrl }
  }
  return { chainId: parameters.chainId, transport: parameters.transport }
}

async function assertChainId (client: PublicClient, expected: number, url: string, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted()
  let actual: number
  try {
    actual = await client.getChainId()
  } catch (err) {
    throw new ChainUnreachableError(url, err)
  }
  if (actual !== expected) throw new ChainIdMismatchError(url, expected, actual)
}

async function readEmbeddedDeployment (embedded: EmbeddedChain | undefined): Promise<ContractsFile> {
  const file = embedded?.dir != null ? await readContractsFile(path.join(embedded.dir, CONTRACTS_FILE)) : undefined
  if (file == null) {
    throw new LedgerError('No contracts file: the contracts of this chain are unknown.', {
      code: 'CONTRACTS_NOT_DEPLOYED',
      status: 503,
      hint: embedded != null ? 'Deploy them first (ensureEmbeddedContracts).' : 'Pass the contracts file written by `myc chain deploy`.'
    })
  }
  return file
}

async function assertDeployed (client: PublicClient, deployment: ContractsFile, rpcUrl: string | undefined, signal: AbortSignal | undefined): Promise<void> {
  const names: Record<keyof ContractAddresses, string> = { registry: 'ModelRegistry', token: 'MycToken', marketplace: 'Marketplace', anchor: 'UsageAnchor', paymentChannels: 'PaymentChannels', federatedRounds: 'FederatedRounds' }
  for (const key of Object.keys(names) as Array<keyof ContractAddresses>) {
    signal?.throwIfAborted()
    const address = deployment.contracts[key]
    // Optional contracts missing from an older file are reported when used, not here.
    if (address == null) continue
    let code: string | undefined
    try {
      code = await client.getCode({ address })
    } catch (err) {
      throw toLedgerError(err, { action: 'read the contracts', ...(rpcUrl != null ? { rpcUrl } : {}) })
    }
    if (code == null || code === '0x') throw new ContractsNotDeployedError(names[key], address, deployment.chainId)
  }
}
