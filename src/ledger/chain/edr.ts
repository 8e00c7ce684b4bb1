import { ContractDecoder, EdrContext, L1_CHAIN_TYPE, l1ProviderFactory, MineOrdering, PRAGUE, type Provider } from '@nomicfoundation/edr'
import { hexToBytes, type Address } from 'viem'
import { EMBEDDED_BLOCK_GAS_LIMIT, EMBEDDED_CALL_GAS_LIMIT, EMBEDDED_COINBASE } from '../constants.ts'

/** A JSON-RPC 2.0 request as it travels; `id` may be absent (a notification) or null. */
export interface JsonRpcRequest {
  jsonrpc?: '2.0'
  id?: number | string | null
  method: string
  params?: unknown[]
}

export interface JsonRpcError {
  code: number
  message: string
  data?: unknown
}

export type JsonRpcResponse =
  | { jsonrpc: '2.0', id: number | string | null, result: unknown }
  | { jsonrpc: '2.0', id: number | string | null, error: JsonRpcError }

export interface EdrChainConfig {
  chainId: number
  /** Seconds since the epoch; fixed at a chain's creation so that replays rebuild the same genesis. */
  genesisTime: number
  genesisAccounts: Array<{ address: Address, balance: bigint }>
}

// "Creates a new EdrContext instance. Should only be called once!" — one per process, shared.
let context: Promise<EdrContext> | undefined

async function edrContext (): Promise<EdrContext> {
  context ??= (async () => {
    const created = new EdrContext()
    await created.registerProviderFactory(L1_CHAIN_TYPE, l1ProviderFactory())
    return created
  })()
  return await context
}

/**
 * An EDR provider configured as the embedded chain: L1, no unlocked accounts, automine off (the
 * embedded chain mines itself, so that it can record every block), FIFO mempool (so a replay that
 * submits the same transactions in the same order mines the same block), blocks may share a timestamp
 * (so the block time can follow the wall clock however many blocks a second are mined).
 */
export async function createEdrProvider (config: EdrChainConfig): Promise<Provider> {
  const edr = await edrContext()
  return await edr.createProvider(L1_CHAIN_TYPE, {
    allowBlocksWithSameTimestamp: true,
    allowUnlimitedContractSize: false,
    // A reverted eth_call is an error with the revert data, as on every node (not a result holding it).
    bailOnCallFailure: true,
    bailOnTransactionFailure: false,
    chainId: BigInt(config.chainId),
    coinbase: hexToBytes(EMBEDDED_COINBASE),
    defaultTransactionGasLimit: EMBEDDED_CALL_GAS_LIMIT,
    genesisState: config.genesisAccounts.map(account => ({ address: hexToBytes(account.address), balance: account.balance })),
    // Contracts are compiled for Cancun, which Prague includes.
    hardfork: PRAGUE,
    minGasPrice: 0n,
    mining: { autoMine: false, memPool: { order: MineOrdering.Fifo }, blockGasLimit: EMBEDDED_BLOCK_GAS_LIMIT },
    network: { genesisBlockGasLimit: EMBEDDED_BLOCK_GAS_LIMIT, genesisBlockTime: BigInt(config.genesisTime) },
    networkId: BigInt(config.chainId),
    observability: {},
    ownedAccounts: [],
    precompileOverrides: []
  }, {
    enable: false,
    decodeConsoleLogInputsCallback: () => [],
    printLineCallback: () => {}
  }, {
    subscriptionCallback: () => {}
  }, new ContractDecoder())
}

/** Sends one request to EDR and returns its JSON-RPC response (never throws for a JSON-RPC error). */
export async function edrRequest (provider: Provider, request: JsonRpcRequest): Promise<JsonRpcResponse> {
  const body = { jsonrpc: '2.0', id: request.id ?? null, method: request.method, params: request.params ?? [] }
  const response = await provider.handleRequest(JSON.stringify(body))
  const data = typeof response.data === 'string' ? JSON.parse(response.data) : response.data
  const id = request.id ?? null
  if (data?.error != null) return { jsonrpc: '2.0', id, error: data.error as JsonRpcError }
  return { jsonrpc: '2.0', id, result: data?.result ?? null }
}
