import { MAX_RPC_BATCH } from '../constants.ts'
import { INVALID_REQUEST } from './methods.ts'
import type { EmbeddedChain } from './createEmbeddedChain.ts'
import type { JsonRpcResponse } from './edr.ts'

export type RpcHandler = (body: unknown) => Promise<JsonRpcResponse | JsonRpcResponse[]>

function invalid (id: unknown, message: string): JsonRpcResponse {
  return { jsonrpc: '2.0', id: typeof id === 'string' || typeof id === 'number' ? id : null, error: { code: INVALID_REQUEST, message } }
}

/**
 * The public face of the embedded chain (mounted at POST /rpc): standard Ethereum JSON-RPC 2.0, single
 * requests or batches (at most {@link MAX_RPC_BATCH}), serving reads and `eth_sendRawTransaction` only.
 * Anything that would sign with a key on the server (`eth_sendTransaction`, `eth_sign*`, `personal_*`)
 * or change the chain outside a signed transaction (`evm_*`, `hardhat_*`, …) answers a JSON-RPC error
 * (-32601) saying so. Takes the parsed JSON body; never throws for bad input.
 */
export function createRpcHandler (chain: EmbeddedChain): RpcHandler {
  const one = async (request: unknown): Promise<JsonRpcResponse> => {
    if (request == null || typeof request !== 'object' || Array.isArray(request)) return invalid(null, 'A JSON-RPC request is an object.')
    const { id, method, params, jsonrpc } = request as Record<string, unknown>
    if (jsonrpc !== '2.0') return invalid(id, 'Only JSON-RPC 2.0 is served ("jsonrpc": "2.0").')
    if (typeof method !== 'string' || method === '') return invalid(id, 'A JSON-RPC request needs a method.')
    if (params != null && !Array.isArray(params)) return invalid(id, 'params must be an array.')
    if (id != null && typeof id !== 'string' && typeof id !== 'number') return invalid(null, 'id must be a string, a number or null.')
    return await chain.handle({ id: id ?? null, method, params: params ?? [] })
  }
  return async body => {
    if (!Array.isArray(body)) return await one(body)
    if (body.length === 0) return invalid(null, 'An empty batch.')
    if (body.length > MAX_RPC_BATCH) return invalid(null, `A batch holds at most ${MAX_RPC_BATCH} requests, not ${body.length}.`)
    return await Promise.all(body.map(one))
  }
}
