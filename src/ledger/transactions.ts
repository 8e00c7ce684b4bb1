import type { Address, Hex, LocalAccount, PublicClient, TransactionReceipt } from 'viem'
import { EMBEDDED_TRANSACTION_GAS, EXTERNAL_POLLING_INTERVAL_MS } from './constants.ts'
import { TransactionRevertedError } from './errors.ts'

/** How nodes say that a nonce was already used. */
const STALE_NONCE = /nonce too low|nonce has already been used|already known|replacement transaction underpriced/i

/** Fees are read at most this often; blocks of the embedded chain come faster than that matters. */
const FEE_CACHE_MS = 1_000
const ONE_GWEI = 1_000_000_000n

export interface TransactionRequest {
  to?: Address
  data: Hex
  value?: bigint
  /** Gas limit; estimated (plus a margin) when omitted. */
  gas?: bigint
}

/** Gas estimates are exact for the state they ran on; the state may change before the transaction runs. */
export function withGasMargin (estimate: bigint): bigint {
  return estimate + estimate / 4n + 10_000n
}

/**
 * Signs and sends the transactions of one account, any number at a time: nonces are assigned locally,
 * in order, and each signed transaction is handed to the transport before the next nonce is taken, so
 * concurrent writes of one account never collide and reach the chain in nonce order. After a refused
 * transaction the next nonce is read from the chain again.
 */
export class TransactionSender {
  readonly account: LocalAccount
  private readonly client: PublicClient
  private readonly chainId: number
  private readonly embedded: boolean
  private nonce: number | undefined
  private tail: Promise<unknown> = Promise.resolve()
  private fees: { at: number, value: Promise<{ maxFeePerGas: bigint, maxPriorityFeePerGas: bigint }> } | undefined

  constructor (params: { client: PublicClient, account: LocalAccount, chainId: number, embedded: boolean }) {
    this.client = params.client
    this.account = params.account
    this.chainId = params.chainId
    this.embedded = params.embedded
  }

  /** Sends the transaction and resolves with its receipt once it is mined; throws if it reverted. */
  async send (request: TransactionRequest, options?: { signal?: AbortSignal }): Promise<TransactionReceipt> {
    options?.signal?.throwIfAborted()
    const gas = request.gas ?? await this.gasLimit(request)
    const fees = await this.currentFees()
    options?.signal?.throwIfAborted()
    const submit = async (): Promise<{ hash: Promise<Hex> }> => await this.exclusive(async () => {
      this.nonce ??= await this.client.getTransactionCount({ address: this.account.address, blockTag: 'pending' })
      const nonce = this.nonce
      const raw = await this.account.signTransaction!({ chainId: this.chainId, type: 'eip1559', nonce, to: request.to, data: request.data, value: request.value, gas, ...fees })
      this.nonce = nonce + 1
      // Started before the lock is released, so transactions reach the chain in nonce order.
      const hash = this.client.request({ method: 'eth_sendRawTransaction', params: [raw] })
      hash.catch(() => { this.nonce = undefined })
      return { hash }
    })
    let hash: Hex
    try {
      hash = await (await submit()).hash
    } catch (err) {
      // The key was used elsewhere too (another process, a wallet): read the nonce again and retry once.
      if (!STALE_NONCE.test(String((err as any)?.details ?? (err as any)?.message))) throw err
      hash = await (await submit()).hash
    }
    // The embedded chain answers a transaction once it is mined; other chains are polled.
    const receipt = this.embedded
      ? await this.client.getTransactionReceipt({ hash })
      : await this.client.waitForTransactionReceipt({ hash, pollingInterval: EXTERNAL_POLLING_INTERVAL_MS })
    if (receipt.status === 'reverted') throw new TransactionRevertedError(hash, receipt.blockNumber)
    return receipt
  }

  /**
   * On an external chain, the estimate plus a margin. On the embedded chain a fixed, generous limit (gas is
   * free there and blocks are large) after one simulation that surfaces a revert with its reason: one
   * execution instead of the several of an estimate, which searches for the limit.
   */
  private async gasLimit (request: TransactionRequest): Promise<bigint> {
    const call = { account: this.account.address, to: request.to, data: request.data, value: request.value }
    if (!this.embedded) return withGasMargin(await this.client.estimateGas(call))
    // A contract creation has no callee to simulate: estimate it (deployments are rare).
    if (request.to == null) return withGasMargin(await this.client.estimateGas(call))
    await this.client.call(call)
    return EMBEDDED_TRANSACTION_GAS
  }

  private async currentFees (): Promise<{ maxFeePerGas: bigint, maxPriorityFeePerGas: bigint }> {
    if (this.fees == null || Date.now() - this.fees.at > FEE_CACHE_MS) {
      const value = (async () => {
        const block = await this.client.getBlock({ blockTag: 'latest' })
        const baseFee = block.baseFeePerGas ?? 0n
        // The embedded chain has no competition for block space: no tip; leave room for the base fee to rise.
        const maxPriorityFeePerGas = this.embedded ? 0n : await this.client.estimateMaxPriorityFeePerGas()
        return { maxPriorityFeePerGas, maxFeePerGas: baseFee * 2n + maxPriorityFeePerGas + (this.embedded ? ONE_GWEI : 0n) }
      })()
      this.fees = { at: Date.now(), value }
      value.catch(() => { this.fees = undefined })
    }
    return await this.fees.value
  }

  private async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn)
    this.tail = run.catch(() => {})
    return await run
  }
}
