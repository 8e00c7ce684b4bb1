import { randomBytes } from 'node:crypto'
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { bytesToHex, type Address, type Hex, type LocalAccount } from 'viem'
import { anchorReceipts } from '../ledger/actions/anchorReceipts.ts'
import { signUsageReceipt, type SignedUsageReceipt, type UsageReceipt } from '../ledger/receipts.ts'
import { logger } from '../utils/logger.ts'
import { openDatabase } from '../utils/sqlite.ts'
import type { Ledger } from '../ledger/createLedger.ts'

const log = logger('market:receipts')

/** A batch is anchored once it holds this many receipts, or after ANCHOR_INTERVAL_MS, whichever comes first. */
export const ANCHOR_BATCH = 100
export const ANCHOR_INTERVAL_MS = 10_000
/**
 * Kept receipts (one per inference call) are written in one transaction per KEEP_FLUSH_MS or
 * KEEP_BATCH receipts: a row at a time costs a dozen syscalls per call. A crash loses at most the
 * receipts of the last KEEP_FLUSH_MS (the other side holds its own copy of each).
 */
export const KEEP_FLUSH_MS = 25
export const KEEP_BATCH = 256

export interface StoredReceipt {
  hash: Hex
  receipt: UsageReceipt
  signature: Hex
  anchorId?: bigint
  proof?: Hex[]
}

export interface RecordParameters {
  kind: string
  model: string
  manifestCid: string
  consumer: Address
  amount?: bigint
}

/**
 * Usage receipts of what this node served, signed by its key, kept in the node home and anchored
 * on chain in batches: one transaction per batch carries the Merkle root, and every receipt keeps
 * the proof that it is in the batch.
 */
export class ReceiptBook {
  private readonly db: DatabaseSync
  private readonly account: LocalAccount
  private readonly ledger: Ledger
  private timer: NodeJS.Timeout | undefined
  private anchoring: Promise<void> | undefined
  /** Statements run on every served call, compiled once. */
  private readonly insertUsage: StatementSync
  private readonly insertKept: StatementSync
  private readonly countPending: StatementSync
  /**
   * Receipts waiting to be anchored: counted once from the table, then kept up to date by the inserts
   * (instead of a count over the whole backlog per receipt), and recounted after each anchoring.
   */
  private pending: number
  private readonly toKeep: Array<{ hash: Hex, model: string, document: unknown, signature: Hex, anchor: boolean }> = []
  private keepTimer: NodeJS.Timeout | undefined

  constructor ({ file, account, ledger }: { file: string, account: LocalAccount, ledger: Ledger }) {
    this.account = account
    this.ledger = ledger
    this.db = openDatabase(file, `
      CREATE TABLE IF NOT EXISTS receipts (
        hash TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        receipt TEXT NOT NULL,
        signature TEXT NOT NULL,
        anchor_id TEXT,
        proof TEXT,
        kind TEXT NOT NULL DEFAULT 'usage',
        to_anchor INTEGER NOT NULL DEFAULT 1
      );
      CREATE INDEX IF NOT EXISTS receipts_pending ON receipts (anchor_id) WHERE anchor_id IS NULL;
      CREATE INDEX IF NOT EXISTS receipts_model ON receipts (model);
    `)
    this.insertUsage = this.db.prepare('INSERT INTO receipts (hash, model, receipt, signature) VALUES (?, ?, ?, ?)')
    this.insertKept = this.db.prepare('INSERT OR IGNORE INTO receipts (hash, model, receipt, signature, kind, to_anchor) VALUES (?, ?, ?, ?, ?, ?)')
    this.countPending = this.db.prepare('SELECT count(*) AS n FROM receipts WHERE anchor_id IS NULL AND to_anchor = 1')
    this.pending = this.pendingCount()
  }

  start (): void {
    this.timer = setInterval(() => { void this.anchor() }, ANCHOR_INTERVAL_MS)
    this.timer.unref()
  }

  /** Anchors what is pending, then closes the book. */
  async stop (): Promise<void> {
    clearInterval(this.timer)
    this.flushKept()
    await this.anchor()
    this.db.close()
  }

  async record ({ kind, model, manifestCid, consumer, amount = 1n }: RecordParameters): Promise<SignedUsageReceipt> {
    const receipt: UsageReceipt = {
      kind,
      model,
      manifestCid,
      provider: this.account.address,
      consumer,
      amount,
      timestamp: BigInt(Math.floor(Date.now() / 1000)),
      nonce: bytesToHex(randomBytes(32))
    }
    const signed = await signUsageReceipt(this.account, receipt)
    this.insertUsage.run(signed.hash, model, toJson(receipt), signed.signature)
    if (++this.pending >= ANCHOR_BATCH) void this.anchor()
    return signed
  }

  /**
   * Keeps a receipt signed elsewhere (an inference receipt): the provider anchors its copy, the
   * client keeps its own as evidence.
   */
  keep (receipt: { hash: Hex, model: string, document: unknown, signature: Hex, anchor: boolean }): void {
    this.toKeep.push(receipt)
    if (this.toKeep.length >= KEEP_BATCH) this.flushKept()
    else if (this.keepTimer == null) {
      this.keepTimer = setTimeout(() => { this.flushKept() }, KEEP_FLUSH_MS)
      this.keepTimer.unref()
    }
  }

