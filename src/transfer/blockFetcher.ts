import { BaseError } from '../errors.ts'
import { CorruptBlockError, requestBlocks, type FetchClientComponents } from '../net/fetch/client.ts'
import { FETCH_BATCH_BYTES, FETCH_BATCH_MAX_BLOCKS, FETCH_MAX_PEER_FAILURES, FETCH_REQUESTS_IN_FLIGHT_PER_PEER } from '../net/constants.ts'
import { logger } from '../utils/logger.ts'
import type { BlockStore } from '../storage/blockstore.ts'
import type { DiscoveryRound } from './findProviders.ts'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

const log = logger('transfer:fetcher')

/** How long a peer that lacked a block is not asked for it again. */
const LACK_RETRY_MS = 2_000

/** Pause between discovery rounds that found nobody. */
const DISCOVERY_RETRY_MS = 500
/** Between discovery rounds during a transfer. */
const REDISCOVERY_MS = 2_000
/**
 * How often those rounds also ask the DHT. Connected peers and announcers are cheap to ask again;
 * a DHT lookup is a walk of many peers (and in a swarm every fetcher would make one every round).
 */
const DHT_REDISCOVERY_MS = 30_000

/** Leaves are 1 MiB; internal nodes are small. Used to size batches before sizes are known. */
const ASSUMED_BLOCK_BYTES = 1024 * 1024

export interface WantedBlock {
  cid: CID
  size?: number
}

export interface BlockFetcherComponents extends FetchClientComponents {
  store: Pick<BlockStore, 'put' | 'has'>
}

export type FetcherEvent =
  | { type: 'block', cid: CID, bytes: number, peer: PeerId }
  | { type: 'peer:added', peer: PeerId }
  | { type: 'peer:dropped', peer: PeerId, reason: string }

export class NoProvidersError extends BaseError {
  override name = 'NoProvidersError'
  constructor (missing: number, timeoutMs: number, reasons: string[]) {
    super(`No provider could supply ${missing} block(s) (after ${(timeoutMs / 1000).toFixed(1)} s).`, {
      code: 'NO_PROVIDERS',
      status: 504,
      details: reasons.length > 0 ? reasons.join('; ') : undefined,
      hint: 'Connect to a peer that has the model (`myc connect MULTIADDR`), or retry later; verified blocks fetched so far are kept, so a retry resumes.'
    })
  }
}

interface PeerState {
  peer: PeerId
  failures: number
  dropped: boolean
  /** CIDs this peer said it does not have (or will not serve us), and when: it may have them later. */
  lacks: Map<string, number>
  workers: number
}

/**
 * Fetches a set of blocks from many providers at once: every provider pulls batches from one shared
 * queue (faster peers take more), every block is verified against its CID before it is stored, a
 * peer that lies is dropped at once, one that fails is retried then dropped, and its unfinished
 * blocks go back to the queue for the others.
 */
export class BlockFetcher {
  private readonly components: BlockFetcherComponents
  private readonly peers = new Map<string, PeerState>()
  private readonly queue: WantedBlock[] = []
  private readonly pending = new Set<string>()
  private readonly reasons: string[] = []
  /** Peers asked during discovery that did not confirm, and why (the latest answer of each). */
  private readonly unconfirmed = new Map<string, string>()
  private readonly onEvent: (event: FetcherEvent) => void
  private readonly signal: AbortSignal | undefined
  private wake: (() => void) | undefined
  private failure: Error | undefined
  private discoveryDone = false
  /** Set by the owner once the transfer is over, which ends background discovery. */
  finished = false

  constructor (components: BlockFetcherComponents, options: AbortOptions & { onEvent?: (event: FetcherEvent) => void } = {}) {
    this.components = components
    this.onEvent = options.onEvent ?? (() => {})
    this.signal = options.signal
  }

  get activePeers (): number {
    return [...this.peers.values()].filter(state => !state.dropped).length
  }

