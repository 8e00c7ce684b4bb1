import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { bytesToHex, hexToBigInt, parseTransaction, type Hex } from 'viem'
import { logger } from '../../utils/logger.ts'
import { DEFAULT_CHAIN_ID, JOURNAL_FILE, JOURNAL_FORMAT, MAX_BLOCK_TRANSACTIONS } from '../constants.ts'
import { createEdrProvider, edrRequest, type JsonRpcRequest, type JsonRpcResponse } from './edr.ts'
import { ChainClosedError, ChainConfigMismatchError, ChainRpcError, ChainStoppedError, ReplayError } from './errors.ts'
import { genesisAccountsFromSeed, genesisAllocation, type GenesisAccounts } from './genesis.ts'
import { Journal, type JournaledBlock, type JournalMeta } from './journal.ts'
import { INTERNAL_ERROR, INVALID_PARAMS, refuseMethod, SERVER_ERROR } from './methods.ts'
import type { Provider } from '@nomicfoundation/edr'

const log = logger('ledger:chain')

/** How long a transaction whose nonce is ahead of its sender's may wait for the gap to fill. */
const DEFAULT_STUCK_TIMEOUT_MS = 5_000

export interface EmbeddedChainOptions {
  /** Directory of the chain's journal (created if missing). Omitted: a throwaway chain in memory. */
  dir?: string
  /** Chain id of a new chain (default {@link DEFAULT_CHAIN_ID}); an existing chain must have this id. */
  chainId?: number
  /** Seed of the genesis keys of a new chain (32 bytes hex; default random); an existing chain must match. */
  seed?: Hex
  /** How long a transaction may wait for a nonce gap to fill before it is dropped (default 5 s). */
  stuckTimeoutMs?: number
  /** Progress of the replay of the journal on start (it takes about a millisecond a transaction). */
  onReplayProgress?: (progress: { blocks: number, totalBlocks: number }) => void
  signal?: AbortSignal
}

export interface ChainStartup {
  /** Blocks and transactions replayed from the journal. */
  blocks: number
  transactions: number
  /** Time from opening the journal to a chain ready to serve, in ms. */
  milliseconds: number
  /** True when the chain was created by this start. */
  created: boolean
}

export interface MinedBlock {
  number: number
  hash: Hex
  timestamp: number
  transactions: Hex[]
}

/**
 * An in-process EVM dev chain (Hardhat's EDR) that persists itself: an EIP-1193 provider usable with
 * viem's `custom(chain)`, serving reads and signed raw transactions only.
 */
export interface EmbeddedChain {
  readonly kind: 'embedded'
  readonly chainId: number
  /** The journal's directory; undefined for an in-memory chain. */
  readonly dir: string | undefined
  /** Genesis accounts: the faucet and the deployer of the contracts. */
  readonly accounts: GenesisAccounts
  readonly startup: ChainStartup
  /** EIP-1193. A transaction sent with `eth_sendRawTransaction` is mined and journaled when this resolves. */
  request: (args: { method: string, params?: unknown }) => Promise<any>
  /** One JSON-RPC request in, its response out (errors included, never thrown). */
  handle: (request: JsonRpcRequest) => Promise<JsonRpcResponse>
  /**
   * Test only: moves the chain's clock `seconds` forward and mines an empty block at the new time (journaled
   * like any block, so a restart keeps it). Not reachable through `request` or `/rpc`.
   */
  increaseTime: (seconds: number) => Promise<MinedBlock>
  /** Resolves once every accepted transaction is mined and journaled; then closes the journal. */
  close: () => Promise<void>
}

interface Submission {
  raw: Hex
  hash?: Hex
  /** When it was found waiting on a nonce gap (ms), if it was. */
  stuckSince?: number
  resolve: (hash: Hex) => void
  reject: (err: Error) => void
}

interface RpcBlock {
  number: Hex
  hash: Hex
  timestamp: Hex
  baseFeePerGas?: Hex
  gasUsed: Hex
  gasLimit: Hex
  transactions: Hex[]
}

