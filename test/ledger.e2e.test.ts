import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { decodeEventLog, keccak256, toHex } from 'viem'
import { modelRegistryAbi } from '../src/ledger/artifacts/ModelRegistry.ts'
import { buildMlpOnnx } from './fixtures/onnx.ts'
import { makeTempDir, startTestDaemon, type TestDaemon } from './helpers/daemon.ts'

async function waitFor (condition: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

describe('ledger: a model published, listed, rented and pulled, audited end to end', () => {
  let work: string
  let a: TestDaemon
  let b: TestDaemon
  let c: TestDaemon
  const extra: TestDaemon[] = []

  before(async () => {
    work = await makeTempDir('myc-ledger-')
    a = await startTestDaemon({ ledgerNetwork: true })
    ;[b, c] = await Promise.all([startTestDaemon({ chainFrom: a, ledgerNetwork: true }), startTestDaemon({ chainFrom: a, ledgerNetwork: true })])
  })
  after(async () => {
    await Promise.all([a, b, c, ...extra].map(async daemon => { await daemon?.cleanup() }))
    await fs.rm(work, { recursive: true, force: true })
  })

  it('runs the whole market flow and shows the trail in myc audit', async () => {
    const info = await a.json(['chain', 'info'])
    assert.equal(info.embedded, true)
    assert.equal((await b.json(['chain', 'info'])).network, info.network, 'nodes on one ledger meet on one network')

    await fs.writeFile(path.join(work, 'model.onnx'), buildMlpOnnx({ inputSize: 4, hidden: 8, outputSize: 2 }))
    const { cid } = await a.json(['publish', path.join(work, 'model.onnx'), '--name', 'acme/paid', '--version', '1.0.0', '--license', 'MIT'])

    // A joining node starts with nothing, then uses the faucet.
    assert.equal((await b.json(['balance'])).tokens, '0')
    await b.json(['chain', 'faucet'])
    await c.json(['chain', 'faucet'])
    assert.equal((await b.json(['balance'])).tokens, (1000n * 10n ** 18n).toString())

    // Only the owner may list.
    const notOwner = await b.cli(['market', 'list', 'acme/paid', '--price', '1'])
    assert.notEqual(notOwner.code, 0)
    assert.match(notOwner.stderr, /owner/i)
    await a.json(['market', 'list', 'acme/paid', '--rent', '5', '--period', '30d'])

    await b.json(['connect', a.multiaddrs[0]])
    await c.json(['connect', a.multiaddrs[0]])
    const refused = await c.cli(['pull', 'acme/paid@1.0.0'])
    assert.notEqual(refused.code, 0, 'no licence, no blocks')
    assert.match(refused.stderr, /licence/)
    assert.deepEqual(await c.json(['ls']), [])

    await b.json(['market', 'rent', 'acme/paid'])
    const licences = await b.json(['market', 'licenses'])
    assert.deepEqual(licences.map((l: any) => [l.name, l.licensed]), [['acme/paid', true]])
    const pulled = await b.cli(['pull', 'acme/paid@1.0.0'])
    assert.equal(pulled.code, 0, pulled.stderr)
    assert.equal((await b.json(['verify', cid])).ok, true)

    // A name@version the registry does not hold is refused, unless allowed.
    const unregistered = await b.cli(['pull', 'acme/paid@9.9.9'])
    assert.notEqual(unregistered.code, 0)
    assert.match(unregistered.stderr, /not on the ledger/)

    const seller = await a.json(['balance'])
    assert.equal(seller.withdrawable, (5n * 10n ** 18n).toString())
    await a.json(['withdraw'])

    // Usage receipts of the pull are anchored on chain and provable.
    let audit: any
    await waitFor(async () => {
      audit = await a.json(['audit', 'acme/paid'])
      return audit.usage.anchoredReceipts >= 1
    }, 'the pull receipt to be anchored')
    const names = audit.events.map((event: any) => event.eventName)
    for (const expected of ['ModelRegistered', 'VersionAdded', 'Listed', 'Rented', 'Anchored']) assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`)
    assert.deepEqual(audit.manifests.map((m: any) => [m.cid, m.valid, m.signer]), [[cid, true, a.address]])
    for (const event of audit.events) assert.match(event.transactionHash, /^0x[0-9a-f]{64}$/)
    const proof = await a.json(['audit', 'acme/paid', '--proof', audit.usage.recent[0]])
    assert.equal(proof.proof.included, true)
    assert.equal(proof.proof.signatureValid, true)
    assert.equal(proof.proof.receipt.consumer, b.address)

    // Another library than ours reads the registry's events from /rpc: plain JSON-RPC + ABI decoding.
    const response = await fetch(`${a.apiUrl}/rpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getLogs', params: [{ address: info.deployment.contracts.registry, fromBlock: '0x0', toBlock: 'latest' }] })
    })
    const logs = (await response.json() as any).result as Array<{ data: `0x${string}`, topics: Array<`0x${string}`> }>
    const decoded = logs.map(log => decodeEventLog({ abi: modelRegistryAbi, data: log.data, topics: log.topics as any }))
    const added = decoded.find(event => event.eventName === 'VersionAdded') as any
    assert.equal(added.args.manifestCid, cid)
    assert.equal(added.args.nameHash ?? keccak256(toHex('acme/paid')), keccak256(toHex('acme/paid')))
    const unsigned = await fetch(`${a.apiUrl}/rpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'eth_sendTransaction', params: [{ from: a.address }] }) })
    assert.ok((await unsigned.json() as any).error, '/rpc accepts only signed raw transactions')

    // Restart keeps the ledger: same trail after the embedded chain replays its journal.
    await c.cleanup()
    await b.stop()
    assert.equal(await a.stop(), 0)
    const a2 = await startTestDaemon({ home: a.home, ledgerNetwork: true })
    extra.push(a2)
    const again = await a2.json(['audit', 'acme/paid'])
    assert.deepEqual(again.events.map((event: any) => [event.eventName, event.transactionHash]), audit.events.map((event: any) => [event.eventName, event.transactionHash]).concat(again.events.slice(audit.events.length).map((event: any) => [event.eventName, event.transactionHash])))
  })
})