  addPeer (peer: PeerId): void {
    const key = peer.toString()
    if (this.peers.has(key)) return
    const state: PeerState = { peer, failures: 0, dropped: false, lacks: new Map(), workers: 0 }
    this.peers.set(key, state)
    this.onEvent({ type: 'peer:added', peer })
    for (let i = 0; i < FETCH_REQUESTS_IN_FLIGHT_PER_PEER; i++) void this.work(state)
  }

  /**
   * Runs provider discovery in the background: rounds of `find` until a provider is found or
   * `patienceMs` is spent (a peer may answer slowly, announce late or appear on the DHT later).
   */
  discover (find: DiscoveryRound, patienceMs: number): void {
    const deadline = Date.now() + patienceMs
    const onUnconfirmed = (peer: PeerId, why: string): void => { this.unconfirmed.set(peer.toString(), why) }
    let lastDhtRound = 0
    const round = (dht: boolean): AsyncIterable<PeerId> => {
      if (dht) lastDhtRound = Date.now()
      return find({ onUnconfirmed, dht })
    }
    void (async () => {
      try {
        do {
          try {
            for await (const peer of round(true)) this.addPeer(peer)
          } catch {
            // A failed round only means fewer providers.
          }
          if (this.peers.size > 0 || this.aborted()) break
          await new Promise(resolve => setTimeout(resolve, DISCOVERY_RETRY_MS))
        } while (Date.now() < deadline)
      } finally {
        this.discoveryFinished()
      }
      // Keep looking while the transfer runs: peers that start fetching the same content later
      // (a swarm) become providers of what they already hold.
      while (this.peers.size > 0 && !this.aborted() && !this.finished) {
        await new Promise(resolve => setTimeout(resolve, REDISCOVERY_MS))
        if (this.finished || this.aborted()) break
        try {
          for await (const peer of round(Date.now() - lastDhtRound >= DHT_REDISCOVERY_MS)) this.addPeer(peer)
        } catch {
          // Fewer providers, nothing worse.
        }
      }
    })()
  }

  /** No more providers will be added: with none at all, waiting longer cannot help. */
  discoveryFinished (): void {
    this.discoveryDone = true
    this.wake?.()
  }

  /** Resolves when every wanted block is stored; rejects after `timeoutMs` without any progress. */
  async fetch (wanted: WantedBlock[], timeoutMs: number): Promise<void> {
    const fresh: WantedBlock[] = []
    for (const block of wanted) {
      const key = block.cid.toString()
      if (this.pending.has(key) || await this.components.store.has(block.cid)) continue
      this.pending.add(key)
      fresh.push(block)
    }
    // A random order: fetchers of one swarm then hold different blocks and can serve each other.
    for (let i = fresh.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[fresh[i], fresh[j]] = [fresh[j], fresh[i]]
    }
    this.queue.push(...fresh)
    this.kick()
    let lastProgress = Date.now()
    let lastPending = this.pending.size
    while (this.pending.size > 0) {
      this.signal?.throwIfAborted()
      if (this.failure != null) throw this.failure
      if (this.discoveryDone && (this.activePeers === 0 || this.everyoneRefuses())) {
        throw new NoProvidersError(this.pending.size, Date.now() - lastProgress, this.whyNot())
      }
      if (this.pending.size !== lastPending) {
        lastPending = this.pending.size
        lastProgress = Date.now()
      } else if (Date.now() - lastProgress > timeoutMs) {
        throw new NoProvidersError(this.pending.size, timeoutMs, this.whyNot())
      }
      await new Promise<void>(resolve => {
        this.wake = resolve
        setTimeout(resolve, 250)
      })
      // Workers stop when every queued block is lacked by their peer; lacks expire, so restart them.
      this.kick()
    }
  }

  private kick (): void {
    for (const state of this.peers.values()) {
      if (state.dropped) continue
      for (let i = state.workers; i < FETCH_REQUESTS_IN_FLIGHT_PER_PEER; i++) void this.work(state)
    }
  }

