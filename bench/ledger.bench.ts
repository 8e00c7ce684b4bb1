/**
 * The ledger: registry writes per second on the embedded chain in process, usage receipts signed, batched
 * and anchored per second, and the start time of a chain with a 10,000-transaction journal.
 *
 *   npm run bench -- ledger
 *   BENCH_LEDGER_JOURNAL=2000 npm run bench -- ledger   (a smaller journal, for a quick run)
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { bytesToHex, encodeFunctionData, keccak256, toHex, type Hex, type LocalAccount } from 'viem'
import { addVersion } from '../src/ledger/actions/addVersion.ts'
import { anchorReceipts } from '../src/ledger/actions/anchorReceipts.ts'
import { publishVersion } from '../src/ledger/actions/publishVersion.ts'
import { verifyAnchoredReceipt } from '../src/ledger/actions/verifyAnchoredReceipt.ts'
import { marketplaceAbi } from '../src/ledger/artifacts/Marketplace.ts'
import { modelRegistryAbi } from '../src/ledger/artifacts/ModelRegistry.ts'
import { mycTokenAbi } from '../src/ledger/artifacts/MycToken.ts'
import { usageAnchorAbi } from '../src/ledger/artifacts/UsageAnchor.ts'
import { createEmbeddedChain, type EmbeddedChain } from '../src/ledger/chain/createEmbeddedChain.ts'
import { createRpcHandler } from '../src/ledger/chain/createRpcHandler.ts'
import { fundFromFaucet } from '../src/ledger/chain/fundFromFaucet.ts'
import { createLedger, type Ledger } from '../src/ledger/createLedger.ts'
import { ensureEmbeddedContracts } from '../src/ledger/deployContracts.ts'
import { buildReceiptTree } from '../src/ledger/merkle.ts'
import { signUsageReceipt, type SignedUsageReceipt } from '../src/ledger/receipts.ts'
import { startTestLedger, testAccount, type TestLedger } from '../src/ledger/testHelpers.ts'
import { atLeast, row, type BenchContext, type BenchRow } from './types.ts'

const JOURNAL_ENV = 'BENCH_LEDGER_JOURNAL'
const DEFAULT_JOURNAL_TRANSACTIONS = 10_000
const WRITES = 1_000
const CONCURRENCY = 64
const SIGNED_RECEIPTS = 2_000
const ANCHOR_BATCH = 200_000
const CID = 'bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae'

const WRITE_GOAL = atLeast(1_000)
const RECEIPT_GOAL = atLeast(100_000)

export default async function ledger ({ defer, log }: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  const t = await startTestLedger({ users: 2 })
  defer(t.cleanup)
  const [publisher, anchorer] = await Promise.all(t.users.map(t.as))

  log('baseline: pre-signed ether transfers through the embedded chain')
  const transfers = await signAll(t.chain, t.chain.accounts.faucet, WRITES, () => ({ to: testAccount('sink').address, value: 1n, data: '0x', gas: 21_000n }))
  rows.push(row('baseline: ether transfers, pre-signed', rate(WRITES, await timedMs(async () => await submitAll(t.chain, transfers))), 'tx/s'))

  log(`registry: ${WRITES} publishes (name + version) through the ledger client, ${CONCURRENCY} at a time`)
  const publishMs = await timedMs(async () => await pool(WRITES, CONCURRENCY, async i => await publishVersion(publisher, { name: `bench/model-${i}`, version: '1.0.0', manifestCid: CID, license: 'MIT' })))
  rows.push(row(`registry writes in process: publishVersion (register + version), ${CONCURRENCY} concurrent`, rate(WRITES, publishMs), 'writes/s', WRITE_GOAL))

  log(`registry: ${WRITES} versions added to existing names`)
  const addMs = await timedMs(async () => await pool(WRITES, CONCURRENCY, async i => await addVersion(publisher, { name: `bench/model-${i}`, version: '1.1.0', manifestCid: CID, license: 'MIT' })))
  rows.push(row(`registry writes in process: addVersion, ${CONCURRENCY} concurrent`, rate(WRITES, addMs), 'writes/s', WRITE_GOAL))

  log(`registry: ${WRITES} publishes by another node through JSON-RPC over HTTP (what /rpc serves), ${CONCURRENCY} at a time`)
  const url = await serveRpc(t.chain, defer)
  const remote = await createLedger({ rpcUrl: url, chainId: t.chain.chainId, deployment: t.deployment, account: testAccount('remote node') })
  await fundFromFaucet(t.chain, { to: remote.account!.address, tokens: 0n })
  const rpcMs = await timedMs(async () => await pool(WRITES, CONCURRENCY, async i => await publishVersion(remote, { name: `bench/remote-${i}`, version: '1.0.0', manifestCid: CID, license: 'MIT' })))
  rows.push(row(`registry writes over JSON-RPC (HTTP): publishVersion, ${CONCURRENCY} concurrent`, rate(WRITES, rpcMs), 'writes/s'))

  log('registry: the same writes pre-signed, submitted straight to the chain (its capacity, without signing and simulation)')
  const presigned = await signAll(t.chain, anchorer.account!, WRITES, i => ({
    to: t.deployment.contracts.registry,
    data: encodeFunctionData({ abi: modelRegistryAbi, functionName: 'publish', args: [`bench/raw-${i}`, '1.0.0', CID, [], 'MIT'] }),
    gas: 1_000_000n
  }))
  rows.push(row('chain capacity: publish transactions, pre-signed', rate(WRITES, await timedMs(async () => await submitAll(t.chain, presigned))), 'tx/s'))

  rows.push(...await receipts(t, anchorer, log))
  rows.push(...await startTime(log, defer))
  return rows
}

/** The chain's JSON-RPC handler behind a local HTTP server, as the API's POST /rpc serves it. */
async function serveRpc (chain: EmbeddedChain, defer: BenchContext['defer']): Promise<string> {
  const handler = createRpcHandler(chain)
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', chunk => { body += chunk })
    req.on('end', () => {
      void handler(JSON.parse(body)).then(response => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(response))
      })
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  defer(() => { server.close() })
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

async function receipts (t: TestLedger, ledger: Ledger, log: (message: string) => void): Promise<BenchRow[]> {
  log(`receipts: signing ${SIGNED_RECEIPTS} EIP-712 usage receipts with viem (secp256k1)`)
  const signer = ledger.account!
  let signed: SignedUsageReceipt[] = []
  const signMs = await timedMs(async () => {
    signed = []
    for (let i = 0; i < SIGNED_RECEIPTS; i++) signed.push(await signUsageReceipt(signer, receiptFor(signer, i)))
  })
  const signRate = rate(SIGNED_RECEIPTS, signMs)

  log(`receipts: batching ${ANCHOR_BATCH} receipt hashes into a Merkle tree and anchoring the root in one transaction`)
  const hashes = Array.from({ length: ANCHOR_BATCH }, () => bytesToHex(randomBytes(32)))
  let anchored: Awaited<ReturnType<typeof anchorReceipts>> | undefined
  const batchMs = await timedMs(async () => { anchored = await anchorReceipts(ledger, { receipts: hashes, subject: { model: 'bench/model-0' }, uri: 'bench' }) })
  const batchRate = rate(ANCHOR_BATCH, batchMs)
  const treeMs = await timedMs(async () => { buildReceiptTree(hashes) })
  const probe = hashes[ANCHOR_BATCH >> 1]
  if (!await verifyAnchoredReceipt(ledger, { anchorId: anchored!.anchorId, receiptHash: probe, proof: anchored!.tree.proof(probe) })) throw new Error('an anchored receipt did not verify on chain')
  const signedBatch = await anchorReceipts(ledger, { receipts: signed.map(receipt => receipt.hash) })
  if (signedBatch.count !== SIGNED_RECEIPTS) throw new Error('the signed batch was not anchored')
  void t
  // Signing, then batching and anchoring, one after the other on one thread: the time of each, added.
  const endToEnd = 1 / (1 / signRate + 1 / batchRate)
  return [
    row('receipts signed (EIP-712, viem secp256k1), one thread', signRate, 'receipts/s'),
    row(`receipts batched + anchored, ${ANCHOR_BATCH} per tx (tree + 1 tx)`, batchRate, 'receipts/s', RECEIPT_GOAL),
    row('  of which the Merkle tree alone', rate(ANCHOR_BATCH, treeMs), 'receipts/s'),
    row('receipts signed + batched + anchored, one thread', endToEnd, 'receipts/s', RECEIPT_GOAL)
  ]
}

async function startTime (log: (message: string) => void, defer: BenchContext['defer']): Promise<BenchRow[]> {
  const count = journalSize()
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-bench-journal-'))
  defer(async () => { await fs.rm(dir, { recursive: true, force: true }) })
  log(`start time: writing a journal of ${count} transactions (one block each, as a node's own use makes them)`)
  await writeJournal(dir, count)
  log('start time: reopening the chain')
  const start = performance.now()
  const chain = await createEmbeddedChain({ dir })
  const deployment = await ensureEmbeddedContracts(chain)
  await createLedger({ embedded: chain, deployment, account: testAccount('node') })
  const milliseconds = performance.now() - start
  const replay = chain.startup
  await chain.close()
  return [
    row(`node ledger start, ${replay.transactions}-transaction journal (${replay.blocks} blocks)`, milliseconds, 'ms'),
    row('  journal replay rate', replay.transactions / (replay.milliseconds / 1000), 'tx/s')
  ]
}

function journalSize (): number {
  const value = process.env[JOURNAL_ENV]
  const count = value == null || value === '' ? DEFAULT_JOURNAL_TRANSACTIONS : Number(value)
  if (!Number.isSafeInteger(count) || count < 100) throw new Error(`${JOURNAL_ENV} must be a whole number ≥ 100, got "${value}".`)
  return count
}

/**
 * A chain in `dir` whose journal holds `count` transactions (after the deployment) in blocks of one,
 * a mix of what a node does: publishes, versions, listings, anchors, faucet transfers and mints.
 */
export async function writeJournal (dir: string, count: number): Promise<void> {
  const chain = await createEmbeddedChain({ dir })
  try {
    const deployment = await ensureEmbeddedContracts(chain)
    const { registry, marketplace, anchor, token } = deployment.contracts
    const user = testAccount('journal user')
    const faucet = chain.accounts.faucet
    await submitAll(chain, await signAll(chain, faucet, 1, () => ({ to: user.address, value: 10n ** 21n, data: '0x', gas: 21_000n })))
    const userCalls = Math.ceil(count * 0.8)
    const userTransactions = await signAll(chain, user, userCalls, i => {
      const kind = i % 8
      if (kind <= 3) return { to: registry, data: encodeFunctionData({ abi: modelRegistryAbi, functionName: 'publish', args: [`journal/m${i}`, '1.0.0', CID, [], 'MIT'] }), gas: 1_000_000n }
      if (kind <= 5) return { to: registry, data: encodeFunctionData({ abi: modelRegistryAbi, functionName: 'addVersion', args: [`journal/m${i - kind}`, `1.0.${i}`, CID, [], 'MIT'] }), gas: 1_000_000n }
      if (kind === 6) return { to: marketplace, data: encodeFunctionData({ abi: marketplaceAbi, functionName: 'list', args: [`journal/m${i - kind}`, 10n ** 18n, 0n, 0n] }), gas: 1_000_000n }
      return { to: anchor, data: encodeFunctionData({ abi: usageAnchorAbi, functionName: 'anchor', args: [keccak256(toHex(i)), 100, keccak256(toHex('journal')), 'bench'] }), gas: 1_000_000n }
    })
    const faucetTransactions = await signAll(chain, faucet, count - userCalls, i => i % 2 === 0
      ? { to: testAccount(`journal ${i}`).address, value: 10n ** 18n, data: '0x', gas: 21_000n }
      : { to: token, data: encodeFunctionData({ abi: mycTokenAbi, functionName: 'mint', args: [user.address, 10n ** 18n] }), gas: 200_000n })
    // One at a time: every transaction gets a block of its own.
    for (const raw of interleave(userTransactions, faucetTransactions)) await chain.request({ method: 'eth_sendRawTransaction', params: [raw] })
  } finally {
    await chain.close()
  }
}

function interleave<T> (a: T[], b: T[]): T[] {
  const out: T[] = []
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i])
    if (i < b.length) out.push(b[i])
  }
  return out
}

