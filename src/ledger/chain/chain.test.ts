import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createPublicClient, keccak256, parseEther, toHex, type Hex } from 'viem'
import { listModel } from '../actions/listModel.ts'
import { publishVersion } from '../actions/publishVersion.ts'
import { rentLicense } from '../actions/rentLicense.ts'
import { embeddedTransport, viemChain } from '../createLedger.ts'
import { startTestLedger, testAccount, TOKEN } from '../testHelpers.ts'
import { createEmbeddedChain } from './createEmbeddedChain.ts'
import { ChainConfigMismatchError } from './errors.ts'
import { ChainInUseError } from './journal.ts'
import type { EmbeddedChain } from './createEmbeddedChain.ts'

const CID = 'bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae'

async function snapshot (chain: EmbeddedChain, addresses: Hex[]): Promise<unknown> {
  const client = createPublicClient({ chain: viemChain(chain.chainId), transport: embeddedTransport(chain) })
  const head = await client.getBlock()
  const blocks = await Promise.all(Array.from({ length: Number(head.number) + 1 }, async (_, n) => {
    const block = await client.getBlock({ blockNumber: BigInt(n) })
    return [block.number, block.hash, block.timestamp, block.stateRoot, block.transactions]
  }))
  const logs = await client.getLogs({ fromBlock: 0n, toBlock: 'latest' })
  const balances = await Promise.all(addresses.map(async address => await client.getBalance({ address })))
  return JSON.parse(JSON.stringify({ blocks, logs, balances }, (_, value) => typeof value === 'bigint' ? value.toString() : value))
}

describe('embedded chain', () => {
  let dir: string
  before(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-chain-')) })
  after(async () => { await fs.rm(dir, { recursive: true, force: true }) })

  test('a restart replays the journal: same blocks, timestamps, logs and state', async () => {
    const chainDir = path.join(dir, 'replay')
    const t = await startTestLedger({ dir: chainDir, users: 2 })
    const [alice, bob] = await Promise.all(t.users.map(t.as))
    await publishVersion(alice, { name: 'replay/model', version: '1.0.0', manifestCid: CID })
    await listModel(alice, { name: 'replay/model', rentPrice: TOKEN, rentPeriod: 60 })
    await t.chain.increaseTime(3_600)
    // A burst of concurrent transactions shares blocks; a reverted one is mined (and journaled) too.
    const burstStart = await alice.publicClient.getBlockNumber()
    await Promise.all([
      ...Array.from({ length: 20 }, async (_, i) => await publishVersion(bob, { name: `replay/burst-${i}`, version: '1.0.0', manifestCid: CID })),
      rentLicense(bob, { name: 'replay/model' })
    ])
    const burstBlocks = await alice.publicClient.getBlockNumber() - burstStart
    assert.ok(burstBlocks < 21n, `21 concurrent transactions took ${burstBlocks} blocks`)
    const reverted = await bob.sender('test').send({ to: bob.addresses.registry, data: '0xdeadbeef', gas: 100_000n }).catch(err => err)
    assert.equal(reverted.name, 'TransactionRevertedError')
    const addresses = [...t.users.map(user => user.address), t.chain.accounts.faucet.address]
    const before = await snapshot(t.chain, addresses)
    await t.chain.close()

    const progress: Array<{ blocks: number, totalBlocks: number }> = []
    const reopened = await createEmbeddedChain({ dir: chainDir, onReplayProgress: p => progress.push(p) })
    try {
      assert.equal(reopened.startup.created, false)
      assert.deepEqual(progress.at(-1), { blocks: reopened.startup.blocks, totalBlocks: reopened.startup.blocks })
      assert.ok(reopened.startup.transactions >= 30, `replayed ${reopened.startup.transactions} transactions`)
      assert.deepEqual(await snapshot(reopened, addresses), before)
      // And it goes on from there.
      const client = createPublicClient({ chain: viemChain(reopened.chainId), transport: embeddedTransport(reopened) })
      const head = await client.getBlockNumber()
      const raw = await reopened.accounts.faucet.signTransaction({ chainId: reopened.chainId, type: 'eip1559', to: t.users[0].address, value: 1n, gas: 21_000n, maxFeePerGas: parseEther('0.000001'), maxPriorityFeePerGas: 0n, nonce: await client.getTransactionCount({ address: reopened.accounts.faucet.address }) })
      await reopened.request({ method: 'eth_sendRawTransaction', params: [raw] })
      assert.equal(await client.getBlockNumber({ cacheTime: 0 }), head + 1n)
    } finally {
      await reopened.close()
    }
  })

  test('a journal is opened by one process at a time, with the settings it was created with', async () => {
    const chainDir = path.join(dir, 'settings')
    const chain = await createEmbeddedChain({ dir: chainDir, chainId: 4242 })
    try {
      assert.equal(chain.chainId, 4242)
      await assert.rejects(createEmbeddedChain({ dir: chainDir }), ChainInUseError)
    } finally {
      await chain.close()
    }
    await assert.rejects(createEmbeddedChain({ dir: chainDir, chainId: 1 }), (err: any) => err instanceof ChainConfigMismatchError && /has chain id 4242, but chain id 1 was asked for/.test(err.message))
    await assert.rejects(createEmbeddedChain({ dir: chainDir, seed: keccak256(toHex('other')) }), ChainConfigMismatchError)
    const again = await createEmbeddedChain({ dir: chainDir })
    assert.equal(again.chainId, 4242)
    await again.close()
  })

  test('the genesis accounts follow from the seed', async () => {
    const seed = keccak256(toHex('seed'))
    const one = await createEmbeddedChain({ seed })
    const two = await createEmbeddedChain({ seed })
    assert.equal(one.accounts.faucet.address, two.accounts.faucet.address)
    assert.notEqual(one.accounts.faucet.address, one.accounts.deployer.address)
    const random = await createEmbeddedChain()
    assert.notEqual(random.accounts.faucet.address, one.accounts.faucet.address)
    await Promise.all([one.close(), two.close(), random.close()])
  })

  test('a transaction waiting on a nonce gap is mined once the gap fills, or dropped with a clear error', async () => {
    const chain = await createEmbeddedChain({ stuckTimeoutMs: 300 })
    try {
      const faucet = chain.accounts.faucet
      const sign = async (nonce: number): Promise<Hex> => await faucet.signTransaction({ chainId: chain.chainId, type: 'eip1559', to: testAccount('gap').address, value: 1n, gas: 21_000n, maxFeePerGas: parseEther('0.000001'), maxPriorityFeePerGas: 0n, nonce })
      // Out of order, in separate turns of the event loop: nonce 1 waits until nonce 0 arrives.
      const second = chain.request({ method: 'eth_sendRawTransaction', params: [await sign(1)] })
      await new Promise(resolve => setTimeout(resolve, 50))
      const first = chain.request({ method: 'eth_sendRawTransaction', params: [await sign(0)] })
      assert.deepEqual((await Promise.all([first, second])).length, 2)
      // Nonce 5 never becomes mineable.
      await assert.rejects(chain.request({ method: 'eth_sendRawTransaction', params: [await sign(5)] }), /was dropped: its nonce 5 is ahead of its sender's next nonce/)
      // Refused outright: nonce too low.
      await assert.rejects(chain.request({ method: 'eth_sendRawTransaction', params: [await sign(0)] }), /nonce too low/i)
    } finally {
      await chain.close()
    }
  })
})