  /** Writes the receipts `keep` queued, in one transaction; every read flushes first. */
  private flushKept (): void {
    clearTimeout(this.keepTimer)
    this.keepTimer = undefined
    if (this.toKeep.length === 0 || !this.db.isOpen) return
    const batch = this.toKeep.splice(0)
    let anchored = 0
    try {
      this.db.exec('BEGIN')
      for (const { hash, model, document, signature, anchor } of batch) {
        const { changes } = this.insertKept.run(hash, model, toJson(document), signature, 'inference', anchor ? 1 : 0)
        // A receipt already kept is ignored, and not counted twice.
        if (anchor && changes > 0) anchored++
      }
      this.db.exec('COMMIT')
    } catch (err: any) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK')
      log.error('keeping %d receipts failed: %s', batch.length, err.message)
      return
    }
    this.pending += anchored
    if (anchored > 0 && this.pending >= ANCHOR_BATCH) void this.anchor()
  }

  /** The stored document of a receipt (usage or inference), as JSON. */
  document (hash: string): { kind: string, document: unknown, signature: Hex, anchorId?: string, proof?: Hex[] } | undefined {
    this.flushKept()
    const row = this.db.prepare('SELECT * FROM receipts WHERE hash = ?').get(hash.toLowerCase()) as (Row & { kind: string }) | undefined
    if (row == null) return undefined
    return { kind: row.kind, document: JSON.parse(row.receipt), signature: row.signature, ...(row.anchor_id != null ? { anchorId: row.anchor_id, proof: JSON.parse(row.proof ?? '[]') } : {}) }
  }

  get (hash: string): StoredReceipt | undefined {
    this.flushKept()
    const row = this.db.prepare('SELECT * FROM receipts WHERE hash = ?').get(hash.toLowerCase()) as Row | undefined
    return row != null ? toStored(row) : undefined
  }

  /** Usage receipts of a model, pulls and the like (inference receipts: see `document`). */
  ofModel (model: string): StoredReceipt[] {
    return (this.db.prepare("SELECT * FROM receipts WHERE model = ? AND kind = 'usage' ORDER BY rowid").all(model) as unknown as Row[]).map(toStored)
  }

  /** Hashes of the inference receipts kept for a model (by manifest CID or name). */
  inferenceOf (model: string): Array<{ hash: Hex, anchorId?: string }> {
    this.flushKept()
    return (this.db.prepare("SELECT hash, anchor_id FROM receipts WHERE model = ? AND kind = 'inference' ORDER BY rowid").all(model) as Array<{ hash: Hex, anchor_id: string | null }>)
      .map(row => ({ hash: row.hash, ...(row.anchor_id != null ? { anchorId: row.anchor_id } : {}) }))
  }

  /** Anchors every pending receipt, one batch (one transaction) per model. */
  async anchor (): Promise<void> {
    if (this.anchoring != null) return await this.anchoring
    this.flushKept()
    const run = (async () => {
      try {
        const rows = this.db.prepare('SELECT hash, model FROM receipts WHERE anchor_id IS NULL AND to_anchor = 1 ORDER BY rowid').all() as Array<{ hash: Hex, model: string }>
        const byModel = new Map<string, Hex[]>()
        for (const row of rows) byModel.set(row.model, [...(byModel.get(row.model) ?? []), row.hash])
        for (const [model, hashes] of byModel) {
          const result = await anchorReceipts(this.ledger, { receipts: hashes, subject: { model } })
          const update = this.db.prepare('UPDATE receipts SET anchor_id = ?, proof = ? WHERE hash = ?')
          this.db.exec('BEGIN')
          hashes.forEach((hash, i) => update.run(result.anchorId.toString(), JSON.stringify(result.tree.proofAt(i)), hash))
          this.db.exec('COMMIT')
          log('anchored %d receipts of %s as anchor %d', hashes.length, model, result.anchorId)
        }
      } catch (err: any) {
        log.error('anchoring receipts failed (will retry): %s', err.message)
      } finally {
        // What was anchored, less what arrived meanwhile; once per batch, not once per receipt.
        if (this.db.isOpen) this.pending = this.pendingCount()
      }
    })()
    // Cleared only after it is set: a run with nothing to anchor finishes before `run` is assigned.
    this.anchoring = run.finally(() => { this.anchoring = undefined })
    await this.anchoring
  }

  private pendingCount (): number {
    return Number((this.countPending.get() as { n: number | bigint }).n)
  }
}

function toJson (document: unknown): string {
  return JSON.stringify(document, (_key, value) => typeof value === 'bigint' ? value.toString() : value)
}

interface Row { hash: Hex, model: string, receipt: string, signature: Hex, anchor_id: string | null, proof: string | null }

function toStored (row: Row): StoredReceipt {
  const parsed = JSON.parse(row.receipt)
  return {
    hash: row.hash,
    receipt: { ...parsed, amount: BigInt(parsed.amount), timestamp: BigInt(parsed.timestamp) },
    signature: row.signature,
    ...(row.anchor_id != null ? { anchorId: BigInt(row.anchor_id), proof: JSON.parse(row.proof ?? '[]') } : {})
  }
}