/**
 * Opens (or creates) the embedded chain in `dir`: replays its journal so that every block, receipt and
 * log is what it was, then serves. See the module doc of {@link Miner} for how blocks are made.
 */
export async function createEmbeddedChain (options: EmbeddedChainOptions = {}): Promise<EmbeddedChain> {
  const started = performance.now()
  // Private: the journal holds the seed of the faucet's and the deployer's keys.
  if (options.dir != null) fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 })
  const journal = new Journal(options.dir != null ? path.join(options.dir, JOURNAL_FILE) : ':memory:')
  try {
    const { meta, created } = openMeta(journal, options)
    const accounts = genesisAccountsFromSeed(meta.seed)
    const provider = await createEdrProvider({ chainId: meta.chainId, genesisTime: meta.genesisTime, genesisAccounts: genesisAllocation(accounts) })
    const replayed = await replay(provider, journal, options)
    const startup: ChainStartup = { blocks: replayed.blocks, transactions: replayed.transactions, milliseconds: performance.now() - started, created }
    log('chain %d ready in %d ms (%d blocks, %d transactions replayed)', meta.chainId, Math.round(startup.milliseconds), startup.blocks, startup.transactions)
    const miner = new Miner(provider, journal, replayed.lastTimestamp ?? meta.genesisTime, options.stuckTimeoutMs ?? DEFAULT_STUCK_TIMEOUT_MS)

    const handle = async (request: JsonRpcRequest): Promise<JsonRpcResponse> => {
      const id = request.id ?? null
      const refusal = refuseMethod(request.method)
      if (refusal != null) return { jsonrpc: '2.0', id, error: refusal }
      if (request.method === 'eth_sendRawTransaction') {
        const raw = request.params?.[0]
        if (typeof raw !== 'string' || !/^0x([0-9a-fA-F]{2})+$/.test(raw)) {
          return { jsonrpc: '2.0', id, error: { code: INVALID_PARAMS, message: 'eth_sendRawTransaction takes one parameter: the signed transaction as 0x-prefixed hex.' } }
        }
        try {
          return { jsonrpc: '2.0', id, result: await miner.submit(raw as Hex) }
        } catch (err: any) {
          return { jsonrpc: '2.0', id, error: { code: err instanceof ChainRpcError ? err.code : SERVER_ERROR, message: err.shortMessage ?? err.message, ...(err.data != null ? { data: err.data } : {}) } }
        }
      }
      if (miner.closed) return { jsonrpc: '2.0', id, error: { code: INTERNAL_ERROR, message: new ChainClosedError().message } }
      return await edrRequest(provider, request)
    }

    return {
      kind: 'embedded',
      chainId: meta.chainId,
      dir: options.dir,
      accounts,
      startup,
      handle,
      async request (args) {
        const params = args.params == null ? [] : Array.isArray(args.params) ? args.params : [args.params]
        const response = await handle({ method: args.method, params })
        if ('error' in response) throw new ChainRpcError(response.error)
        return response.result
      },
      increaseTime: async seconds => {
        if (!Number.isInteger(seconds) || seconds < 0) throw new RangeError(`increaseTime takes whole seconds ≥ 0, got ${seconds}`)
        return await miner.mineEmpty(seconds)
      },
      close: async () => {
        await miner.close()
        journal.close()
      }
    }
  } catch (err) {
    journal.close()
    throw err
  }
}

