import type { JsonRpcError } from './edr.ts'

/** JSON-RPC 2.0 "Method not found": what every refused method answers. */
export const METHOD_NOT_FOUND = -32601
export const INVALID_REQUEST = -32600
export const INVALID_PARAMS = -32602
export const INTERNAL_ERROR = -32603
/** Generic server error (geth's code for a rejected transaction). */
export const SERVER_ERROR = -32000

/**
 * The methods the embedded chain serves, to the node itself and to anyone through `/rpc`: reads, filters,
 * and signed raw transactions. Nothing that signs with a key the chain holds (it holds none), nothing that
 * changes the chain other than a signed transaction (`evm_*`, `hardhat_*` would make the journal replay
 * to a different chain).
 */
const ALLOWED = new Set([
  'eth_chainId',
  'eth_blockNumber',
  'eth_call',
  'eth_estimateGas',
  'eth_createAccessList',
  'eth_gasPrice',
  'eth_maxPriorityFeePerGas',
  'eth_feeHistory',
  'eth_blobBaseFee',
  'eth_getBalance',
  'eth_getCode',
  'eth_getStorageAt',
  'eth_getProof',
  'eth_getTransactionCount',
  'eth_getBlockByNumber',
  'eth_getBlockByHash',
  'eth_getBlockTransactionCountByHash',
  'eth_getBlockTransactionCountByNumber',
  'eth_getTransactionByHash',
  'eth_getTransactionByBlockHashAndIndex',
  'eth_getTransactionByBlockNumberAndIndex',
  'eth_getTransactionReceipt',
  'eth_getLogs',
  'eth_newFilter',
  'eth_newBlockFilter',
  'eth_newPendingTransactionFilter',
  'eth_getFilterChanges',
  'eth_getFilterLogs',
  'eth_uninstallFilter',
  'eth_sendRawTransaction',
  'eth_accounts',
  'eth_syncing',
  'eth_mining',
  'eth_coinbase',
  'net_version',
  'net_listening',
  'net_peerCount',
  'web3_clientVersion',
  'web3_sha3'
])

const SIGNING = /^(eth_sendTransaction|eth_sign|eth_signTransaction|eth_signTypedData(_v\d)?|personal_.*|wallet_.*)$/
const CHAIN_CONTROL = /^(evm_|hardhat_|anvil_|debug_|txpool_|miner_|admin_)/

/** Why `method` is refused, as a JSON-RPC error; undefined when it is served. */
export function refuseMethod (method: string): JsonRpcError | undefined {
  if (ALLOWED.has(method)) return undefined
  if (SIGNING.test(method)) {
    return {
      code: METHOD_NOT_FOUND,
      message: `${method} is not available: this endpoint holds no keys and accepts only signed raw transactions. Sign locally and use eth_sendRawTransaction.`
    }
  }
  if (CHAIN_CONTROL.test(method)) {
    return {
      code: METHOD_NOT_FOUND,
      message: `${method} is not available: the chain changes only through signed transactions (eth_sendRawTransaction).`
    }
  }
  return { code: METHOD_NOT_FOUND, message: `The method ${method} does not exist or is not available.` }
}
