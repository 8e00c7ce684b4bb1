import { DatabaseSync, type StatementSync } from 'node:sqlite'

/** A node's own database: WAL (readers never wait for the writer), fsync at checkpoints, the schema applied. */
export function openDatabase (file: string, schema: string): DatabaseSync {
  const db = new DatabaseSync(file)
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    ${schema}
  `)
  return db
}

/** Statements compiled once per SQL text: lookups that sit on hot paths pay for parsing only the first time. */
export class StatementCache {
  private readonly db: DatabaseSync
  private readonly statements = new Map<string, StatementSync>()

  constructor (db: DatabaseSync) {
    this.db = db
  }

  get (sql: string): StatementSync {
    let statement = this.statements.get(sql)
    if (statement == null) {
      statement = this.db.prepare(sql)
      this.statements.set(sql, statement)
    }
    return statement
  }
}