function openMeta (journal: Journal, options: EmbeddedChainOptions): { meta: JournalMeta, created: boolean } {
  const existing = journal.readMeta()
  if (existing == null) {
    const seed = options.seed ?? bytesToHex(randomBytes(32))
    if (!/^0x[0-9a-fA-F]{64}$/.test(seed)) throw new RangeError('The seed of a chain is 32 bytes as 0x-prefixed hex.')
    const meta: JournalMeta = { format: JOURNAL_FORMAT, chainId: options.chainId ?? DEFAULT_CHAIN_ID, genesisTime: Math.floor(Date.now() / 1000), seed }
    journal.writeMeta(meta)
    return { meta, created: true }
  }
  if (existing.format !== JOURNAL_FORMAT) {
    throw new ChainConfigMismatchError(`The chain journal ${journal.file} has format ${existing.format}; this version reads format ${JOURNAL_FORMAT}.`, 'Start from a fresh chain directory, or run the version of Mycelium that wrote it.')
  }
  if (options.chainId != null && options.chainId !== existing.chainId) {
    throw new ChainConfigMismatchError(
      `The chain in ${journal.file} has chain id ${existing.chainId}, but chain id ${options.chainId} was asked for.`,
      'Use the chain id the chain was created with, or another chain directory for a new chain.'
    )
  }
  if (options.seed != null && options.seed.toLowerCase() !== existing.seed.toLowerCase()) {
    throw new ChainConfigMismatchError(`The chain in ${journal.file} was created from another genesis seed.`, 'Omit the seed to open the existing chain, or use another chain directory.')
  }
  return { meta: existing, created: false }
}

async function call<T> (provider: Provider, method: string, params: unknown[] = []): Promise<T> {
  const response = await edrRequest(provider, { method, params })
  if ('error' in response) throw new ChainRpcError(response.error)
  return response.result as T
}

/** Requests per EDR batch during a replay: one native call for many blocks instead of one per request. */
const REPLAY_BATCH = 512

/**
 * Rebuilds the chain from its journal: for each block, submits its transactions in block order to the
 * (empty) FIFO mempool and mines them at the block's timestamp. Block contents, order and timestamps are
 * those recorded, and execution is deterministic, so every block hash comes out the same — checked on the
 * last block, whose hash commits to all before it. Requests go to EDR in batches, which it runs in order,
 * stopping at the first error.
 */
async function replay (provider: Provider, journal: Journal, options: Pick<EmbeddedChainOptions, 'signal' | 'onReplayProgress'>): Promise<{ blocks: number, transactions: number, lastTimestamp?: number }> {
  const { signal, onReplayProgress } = options
  const totalBlocks = onReplayProgress != null ? journal.counts().blocks : 0
  let blocks = 0
  let transactions = 0
  let last: JournaledBlock | undefined
  let batch: JsonRpcRequest[] = []
  let firstBlockOfBatch = 0
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return
    signal?.throwIfAborted()
    const response = await provider.handleRequest(JSON.stringify(batch))
    const data = typeof response.data === 'string' ? JSON.parse(response.data) : response.data
    if (data?.error != null) throw new ReplayError(`Replaying blocks ${firstBlockOfBatch} to ${last?.number} failed.`, { details: data.error.message })
    batch = []
    onReplayProgress?.({ blocks, totalBlocks })
  }
  for (const block of journal.blocks()) {
    if (batch.length === 0) firstBlockOfBatch = block.number
    for (const transaction of block.transactions) batch.push({ jsonrpc: '2.0', id: batch.length, method: 'eth_sendRawTransaction', params: [transaction.raw] })
    batch.push({ jsonrpc: '2.0', id: batch.length, method: 'evm_mine', params: [block.timestamp] })
    blocks++
    transactions += block.transactions.length
    last = block
    if (batch.length >= REPLAY_BATCH) await flush()
  }
  await flush()
  if (last == null) return { blocks, transactions }
  const head = await call<RpcBlock>(provider, 'eth_getBlockByNumber', ['latest', false])
  if (Number(head.number) !== last.number || head.hash !== last.hash) {
    throw new ReplayError(`The replayed chain differs from the recorded one: block ${Number(head.number)} has hash ${head.hash}, the journal says block ${last.number} has ${last.hash}.`)
  }
  return { blocks, transactions, lastTimestamp: last.timestamp }
}

