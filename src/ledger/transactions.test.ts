import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { publishVersion } from './actions/publishVersion.ts'
import { fundFromFaucet } from './chain/fundFromFaucet.ts'
import { startTestLedger, testAccount, type TestLedger } from './testHelpers.ts'

const CID = 'bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae'
let t: TestLedger
before(async () => { t = await startTestLedger({ users: 1 }) })
after(async () => { await t.cleanup() })

test('concurrent writes of one account get consecutive nonces and all land', async () => {
  const ledger = await t.as(t.users[0])
  const results = await Promise.all(Array.from({ length: 40 }, async (_, i) => await publishVersion(ledger, { name: `tx/concurrent-${i}`, version: '1.0.0', manifestCid: CID })))
  const nonces = await Promise.all(results.map(async result => (await ledger.publicClient.getTransaction({ hash: result.hash })).nonce))
  assert.deepEqual([...nonces].sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => nonces.reduce((min, n) => Math.min(min, n)) + i))
})

test('a key also used elsewhere: the sender reads the nonce again and retries', async () => {
  const ledger = await t.as(t.users[0])
  await publishVersion(ledger, { name: 'tx/first', version: '1.0.0', manifestCid: CID })
  // The same key sends a transaction behind the ledger client's back.
  const nonce = Number(await t.chain.request({ method: 'eth_getTransactionCount', params: [t.users[0].address, 'pending'] }))
  const raw = await t.users[0].signTransaction!({ chainId: t.chain.chainId, type: 'eip1559', nonce, to: testAccount('elsewhere').address, value: 1n, gas: 21_000n, maxFeePerGas: 10n ** 12n, maxPriorityFeePerGas: 0n })
  await t.chain.request({ method: 'eth_sendRawTransaction', params: [raw] })
  await publishVersion(ledger, { name: 'tx/second', version: '1.0.0', manifestCid: CID })
  // Likewise the faucet, whose key a test or a script may use directly.
  const faucetNonce = Number(await t.chain.request({ method: 'eth_getTransactionCount', params: [t.chain.accounts.faucet.address, 'pending'] }))
  await t.chain.request({ method: 'eth_sendRawTransaction', params: [await t.chain.accounts.faucet.signTransaction!({ chainId: t.chain.chainId, type: 'eip1559', nonce: faucetNonce, to: testAccount('elsewhere').address, value: 1n, gas: 21_000n, maxFeePerGas: 10n ** 12n, maxPriorityFeePerGas: 0n })] })
  await fundFromFaucet(t.chain, { to: testAccount('funded').address })
})