  private takeBatch (state: PeerState): WantedBlock[] {
    const batch: WantedBlock[] = []
    let bytes = 0
    for (let i = 0; i < this.queue.length && batch.length < FETCH_BATCH_MAX_BLOCKS && bytes < FETCH_BATCH_BYTES;) {
      const block = this.queue[i]
      if (this.lacking(state, block.cid.toString())) {
        i++
        continue
      }
      this.queue.splice(i, 1)
      batch.push(block)
      bytes += block.size ?? ASSUMED_BLOCK_BYTES
    }
    return batch
  }

  private async work (state: PeerState): Promise<void> {
    state.workers++
    try {
      while (!state.dropped && !this.aborted()) {
        const batch = this.takeBatch(state)
        if (batch.length === 0) return
        const remaining = new Map(batch.map(block => [block.cid.toString(), block]))
        try {
          await requestBlocks(this.components, state.peer, batch.map(block => block.cid), async (cid, result) => {
            const key = cid.toString()
            if (typeof result === 'string') {
              remaining.delete(key)
              state.lacks.set(key, Date.now())
              this.requeue([{ cid, size: batch.find(b => b.cid.equals(cid))?.size }])
              if ([...this.peers.values()].every(other => other.dropped || other.lacks.has(key))) {
                this.reasons.push(result === 'denied' ? `every provider refused block ${key}: a licence is needed (\`myc market buy|rent NAME\`)` : `no provider has block ${key}`)
              }
              return
            }
            await this.components.store.put(cid, result)
            // Only a stored block leaves the request's remainder: a failed write is requeued with it.
            remaining.delete(key)
            this.pending.delete(key)
            this.onEvent({ type: 'block', cid, bytes: result.byteLength, peer: state.peer })
            this.wake?.()
          }, { signal: this.signal })
          state.failures = 0
        } catch (err: any) {
          this.requeue([...remaining.values()])
          if (this.aborted()) return
          if (err instanceof CorruptBlockError) {
            this.drop(state, `sent a corrupt block ${err.cid.toString()}`)
            return
          }
          state.failures++
          log('peer %p failed (%d): %s', state.peer, state.failures, err.message)
          if (state.failures >= FETCH_MAX_PEER_FAILURES) {
            this.drop(state, `failed ${state.failures} times: ${err.message}`)
            return
          }
          await new Promise(resolve => setTimeout(resolve, 200 * state.failures))
        }
      }
    } finally {
      state.workers--
    }
  }

  /** Nothing in flight and every remaining block refused by every provider: waiting cannot help. */
  /** Why blocks are missing: what providers did, else the peers asked that did not confirm, else that none was found. */
  private whyNot (): string[] {
    if (this.reasons.length > 0) return this.reasons.slice(-5)
    if (this.unconfirmed.size === 0) return ['no connected peer, announcer or DHT provider has it']
    return [...this.unconfirmed].slice(-5).map(([peer, why]) => `${peer} ${why}`)
  }

  private everyoneRefuses (): boolean {
    if (this.queue.length !== this.pending.size) return false
    const active = [...this.peers.values()].filter(state => !state.dropped)
    return this.queue.every(block => active.every(state => state.lacks.has(block.cid.toString())))
  }

  /** A peer that lacked a block is asked again after a while: in a swarm, peers fill up as they fetch. */
  private lacking (state: PeerState, key: string): boolean {
    const since = state.lacks.get(key)
    if (since == null) return false
    if (Date.now() - since < LACK_RETRY_MS) return true
    state.lacks.delete(key)
    return false
  }

  private aborted (): boolean {
    return this.signal?.aborted === true
  }

  private requeue (blocks: WantedBlock[]): void {
    if (blocks.length === 0) return
    this.queue.unshift(...blocks)
    this.kick()
  }

  private drop (state: PeerState, reason: string): void {
    if (state.dropped) return
    state.dropped = true
    this.reasons.push(`${state.peer.toString()} ${reason}`)
    log('dropping %p: %s', state.peer, reason)
    this.onEvent({ type: 'peer:dropped', peer: state.peer, reason })
    this.wake?.()
  }
}
