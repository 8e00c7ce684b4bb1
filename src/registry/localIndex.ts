import type { DatabaseSync } from 'node:sqlite'
import { openDatabase, StatementCache } from '../utils/sqlite.ts'
import semver from 'semver'
import type { Manifest } from '../manifest/manifest.ts'

export interface IndexedVersion {
  cid: string
  name: string
  version: string
  author: string
  created: string
  size: number
  fileCount: number
  addedAt: string
}

export interface Service {
  cid: string
  /** Token base units per call. */
  price: string
  maxConcurrency: number
  since: string
}

export interface Pin {
  cid: string
  label: string
  since: string
}

export interface StoredFederatedJob {
  /** Decimal job id. */
  jobId: string
  role: 'sponsor' | 'participant'
  /** How this node takes part (data directory, trainer…), as given when it joined or opened. */
  settings: Record<string, unknown>
  /** What it has done so far (per-round records), so a restart neither repeats nor forgets it. */
  state: Record<string, unknown>
  since: string
}

export interface Follow {
  name: string
  author?: string
  since: string
}

interface Row {
  cid: string
  name: string
  version: string
  author: string
  created: string
  size: number
  file_count: number
  added_at: string
}

const toVersion = (row: Row): IndexedVersion => ({
  cid: row.cid,
  name: row.name,
  version: row.version,
  author: row.author,
  created: row.created,
  size: row.size,
  fileCount: row.file_count,
  addedAt: row.added_at
})

/**
 * The node's local index of model versions (node:sqlite). A row is the commit point of a publish or
 * import: a version exists locally exactly when its row does, and its blocks are pinned by it.
 */
export class LocalIndex {
  private readonly db: DatabaseSync
  /** Lookups sit on hot paths (every inference, every served block). */
  private readonly statements: StatementCache

  constructor (file: string) {
    this.db = openDatabase(file, `
      CREATE TABLE IF NOT EXISTS versions (
        cid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        author TEXT NOT NULL,
        created TEXT NOT NULL,
        size INTEGER NOT NULL,
        file_count INTEGER NOT NULL,
        added_at TEXT NOT NULL,
        UNIQUE (name, version)
      );
      CREATE INDEX IF NOT EXISTS versions_name ON versions (name);
      CREATE TABLE IF NOT EXISTS services (
        cid TEXT PRIMARY KEY,
        price TEXT NOT NULL,
        max_concurrency INTEGER NOT NULL,
        since TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS follows (
        name TEXT PRIMARY KEY,
        author TEXT,
        since TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS pins (
        cid TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        since TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS fl_jobs (
        job_id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        settings TEXT NOT NULL,
        state TEXT NOT NULL,
        since TEXT NOT NULL
      );
    `)
    this.statements = new StatementCache(this.db)
  }

  close (): void {
    if (this.db.isOpen) this.db.close()
  }