interface Call { to: `0x${string}`, data: Hex, value?: bigint, gas: bigint }

async function signAll (chain: EmbeddedChain, account: LocalAccount, count: number, make: (i: number) => Call): Promise<Hex[]> {
  let nonce = Number(await chain.request({ method: 'eth_getTransactionCount', params: [account.address, 'pending'] }))
  const raws: Hex[] = []
  for (let i = 0; i < count; i++) {
    const call = make(i)
    raws.push(await account.signTransaction!({ chainId: chain.chainId, type: 'eip1559', nonce: nonce++, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 0n, ...call }))
  }
  return raws
}

/** Submits in order, all at once; resolves when every one is mined. */
async function submitAll (chain: EmbeddedChain, raws: Hex[]): Promise<void> {
  await Promise.all(raws.map(async raw => await chain.request({ method: 'eth_sendRawTransaction', params: [raw] })))
}

function receiptFor (signer: LocalAccount, i: number): Parameters<typeof signUsageReceipt>[1] {
  return { kind: 'inference', model: 'bench/model-0', manifestCid: CID, provider: signer.address, consumer: testAccount('consumer').address, amount: BigInt(i), timestamp: 1_700_000_000n, nonce: bytesToHex(randomBytes(32)) }
}

async function pool (count: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await task(next++)
  }))
}

async function timedMs (fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

const rate = (count: number, milliseconds: number): number => count / (milliseconds / 1000)
