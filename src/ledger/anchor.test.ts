import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { bytesToHex, keccak256, toHex } from 'viem'
import { anchorReceipts, modelSubject } from './actions/anchorReceipts.ts'
import { approvePublisher } from './actions/approvePublisher.ts'
import { buyLicense } from './actions/buyLicense.ts'
import { listModel } from './actions/listModel.ts'
import { publishVersion } from './actions/publishVersion.ts'
import { readModelEvents } from './actions/readModelEvents.ts'
import { rentLicense } from './actions/rentLicense.ts'
import { transferModel } from './actions/transferModel.ts'
import { verifyAnchoredReceipt } from './actions/verifyAnchoredReceipt.ts'
import { ContractRevertError } from './errors.ts'
import { recoverUsageReceiptSigner, signUsageReceipt, type UsageReceipt } from './receipts.ts'
import { startTestLedger, TOKEN, type TestLedger } from './testHelpers.ts'
import type { Ledger } from './createLedger.ts'

const CID = 'bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae'

describe('usage anchors and the audit trail', () => {
  let t: TestLedger
  let alice: Ledger
  let bob: Ledger
  let carol: Ledger

  before(async () => {
    t = await startTestLedger({ users: 3 })
    ;[alice, bob, carol] = await Promise.all(t.users.map(t.as))
  })
  after(async () => { await t.cleanup() })

  test('signed receipts anchored in one transaction verify on chain with their Merkle proofs', async () => {
    const receipts = await Promise.all(Array.from({ length: 25 }, async (_, i) => {
      const receipt: UsageReceipt = {
        kind: 'pull',
        model: 'anchor/model',
        manifestCid: CID,
        provider: alice.account!.address,
        consumer: bob.account!.address,
        amount: BigInt(1_000 + i),
        timestamp: 1_700_000_000n + BigInt(i),
        nonce: bytesToHex(randomBytes(32))
      }
      return await signUsageReceipt(alice.account!, receipt)
    }))
    assert.equal(await recoverUsageReceiptSigner(receipts[0]), alice.account!.address)
    const anchored = await anchorReceipts(alice, { receipts: receipts.map(receipt => receipt.hash), subject: { model: 'anchor/model' }, uri: 'ipfs://batch' })
    assert.equal(anchored.count, 25)
    const stored = await alice.contracts.anchor.read.anchorOf([anchored.anchorId])
    assert.deepEqual([stored.root, stored.count, stored.subject, stored.submitter], [anchored.root, 25, modelSubject('anchor/model'), alice.account!.address])
    for (const index of [0, 7, 24]) {
      const { hash } = receipts[index]
      assert.equal(await verifyAnchoredReceipt(carol, { anchorId: anchored.anchorId, receiptHash: hash, proof: anchored.tree.proof(hash) }), true)
    }
    const forged = keccak256(toHex('not a receipt of the batch'))
    assert.equal(await verifyAnchoredReceipt(carol, { anchorId: anchored.anchorId, receiptHash: forged, proof: anchored.tree.proofAt(0) }), false)
    assert.equal(await verifyAnchoredReceipt(carol, { anchorId: anchored.anchorId, receiptHash: receipts[1].hash, proof: anchored.tree.proofAt(0) }), false)
    await assert.rejects(verifyAnchoredReceipt(carol, { anchorId: 999n, receiptHash: forged, proof: [] }), (err: any) => err instanceof ContractRevertError && err.errorName === 'UnknownAnchor')
    await assert.rejects(anchorReceipts(alice, { receipts: [] }), /empty batch/)
  })

  test('readModelEvents: the whole trail of a model, chronological, each with block, transaction and actor', async () => {
    const name = 'audit/model'
    const base = await publishVersion(carol, { name: 'audit/base', version: '1.0.0', manifestCid: CID })
    const v1 = await publishVersion(alice, { name, version: '1.0.0', manifestCid: CID, parents: [base.versionId], license: 'MIT' })
    await approvePublisher(alice, { name, publisher: bob.account!.address })
    await publishVersion(bob, { name, version: '1.1.0', manifestCid: CID, parents: [base.versionId] })
    await listModel(alice, { name, price: 10n * TOKEN, rentPrice: TOKEN, rentPeriod: 3_600 })
    const bought = await buyLicense(bob, { name })
    await rentLicense(carol, { name })
    await anchorReceipts(alice, { receipts: [keccak256(toHex('r1'))], subject: { model: name } })
    await transferModel(alice, { name, to: carol.account!.address })

    const events = await readModelEvents(bob, { name })
    assert.deepEqual(events.map(event => [event.eventName, event.actor]), [
      ['ModelRegistered', alice.account!.address],
      ['VersionAdded', alice.account!.address],
      ['PublisherApproved', alice.account!.address],
      ['VersionAdded', bob.account!.address],
      ['Listed', alice.account!.address],
      ['RoyaltyPaid', carol.account!.address],
      ['Purchased', bob.account!.address],
      ['RoyaltyPaid', carol.account!.address],
      ['Rented', carol.account!.address],
      ['Anchored', alice.account!.address],
      ['ModelTransferred', alice.account!.address]
    ])
    const blocks = events.map(event => event.blockNumber)
    assert.deepEqual(blocks, [...blocks].sort((a, b) => Number(a - b)), 'chronological')
    assert.equal(events[1].transactionHash, v1.hash)
    assert.equal(events[1].args.manifestCid, CID)
    assert.equal(events[6].transactionHash, bought.hash)
    assert.ok(events.every(event => event.timestamp > 1_600_000_000))

    // The parent's trail shows the royalties it earned from sales of its derivative.
    const parentEvents = await readModelEvents(bob, { name: 'audit/base' })
    assert.deepEqual(parentEvents.map(event => event.eventName), ['ModelRegistered', 'VersionAdded', 'RoyaltyPaid', 'RoyaltyPaid'])
    assert.equal(parentEvents[2].args.amount, TOKEN)
  })
})
