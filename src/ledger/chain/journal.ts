import { DatabaseSync } from 'node:sqlite'
import { BaseError } from '../../errors.ts'
import type { Hex } from 'viem'

/** What a chain was created with; a replay must use the same, or it would rebuild another chain. */
export interface JournalMeta {
  format: number
  chainId: number
  genesisTime: number
  /** Secret from which the genesis accounts' keys are derived. */
  seed: Hex
}

export interface JournaledTransaction {
  hash: Hex
  raw: Hex
}

/** One mined block: its number, hash and timestamp and its transactions in block order. */
export interface JournaledBlock {
  number: number
  hash: Hex
  timestamp: number
  transactions: JournaledTransaction[]
}

export class ChainInUseError extends BaseError {
  override name = 'ChainInUseError'
  constructor (file: string, cause: unknown) {
    super(`The chain journal ${file} is in use by another process.`, {
      cause,
      code: 'CHAIN_IN_USE',
      status: 409,
      hint: 'Stop the other node using this home, or give this one another home.'
    })
  }
}

const META_KEYS = ['format', 'chainId', 'genesisTime', 'seed'] as const

/**
 * The embedded chain's journal (node:sqlite): every mined block with its raw signed transactions,
 * append-only. A batch of blocks is one SQLite transaction, durable (fsync'd, WAL with
 * synchronous=FULL) before any of its transactions is acknowledged. The connection holds an exclusive
 * lock, so a second process cannot write the same chain.
 */
export class Journal {
  readonly file: string
  private readonly db: DatabaseSync
  private readonly insertBlock: ReturnType<DatabaseSync['prepare']>
  private readonly insertTransaction: ReturnType<DatabaseSync['prepare']>

  constructor (file: string) {
    this.file = file
    this.db = new DatabaseSync(file)
    try {
      this.db.exec(`
        PRAGMA locking_mode = EXCLUSIVE;
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = FULL;
        BEGIN IMMEDIATE;
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
        CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL, hash TEXT NOT NULL) STRICT;
        CREATE TABLE IF NOT EXISTS transactions (
          block INTEGER NOT NULL REFERENCES blocks (number),
          position INTEGER NOT NULL,
          hash TEXT NOT NULL,
          raw BLOB NOT NULL,
          PRIMARY KEY (block, position)
        ) STRICT, WITHOUT ROWID;
        COMMIT;
      `)
    } catch (err: any) {
      this.db.close()
      if (/locked|busy/i.test(String(err?.message))) throw new ChainInUseError(file, err)
      throw err
    }
    this.insertBlock = this.db.prepare('INSERT INTO blocks (number, timestamp, hash) VALUES (?, ?, ?)')
    this.insertTransaction = this.db.prepare('INSERT INTO transactions (block, position, hash, raw) VALUES (?, ?, ?, ?)')
  }

  readMeta (): JournalMeta | undefined {
    const rows = this.db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string, value: string }>
    if (rows.length === 0) return undefined
    const values = Object.fromEntries(rows.map(row => [row.key, row.value]))
    return { format: Number(values.format), chainId: Number(values.chainId), genesisTime: Number(values.genesisTime), seed: values.seed as Hex }
  }

  writeMeta (meta: JournalMeta): void {
    const insert = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)')
    this.transaction(() => {
      for (const key of META_KEYS) insert.run(key, String(meta[key]))
    })
  }

  /** Appends blocks in one durable transaction. */
  append (blocks: JournaledBlock[]): void {
    if (blocks.length === 0) return
    this.transaction(() => {
      for (const block of blocks) {
        this.insertBlock.run(block.number, block.timestamp, block.hash)
        block.transactions.forEach((transaction, position) => {
          this.insertTransaction.run(block.number, position, transaction.hash, Buffer.from(transaction.raw.slice(2), 'hex'))
        })
      }
    })
  }

  /** Every block, oldest first, streamed. */
  * blocks (): Generator<JournaledBlock> {
    const rows = this.db.prepare(`
      SELECT b.number, b.timestamp, b.hash AS blockHash, t.hash, t.raw
      FROM blocks b LEFT JOIN transactions t ON t.block = b.number
      ORDER BY b.number, t.position
    `).iterate() as Iterable<{ number: number, timestamp: number, blockHash: string, hash: string | null, raw: Uint8Array | null }>
    let current: JournaledBlock | undefined
    for (const row of rows) {
      if (current?.number !== row.number) {
        if (current != null) yield current
        current = { number: row.number, timestamp: row.timestamp, hash: row.blockHash as Hex, transactions: [] }
      }
      if (row.hash != null && row.raw != null) current.transactions.push({ hash: row.hash as Hex, raw: `0x${Buffer.from(row.raw).toString('hex')}` })
    }
    if (current != null) yield current
  }

  last (): { number: number, hash: Hex, timestamp: number } | undefined {
    return this.db.prepare('SELECT number, hash, timestamp FROM blocks ORDER BY number DESC LIMIT 1').get() as { number: number, hash: Hex, timestamp: number } | undefined
  }

  counts (): { blocks: number, transactions: number } {
    const row = this.db.prepare('SELECT (SELECT count(*) FROM blocks) AS blocks, (SELECT count(*) FROM transactions) AS transactions').get() as { blocks: number, transactions: number }
    return { blocks: row.blocks, transactions: row.transactions }
  }

  close (): void {
    if (this.db.isOpen) this.db.close()
  }

  private transaction (fn: () => void): void {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      fn()
      this.db.exec('COMMIT')
    } catch (err) {
      this.db.exec('ROLLBACK')
      throw err
    }
  }
}
