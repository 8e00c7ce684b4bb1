import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { keccak256, toHex, type Hex } from 'viem'
import { startTestLedger, type TestLedger } from '../ledger/testHelpers.ts'
import { ANCHOR_BATCH, KEEP_BATCH, KEEP_FLUSH_MS, ReceiptBook } from './receiptBook.ts'
import type { Ledger } from '../ledger/createLedger.ts'

const MODEL = 'book/model'

describe('ReceiptBook', () => {
  let t: TestLedger
  let ledger: Ledger

  before(async () => {
    t = await startTestLedger({ users: 1 })
    ledger = await t.as(t.users[0])
  })
  after(async () => { await t.cleanup() })

  const open = (file: string): ReceiptBook => new ReceiptBook({ file: path.join(t.dir, file), account: t.users[0], ledger })
  const hash = (label: string): Hex => keccak256(toHex(label))
  const keep = (book: ReceiptBook, label: string, anchor = true): void => {
    book.keep({ hash: hash(label), model: MODEL, document: { label, amount: 1n }, signature: '0x00', anchor })
  }
  const anchored = (book: ReceiptBook): number => book.inferenceOf(MODEL).filter(entry => entry.anchorId != null).length
  const waitForAnchors = async (book: ReceiptBook, count: number): Promise<void> => {
    for (let waited = 0; anchored(book) < count; waited += 20) {
      if (waited > 20_000) assert.fail(`${anchored(book)} receipts anchored after 20 s, expected ${count}`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  test('a batch is anchored when the pending receipts reach ANCHOR_BATCH: kept copies and duplicates do not count', async () => {
    const book = open('batch.sqlite')
    for (let i = 0; i < ANCHOR_BATCH - 1; i++) {
      keep(book, `a${i}`)
      keep(book, `a${i}`) // the same receipt again: ignored
    }
    for (let i = 0; i < 5; i++) keep(book, `client copy ${i}`, false)
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(anchored(book), 0, 'one short of a batch: nothing anchored yet')
    keep(book, 'last')
    await waitForAnchors(book, ANCHOR_BATCH)
    const entries = book.inferenceOf(MODEL)
    assert.equal(entries.length, ANCHOR_BATCH + 5)
    assert.equal(entries.filter(entry => entry.anchorId == null).length, 5, 'the client copies stay unanchored')
    assert.deepEqual(book.document(hash('a0'))?.document, { label: 'a0', amount: '1' })

    // The count starts again from zero after the batch.
    for (let i = 0; i < ANCHOR_BATCH - 1; i++) keep(book, `b${i}`)
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(anchored(book), ANCHOR_BATCH)
    keep(book, 'b last')
    await waitForAnchors(book, 2 * ANCHOR_BATCH)
    await book.stop()
  })

  test('the receipts left pending by a previous run count towards the next batch', async () => {
    const first = open('reopen.sqlite')
    for (let i = 0; i < 60; i++) keep(first, `r${i}`)
    await new Promise(resolve => setTimeout(resolve, KEEP_FLUSH_MS * 4))
    // Closed without anchoring (as if the process died once they were written).
    ;(first as unknown as { db: { close: () => void } }).db.close()

    const book = open('reopen.sqlite')
    for (let i = 60; i < ANCHOR_BATCH - 1; i++) keep(book, `r${i}`)
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(anchored(book), 0)
    keep(book, 'r last')
    await waitForAnchors(book, ANCHOR_BATCH)
    await book.stop()
  })

  test('kept receipts reach the file within KEEP_FLUSH_MS, or at once when KEEP_BATCH are queued', async () => {
    const book = open('flush.sqlite')
    const reader = open('flush.sqlite')
    for (let i = 0; i < 10; i++) keep(book, `f${i}`, false)
    assert.equal(book.inferenceOf(MODEL).length, 10, 'the book itself reads what it queued')
    for (let i = 10; i < 20; i++) keep(book, `f${i}`, false)
    await new Promise(resolve => setTimeout(resolve, KEEP_FLUSH_MS * 4))
    assert.equal(reader.inferenceOf(MODEL).length, 20, 'another connection sees them once flushed')
    for (let i = 20; i < 20 + KEEP_BATCH; i++) keep(book, `f${i}`, false)
    assert.equal(reader.inferenceOf(MODEL).length, 20 + KEEP_BATCH, 'a full batch is written at once')
    await book.stop()
    await reader.stop()
  })

  test('usage receipts count too, and stop anchors what is pending', async () => {
    const book = open('usage.sqlite')
    const signed = await book.record({ kind: 'pull', model: MODEL, manifestCid: 'bafy', consumer: t.users[0].address })
    keep(book, 'one')
    assert.equal(book.get(signed.hash)?.anchorId, undefined)
    await book.stop()
    const reopened = open('usage.sqlite')
    assert.notEqual(reopened.get(signed.hash)?.anchorId, undefined)
    assert.equal(anchored(reopened), 1)
    await reopened.stop()
  })
})