  add (version: Omit<IndexedVersion, 'addedAt'>): void {
    this.statements.get(`INSERT INTO versions (cid, name, version, author, created, size, file_count, added_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(
      version.cid, version.name, version.version, version.author, version.created, version.size, version.fileCount, new Date().toISOString()
    )
  }

  /** Indexes a stored, verified manifest under its CID: the commit point of publish, pull and import. */
  addManifest (cid: string, manifest: Pick<Manifest, 'name' | 'version' | 'author' | 'created' | 'files'>): void {
    this.add({
      cid,
      name: manifest.name,
      version: manifest.version,
      author: manifest.author,
      created: manifest.created,
      size: manifest.files.reduce((sum, file) => sum + file.size, 0),
      fileCount: manifest.files.length
    })
  }

  remove (cid: string): boolean {
    return this.statements.get('DELETE FROM versions WHERE cid = ?').run(cid).changes > 0
  }

  byCid (cid: string): IndexedVersion | undefined {
    const row = this.statements.get('SELECT * FROM versions WHERE cid = ?').get(cid) as Row | undefined
    return row != null ? toVersion(row) : undefined
  }

  byNameVersion (name: string, version: string): IndexedVersion | undefined {
    const row = this.statements.get('SELECT * FROM versions WHERE name = ? AND version = ?').get(name, version) as Row | undefined
    return row != null ? toVersion(row) : undefined
  }

  /** Newest first by semantic-version precedence. */
  versionsOf (name: string): IndexedVersion[] {
    const rows = this.statements.get('SELECT * FROM versions WHERE name = ?').all(name) as unknown as Row[]
    return rows.map(toVersion).sort((a, b) => semver.rcompare(a.version, b.version))
  }

  newest (name: string): IndexedVersion | undefined {
    return this.versionsOf(name)[0]
  }

  /** Follows persist across restarts; `author` pins who may publish new versions (trust on first use). */
  follow (name: string, author: string | undefined): void {
    this.statements.get('INSERT INTO follows (name, author, since) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING').run(name, author ?? null, new Date().toISOString())
  }

  setFollowAuthor (name: string, author: string): void {
    this.statements.get('UPDATE follows SET author = ? WHERE name = ? AND author IS NULL').run(author, name)
  }

  unfollow (name: string): boolean {
    return this.statements.get('DELETE FROM follows WHERE name = ?').run(name).changes > 0
  }

  follows (): Follow[] {
    return (this.statements.get('SELECT name, author, since FROM follows ORDER BY name').all() as unknown as Array<{ name: string, author: string | null, since: string }>)
      .map(row => ({ name: row.name, author: row.author ?? undefined, since: row.since }))
  }

  following (name: string): Follow | undefined {
    return this.follows().find(follow => follow.name === name)
  }

  /** Versions this node offers inference on (`myc serve`); persisted so a restart keeps serving. */
  serve (cid: string, price: string, maxConcurrency: number): void {
    this.statements.get(`INSERT INTO services (cid, price, max_concurrency, since) VALUES (?, ?, ?, ?)
      ON CONFLICT (cid) DO UPDATE SET price = excluded.price, max_concurrency = excluded.max_concurrency`).run(cid, price, maxConcurrency, new Date().toISOString())
  }

  unserve (cid: string): boolean {
    return this.statements.get('DELETE FROM services WHERE cid = ?').run(cid).changes > 0
  }

  services (): Service[] {
    return (this.statements.get('SELECT cid, price, max_concurrency, since FROM services ORDER BY since').all() as unknown as Array<{ cid: string, price: string, max_concurrency: number, since: string }>)
      .map(row => ({ cid: row.cid, price: row.price, maxConcurrency: row.max_concurrency, since: row.since }))
  }

  service (cid: string): Service | undefined {
    const row = this.statements.get('SELECT cid, price, max_concurrency, since FROM services WHERE cid = ?').get(cid) as { cid: string, price: string, max_concurrency: number, since: string } | undefined
    return row != null ? { cid: row.cid, price: row.price, maxConcurrency: row.max_concurrency, since: row.since } : undefined
  }

  list (): IndexedVersion[] {
    const rows = this.statements.get('SELECT * FROM versions ORDER BY name, added_at').all() as unknown as Row[]
    return rows.map(toVersion).sort((a, b) => a.name === b.name ? semver.rcompare(a.version, b.version) : a.name.localeCompare(b.name))
  }

  /**
   * Files kept outside any version (federated updates and aggregates, task specifications): gc
   * keeps every block of a pinned file DAG.
   */
  pin (cid: string, label: string): void {
    this.statements.get('INSERT INTO pins (cid, label, since) VALUES (?, ?, ?) ON CONFLICT (cid) DO NOTHING').run(cid, label, new Date().toISOString())
  }

  unpin (cid: string): boolean {
    return this.statements.get('DELETE FROM pins WHERE cid = ?').run(cid).changes > 0
  }

  /** Unpins every file whose label starts with `prefix`; returns how many. */
  unpinLabelled (prefix: string): number {
    return Number(this.statements.get('DELETE FROM pins WHERE substr(label, 1, length(?)) = ?').run(prefix, prefix).changes)
  }

  pins (): Pin[] {
    return this.statements.get('SELECT cid, label, since FROM pins ORDER BY since').all() as unknown as Pin[]
  }

  /** Federated jobs this node sponsors or takes part in; persisted so a restart carries on with them. */
  saveFederatedJob (job: StoredFederatedJob): void {
    this.statements.get(`INSERT INTO fl_jobs (job_id, role, settings, state, since) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (job_id) DO UPDATE SET settings = excluded.settings, state = excluded.state`).run(job.jobId, job.role, JSON.stringify(job.settings), JSON.stringify(job.state), job.since)
  }

  federatedJobs (): StoredFederatedJob[] {
    const rows = this.statements.get('SELECT job_id, role, settings, state, since FROM fl_jobs ORDER BY since').all() as unknown as Array<{ job_id: string, role: string, settings: string, state: string, since: string }>
    return rows.map(row => ({ jobId: row.job_id, role: row.role as StoredFederatedJob['role'], settings: JSON.parse(row.settings), state: JSON.parse(row.state), since: row.since }))
  }
}