/**
 * Makes the blocks. The chain runs with automine off; transactions submitted while a block is being made
 * queue up and go into the next block together (group commit): a lone transaction is mined at once, a
 * burst shares blocks, at most {@link MAX_BLOCK_TRANSACTIONS} to a block (EDR mines large blocks in
 * more than linear time). Each block is journaled (one durable SQLite transaction) before its transactions'
 * senders are answered, so an acknowledged transaction survives a crash. Block timestamps follow the
 * wall clock (plus test-only time travel) and never go back.
 *
 * A transaction whose nonce is ahead of its sender's next nonce waits in the mempool for the gap to fill
 * (concurrent senders may arrive out of order); after `stuckTimeoutMs` it is dropped and its sender gets
 * an error, like Hardhat's automine refuses it. Nothing else ever stays in the mempool.
 */
class Miner {
  closed = false
  private readonly provider: Provider
  private readonly journal: Journal
  private readonly stuckTimeoutMs: number
  private lastTimestamp: number
  private timeOffset = 0
  private queue: Submission[] = []
  private readonly waiting = new Map<Hex, Submission>()
  private scheduled = false
  private failure: Error | undefined
  private tail: Promise<void> = Promise.resolve()
  private stuckTimer: NodeJS.Timeout | undefined
  private baseFee = 0n

  constructor (provider: Provider, journal: Journal, lastTimestamp: number, stuckTimeoutMs: number) {
    this.provider = provider
    this.journal = journal
    this.lastTimestamp = lastTimestamp
    this.stuckTimeoutMs = stuckTimeoutMs
  }

  async submit (raw: Hex): Promise<Hex> {
    if (this.failure != null) throw this.failure
    if (this.closed) throw new ChainClosedError()
    return await new Promise<Hex>((resolve, reject) => {
      this.queue.push({ raw, resolve, reject })
      this.schedule()
    })
  }

  async mineEmpty (seconds: number): Promise<MinedBlock> {
    if (this.closed) throw new ChainClosedError()
    return await this.exclusive(async () => {
      this.timeOffset += seconds
      // Everything queued goes in first, so the empty block really is empty.
      await this.cycle()
      const { gasLeft: _, ...block } = await this.mineBlock(Math.max(this.lastTimestamp + seconds, this.nextTimestamp()))
      return block
    })
  }

  async close (): Promise<void> {
    if (this.closed) return
    await this.exclusive(async () => { await this.cycle() })
    this.closed = true
    clearTimeout(this.stuckTimer)
    for (const submission of [...this.queue, ...this.waiting.values()]) submission.reject(new ChainClosedError())
    this.queue = []
    this.waiting.clear()
  }

  private schedule (): void {
    if (this.scheduled) return
    this.scheduled = true
    // setImmediate, not a microtask: every submission made in this turn of the event loop joins the block.
    setImmediate(() => {
      this.scheduled = false
      this.exclusive(async () => { await this.cycle() }).catch(err => { this.fail(err) })
    })
  }

  /**
   * Mining or journaling failed (a full disk, an engine error): the chain in memory may now be ahead of
   * its journal, so it takes no more transactions; every waiting sender gets the error.
   */
  private fail (err: unknown): void {
    log.error('mining failed: %e', err)
    this.failure = new ChainStoppedError(err)
    for (const submission of [...this.queue, ...this.waiting.values()]) submission.reject(this.failure)
    this.queue = []
    this.waiting.clear()
  }

