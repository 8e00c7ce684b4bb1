/**
 * onnxruntime sessions, loaded once per model file and kept while memory allows.
 *
 * - Single flight: concurrent requests for a key share one load.
 * - Budget: a session's memory is estimated as model file bytes × memoryFactor (default
 *   SESSION_MEMORY_FACTOR, see constants.ts). When the sum exceeds the budget, the least recently
 *   used idle sessions are released. The most recently used one always stays, so a model larger
 *   than the whole budget still runs (alone). Sessions in use (leased) are never released under a
 *   run; they go when their last lease ends, if evicted meanwhile.
 * - A failed load is not cached: the next request tries again.
 * - stop() releases every session (waiting for runs in progress to finish); start() reopens.
 *
 * Options favour latency: graph optimization 'all', sequential execution, memory arena and
 * memory-pattern planning on, intra-op threads from the options (0: onnxruntime's default, one per
 * physical core). onnxruntime-node runs sessions synchronously on the JavaScript thread, so runs
 * of a process never overlap and giving each run every core is the fastest choice.
 */
import { stat } from 'node:fs/promises'
import * as ort from 'onnxruntime-node'
import { logger } from '../utils/logger.ts'
import { DEFAULT_INTRA_OP_THREADS, DEFAULT_SESSION_BUDGET_BYTES, SESSION_MEMORY_FACTOR } from './constants.ts'
import { ModelLoadError, SessionsStoppedError } from './errors.ts'

const log = logger('inference:sessions')

/** Model bytes, or the path of a model file (onnxruntime then reads it, and finds external data beside it). */
export type ModelSource = Uint8Array | string

export interface SessionCacheOptions {
  /** Default DEFAULT_SESSION_BUDGET_BYTES (1 GiB). */
  budgetBytes?: number
  /** Estimated session memory per model byte. Default SESSION_MEMORY_FACTOR. */
  memoryFactor?: number
  /** Default DEFAULT_INTRA_OP_THREADS (0: onnxruntime chooses). */
  intraOpNumThreads?: number
  /** Merged over the defaults above, for anything else (e.g. executionProviders). */
  sessionOptions?: ort.InferenceSession.SessionOptions
}

export interface SessionLease {
  session: ort.InferenceSession
  /** True when the session was already loaded (or loading) before this request. */
  cached: boolean
  /** Ends the lease; idempotent. */
  release: () => void
}

export interface SessionCacheStats {
  sessions: number
  loading: number
  estimatedBytes: number
  budgetBytes: number
  hits: number
  misses: number
  evictions: number
}

interface Entry {
  key: string
  promise: Promise<ort.InferenceSession>
  session?: ort.InferenceSession
  estimatedBytes: number
  leases: number
  lastUsed: number
  /** Out of the cache; released when its last lease ends. */
  evicted: boolean
}

export class SessionCache {
  private readonly entries = new Map<string, Entry>()
  private readonly budgetBytes: number
  private readonly memoryFactor: number
  private readonly sessionOptions: ort.InferenceSession.SessionOptions
  private estimatedBytes = 0
  private clock = 0
  private running = true
  private hits = 0
  private misses = 0
  private evictions = 0
  /** Sessions out of the cache but still leased; stop() waits for them. */
  private readonly draining = new Set<Entry>()
  private drained: (() => void) | undefined

  constructor (options: SessionCacheOptions = {}) {
    this.budgetBytes = options.budgetBytes ?? DEFAULT_SESSION_BUDGET_BYTES
    this.memoryFactor = options.memoryFactor ?? SESSION_MEMORY_FACTOR
    const intraOpNumThreads = options.intraOpNumThreads ?? DEFAULT_INTRA_OP_THREADS
    this.sessionOptions = {
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      enableCpuMemArena: true,
      enableMemPattern: true,
      // Errors only: warnings such as "Removing initializer ..." would go to the node's stderr.
      logSeverityLevel: 3,
      ...(intraOpNumThreads > 0 ? { intraOpNumThreads } : {}),
      // onnxruntime's worker threads spin after each run by default, stealing the CPU the node's own
      // thread (HTTP, libp2p, the next request) needs on small machines.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
      ...options.sessionOptions
    }
  }

  start (): void {
    this.running = true
  }

  /** Refuses new requests, releases every session, and resolves once runs in progress have ended. */
  async stop (): Promise<void> {
    this.running = false
    await Promise.allSettled([...this.entries.values()].map(async (entry) => await entry.promise))
    for (const entry of [...this.entries.values()]) this.remove(entry)
    if (this.draining.size > 0) await new Promise<void>((resolve) => { this.drained = resolve })
  }

  /**
   * The session for `key` (e.g. `${modelCid}/${path}`), loading it with `load` unless it is loaded
   * or loading. The session is not leased: a caller that awaits anything before running it should
   * use acquire() instead, or it may be released by an eviction meanwhile.
   */
  async get (key: string, load: () => Promise<ModelSource>): Promise<ort.InferenceSession> {
    const lease = await this.acquire(key, load)
    lease.release()
    return lease.session
  }

