import { lengthPrefixedStream } from '../../net/lengthPrefixed.ts'
import { toMultiaddrs } from '../../net/announce/announcer.ts'
import { logger } from '../../utils/logger.ts'
import { FL_MAX_INBOUND_STREAMS, FL_PROTOCOL, FL_STREAM_TIMEOUT_MS, flTopic, MAX_FL_MESSAGE_BYTES } from './constants.ts'
import { decodeGossip, decodeRequest, decodeResponse, encodeMessage, type FlHint, type FlPeerStatus, type FlResponse } from './messages.ts'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { AbortOptions, Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const log = logger('fl:messenger')

const MAX_PROVIDERS_PER_CID = 32
const MAX_REMEMBERED_CIDS = 10_000

export interface FlMessengerComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getConnections' | 'getMultiaddrs'>
  pubsub: Pick<GossipSub, 'subscribe' | 'unsubscribe' | 'publish' | 'addEventListener' | 'removeEventListener'>
  /** Answers status queries about a job. */
  statusOf: (jobId: string) => FlPeerStatus
}

export interface ReceivedHint { hint: FlHint, from: PeerId }

/**
 * Round messages of federated jobs. A hint goes out twice: on the network's FL gossipsub topic (it
 * reaches everyone, eventually) and straight to every connected peer over `/mycelium/fl/1.0.0` (it
 * reaches them now, even before a fresh gossip mesh has formed). Received hints tell whom to fetch a
 * file from; the protocol also answers "what are you doing in job J?".
 */
export class FlMessenger {
  private readonly components: FlMessengerComponents
  private readonly topic: string
  private readonly providers = new Map<string, Map<string, { peer: PeerId, multiaddrs: Multiaddr[] }>>()
  private readonly listeners = new Set<(received: ReceivedHint) => void>()
  private readonly onMessage = (event: CustomEvent<Message>): void => {
    const message = event.detail
    if (message.topic !== this.topic || message.type !== 'signed') return
    try {
      const { hint, addrs } = decodeGossip(message.data)
      this.receive(hint, message.from, addrs)
    } catch (err: any) {
      log('ignoring a malformed gossip message from %p: %s', message.from, err.message)
    }
  }

  constructor (components: FlMessengerComponents, network: string) {
    this.components = components
    this.topic = flTopic(network)
  }

  async start (): Promise<void> {
    this.components.pubsub.addEventListener('message', this.onMessage)
    this.components.pubsub.subscribe(this.topic)
    await this.components.libp2p.handle(FL_PROTOCOL, async (stream: Stream, connection: Connection) => {
      try {
        await this.serve(stream, connection)
      } catch (err: any) {
        // Malformed, oversized or too slow: reset this stream, keep serving everyone else.
        log('resetting fl stream from %p: %s', connection.remotePeer, err.message)
        stream.abort(err)
      }
    }, { maxInboundStreams: FL_MAX_INBOUND_STREAMS })
  }

  async stop (): Promise<void> {
    this.components.pubsub.removeEventListener('message', this.onMessage)
    this.components.pubsub.unsubscribe(this.topic)
    await this.components.libp2p.unhandle(FL_PROTOCOL)
  }

  onHint (listener: (received: ReceivedHint) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Peers that said they hold `cid`. */
  providersOf (cid: string): Array<{ peer: PeerId, multiaddrs: Multiaddr[] }> {
    return [...(this.providers.get(cid)?.values() ?? [])]
  }

  /** Tells the network: on gossip, and directly to every connected peer. Never throws. */
  async broadcast (hint: FlHint, options: AbortOptions = {}): Promise<void> {
    const addrs = this.components.libp2p.getMultiaddrs().map(ma => ma.toString()).slice(0, 16)
    const bytes = encodeMessage({ hint, addrs })
    try {
      await this.components.pubsub.publish(this.topic, bytes)
    } catch (err: any) {
      log('gossiping %s failed: %s', hint.type, err.message)
    }
    const peers = new Map(this.components.libp2p.getConnections().map(c => [c.remotePeer.toString(), c.remotePeer]))
    await Promise.allSettled([...peers.values()].map(async peer => {
      try {
        await this.request(peer, { op: 'hint', hint, addrs }, options)
      } catch (err: any) {
        log('sending a %s hint to %p failed: %s', hint.type, peer, err.message)
      }
    }))
  }

  /** What `peer` says it is doing in a job. */
  async statusOf (peer: PeerId, jobId: string, options: AbortOptions = {}): Promise<FlPeerStatus> {
    const response = await this.request(peer, { op: 'status', jobId }, options)
    if (!response.ok) throw new Error(response.error)
    if (!('status' in response)) throw new Error('the peer answered without a status')
    return response.status
  }

  private async request (peer: PeerId, message: unknown, options: AbortOptions): Promise<FlResponse> {
    const signal = AbortSignal.any([AbortSignal.timeout(FL_STREAM_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
    const stream = await this.components.libp2p.dialProtocol(peer, FL_PROTOCOL, { signal })
    try {
      const lp = lengthPrefixedStream(stream, { maxDataLength: MAX_FL_MESSAGE_BYTES })
      await lp.write(encodeMessage(message), { signal })
      const response = decodeResponse((await lp.read({ signal })).subarray())
      await stream.close({ signal })
      return response
    } catch (err: any) {
      stream.abort(err)
      throw err
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const lp = lengthPrefixedStream(stream, { maxDataLength: MAX_FL_MESSAGE_BYTES })
    const signal = AbortSignal.timeout(FL_STREAM_TIMEOUT_MS)
    const request = decodeRequest((await lp.read({ signal })).subarray())
    let response: FlResponse
    if (request.op === 'hint') {
      this.receive(request.hint, connection.remotePeer, request.addrs)
      response = { ok: true }
    } else {
      response = { ok: true, status: this.components.statusOf(request.jobId) }
    }
    await lp.write(encodeMessage(response), { signal })
    await stream.close({ signal })
  }

  private receive (hint: FlHint, from: PeerId, addrs: string[]): void {
    if (hint.type !== 'job') {
      let byPeer = this.providers.get(hint.cid)
      if (byPeer == null) {
        if (this.providers.size >= MAX_REMEMBERED_CIDS) this.providers.delete(this.providers.keys().next().value!)
        byPeer = new Map()
        this.providers.set(hint.cid, byPeer)
      }
      if (byPeer.size < MAX_PROVIDERS_PER_CID) byPeer.set(from.toString(), { peer: from, multiaddrs: toMultiaddrs(addrs) })
    }
    for (const listener of this.listeners) listener({ hint, from })
  }
}