  /** Runs `fn` after everything scheduled before it: the one writer of the EDR provider and the journal. */
  private async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn)
    this.tail = run.then(() => {}, () => {})
    return await run
  }

  private nextTimestamp (): number {
    return Math.max(this.lastTimestamp, Math.floor(Date.now() / 1000) + this.timeOffset)
  }

  /** Mines the queued transactions, at most {@link MAX_BLOCK_TRANSACTIONS} per block. */
  private async cycle (): Promise<void> {
    while (this.queue.length > 0) await this.mineBatch(this.queue.splice(0, MAX_BLOCK_TRANSACTIONS))
  }

  /** Submits a batch to the mempool, then mines until none of it is left mineable. */
  private async mineBatch (batch: Submission[]): Promise<void> {
    let fresh = 0
    for (const submission of batch) {
      const response = await edrRequest(this.provider, { method: 'eth_sendRawTransaction', params: [submission.raw] })
      if ('error' in response) {
        submission.reject(new ChainRpcError(response.error))
        continue
      }
      submission.hash = response.result as Hex
      this.waiting.set(submission.hash, submission)
      fresh++
    }
    if (fresh === 0) return
    for (;;) {
      const block = await this.mineBlock(this.nextTimestamp())
      if (this.waiting.size === 0 || block.transactions.length === 0) break
      // Left over: either the block was full (mine again) or they wait on a nonce gap.
      if (!this.blockWasFull(block)) break
    }
    this.markStuck()
  }

  /** Whether none of the transactions still waiting fitted in the gas `block` had left. */
  private blockWasFull (block: MinedBlock & { gasLeft: bigint }): boolean {
    return [...this.waiting.values()].every(submission => (parseTransaction(submission.raw).gas ?? 0n) > block.gasLeft)
  }

  /** Mines one block at `timestamp` (everything mineable in the mempool), journals it, answers its senders. */
  private async mineBlock (timestamp: number): Promise<MinedBlock & { gasLeft: bigint }> {
    await call(this.provider, 'evm_mine', [timestamp])
    const head = await call<RpcBlock>(this.provider, 'eth_getBlockByNumber', ['latest', false])
    const block = {
      number: Number(head.number),
      hash: head.hash,
      timestamp: Number(head.timestamp),
      transactions: head.transactions,
      gasLeft: hexToBigInt(head.gasLimit) - hexToBigInt(head.gasUsed)
    }
    this.baseFee = head.baseFeePerGas != null ? hexToBigInt(head.baseFeePerGas) : 0n
    const included = head.transactions.map(hash => {
      const submission = this.waiting.get(hash)
      // Only this class puts transactions in the mempool, and every one it puts there is waiting.
      if (submission == null) throw new Error(`Block ${block.number} holds transaction ${hash} that nobody submitted.`)
      return submission
    })
    this.journal.append([{ number: block.number, hash: block.hash, timestamp: block.timestamp, transactions: included.map(submission => ({ hash: submission.hash!, raw: submission.raw })) }])
    this.lastTimestamp = block.timestamp
    for (const submission of included) {
      this.waiting.delete(submission.hash!)
      submission.resolve(submission.hash!)
    }
    return block
  }

  private markStuck (): void {
    if (this.waiting.size === 0) return
    const now = Date.now()
    for (const submission of this.waiting.values()) submission.stuckSince ??= now
    if (this.stuckTimer != null) return
    this.stuckTimer = setTimeout(() => {
      this.stuckTimer = undefined
      this.exclusive(async () => { await this.dropStuck() }).catch(err => { log.error('dropping stuck transactions failed: %e', err) })
    }, this.stuckTimeoutMs)
    this.stuckTimer.unref()
  }

  private async dropStuck (): Promise<void> {
    const now = Date.now()
    for (const submission of [...this.waiting.values()]) {
      if (submission.stuckSince == null || now - submission.stuckSince < this.stuckTimeoutMs) continue
      await call(this.provider, 'hardhat_dropTransaction', [submission.hash])
      this.waiting.delete(submission.hash!)
      const { nonce, maxFeePerGas, gasPrice } = parseTransaction(submission.raw)
      const fee = maxFeePerGas ?? gasPrice ?? 0n
      const why = fee < this.baseFee
        ? `its fee of ${fee} wei per gas stayed below the base fee of ${this.baseFee} wei for ${this.stuckTimeoutMs / 1000} s`
        : `its nonce ${nonce} is ahead of its sender's next nonce and the gap was not filled within ${this.stuckTimeoutMs / 1000} s`
      submission.reject(new ChainRpcError({ code: SERVER_ERROR, message: `Transaction ${submission.hash} was dropped: ${why}. The embedded chain does not queue transactions.` }))
    }
    this.markStuck()
  }
}