  /** Like get(), holding the session until release(): it is not released under a run. */
  async acquire (key: string, load: () => Promise<ModelSource>): Promise<SessionLease> {
    if (!this.running) throw new SessionsStoppedError()
    let entry = this.entries.get(key)
    const cached = entry !== undefined
    if (entry === undefined) {
      this.misses++
      const created: Entry = { key, promise: undefined as unknown as Promise<ort.InferenceSession>, estimatedBytes: 0, leases: 0, lastUsed: 0, evicted: false }
      created.promise = this.load(created, load)
      this.entries.set(key, created)
      entry = created
    } else {
      this.hits++
    }
    entry.leases++
    entry.lastUsed = ++this.clock
    let session: ort.InferenceSession
    try {
      session = await entry.promise
    } catch (err) {
      entry.leases--
      throw err
    }
    const leased = entry
    let released = false
    return {
      session,
      cached,
      release: () => {
        if (released) return
        released = true
        leased.leases--
        if (leased.evicted) {
          if (leased.leases === 0) this.dispose(leased)
        } else {
          this.evict()
        }
      }
    }
  }

  has (key: string): boolean {
    return this.entries.get(key)?.session !== undefined
  }

  /** Drops a session (e.g. its model was removed); it is released once no run holds it. */
  delete (key: string): void {
    const entry = this.entries.get(key)
    if (entry !== undefined) this.remove(entry)
  }

  stats (): SessionCacheStats {
    let loading = 0
    let sessions = 0
    for (const entry of this.entries.values()) {
      if (entry.session !== undefined) sessions++
      else loading++
    }
    return { sessions, loading, estimatedBytes: this.estimatedBytes, budgetBytes: this.budgetBytes, hits: this.hits, misses: this.misses, evictions: this.evictions }
  }

  private async load (entry: Entry, load: () => Promise<ModelSource>): Promise<ort.InferenceSession> {
    const started = performance.now()
    try {
      const source = await load()
      const size = typeof source === 'string' ? (await stat(source)).size : source.byteLength
      let session: ort.InferenceSession
      try {
        session = typeof source === 'string'
          ? await ort.InferenceSession.create(source, this.sessionOptions)
          : await ort.InferenceSession.create(source, this.sessionOptions)
      } catch (err: any) {
        throw new ModelLoadError(`onnxruntime cannot load the model: ${firstLine(err?.message)}`, {
          cause: err,
          details: err?.message,
          hint: 'The file may use operators or an opset this onnxruntime does not support, or be corrupt; re-export it (e.g. with a lower opset).'
        })
      }
      if (this.entries.get(entry.key) !== entry || !this.running) {
        // Deleted or stopped while loading: this request still gets it, nobody keeps it.
        entry.session = session
        entry.evicted = true
        this.draining.add(entry)
        queueMicrotask(() => { if (entry.leases === 0) this.dispose(entry) })
        return session
      }
      entry.session = session
      entry.estimatedBytes = size * this.memoryFactor
      this.estimatedBytes += entry.estimatedBytes
      log('loaded %s (%d bytes, ~%d bytes resident) in %d ms', entry.key, size, entry.estimatedBytes, Math.round(performance.now() - started))
      this.evict()
      return session
    } catch (err) {
      if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key)
      throw err
    }
  }

  /** Releases least recently used idle sessions until the estimate fits the budget, keeping the most recently used one. */
  private evict (): void {
    if (this.estimatedBytes <= this.budgetBytes) return
    const loaded = [...this.entries.values()].filter((entry) => entry.session !== undefined)
    if (loaded.length <= 1) return
    const newest = loaded.reduce((a, b) => (a.lastUsed >= b.lastUsed ? a : b))
    const candidates = loaded.filter((entry) => entry !== newest && entry.leases === 0).sort((a, b) => a.lastUsed - b.lastUsed)
    for (const entry of candidates) {
      if (this.estimatedBytes <= this.budgetBytes) break
      log('evicting %s (~%d bytes) to fit the %d-byte budget', entry.key, entry.estimatedBytes, this.budgetBytes)
      this.evictions++
      this.remove(entry)
    }
  }

  private remove (entry: Entry): void {
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key)
    if (entry.evicted) return
    entry.evicted = true
    this.estimatedBytes -= entry.estimatedBytes
    if (entry.session === undefined) return // still loading: load() sees it was removed
    if (entry.leases === 0) this.dispose(entry)
    else this.draining.add(entry)
  }

  private dispose (entry: Entry): void {
    const session = entry.session
    entry.session = undefined
    this.draining.delete(entry)
    if (session !== undefined) {
      session.release().catch((err: unknown) => { log.error('releasing %s failed: %s', entry.key, (err as Error)?.message) })
    }
    if (this.draining.size === 0 && this.drained !== undefined) {
      const drained = this.drained
      this.drained = undefined
      drained()
    }
  }
}

function firstLine (message: unknown): string {
  return String(message ?? 'unknown error').split('\n')[0].trim()
}
