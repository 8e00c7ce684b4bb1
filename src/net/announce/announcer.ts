import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { logger } from '../../utils/logger.ts'
import { announceTopic, MAX_ANNOUNCEMENT_BYTES } from '../constants.ts'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

const log = logger('net:announce')

/** What travels on the announce topic: CIDs and names, never weights. */
export interface VersionAnnouncement {
  type: 'version'
  cid: string
  name: string
  version: string
  /** Where the announcer can be dialled. */
  addrs: string[]
}

/** A node offering inference on a version (`myc serve`). */
export interface ServiceAnnouncement {
  type: 'service'
  cid: string
  name: string
  version: string
  /** Token base units per call, as a decimal string. */
  price: string
  addrs: string[]
}

export type Announcement = VersionAnnouncement | ServiceAnnouncement

export type ReceivedAnnouncement = Announcement & {
  /** The signer: gossipsub's StrictSign policy has checked the message signature against it. */
  from: PeerId
  multiaddrs: Multiaddr[]
}

export interface KnownService {
  peer: PeerId
  multiaddrs: Multiaddr[]
  price: string
}

export interface AnnouncerComponents {
  pubsub: Pick<GossipSub, 'subscribe' | 'unsubscribe' | 'publish' | 'addEventListener' | 'removeEventListener'>
  getMultiaddrs: () => Multiaddr[]
}

const MAX_NAMES = 10_000
const MAX_PROVIDERS_PER_CID = 32

/**
 * Publishes and hears version announcements on `/mycelium/<network>/announce/1`, and remembers
 * who announced what (a provider hint for pulls, a name hint for resolving).
 */
export class Announcer {
  private readonly components: AnnouncerComponents
  private readonly topic: string
  private readonly providers = new Map<string, Map<string, { peer: PeerId, multiaddrs: Multiaddr[] }>>()
  private readonly names = new Map<string, Map<string, string>>()
  private readonly services = new Map<string, Map<string, KnownService>>()
  private readonly listeners = new Set<(announcement: ReceivedAnnouncement) => void>()
  private readonly onMessage = (event: CustomEvent<Message>): void => { this.receive(event.detail) }

  constructor (components: AnnouncerComponents, network: string) {
    this.components = components
    this.topic = announceTopic(network)
  }

  start (): void {
    this.components.pubsub.addEventListener('message', this.onMessage)
    this.components.pubsub.subscribe(this.topic)
  }

  stop (): void {
    this.components.pubsub.removeEventListener('message', this.onMessage)
    this.components.pubsub.unsubscribe(this.topic)
  }

  onAnnouncement (listener: (announcement: ReceivedAnnouncement) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async announce ({ cid, name, version }: { cid: string, name: string, version: string }): Promise<void> {
    await this.publish({ type: 'version', cid, name, version, addrs: this.addrs() })
  }

  async announceService ({ cid, name, version, price }: { cid: string, name: string, version: string, price: string }): Promise<void> {
    await this.publish({ type: 'service', cid, name, version, price, addrs: this.addrs() })
  }

  /** Inference providers heard of for a version. */
  servicesOf (cid: string): KnownService[] {
    return [...(this.services.get(cid)?.values() ?? [])]
  }

  private addrs (): string[] {
    return this.components.getMultiaddrs().map(ma => ma.toString())
  }

  private async publish (message: Announcement): Promise<void> {
    const { cid } = message
    try {
      await this.components.pubsub.publish(this.topic, new TextEncoder().encode(JSON.stringify(message)))
    } catch (err: any) {
      log('announcing %s failed: %s', cid, err.message)
    }
  }

  providersOf (cid: string): Array<{ peer: PeerId, multiaddrs: Multiaddr[] }> {
    return [...(this.providers.get(cid)?.values() ?? [])]
  }

  /** Versions of `name` heard of, version → manifest CID. */
  versionsOf (name: string): Map<string, string> {
    return this.names.get(name) ?? new Map()
  }

  private receive (message: Message): void {
    if (message.topic !== this.topic || message.type !== 'signed') return
    const announcement = parseAnnouncement(message.data)
    if (announcement == null) {
      log('ignoring a malformed announcement from %p', message.from)
      return
    }
    const received: ReceivedAnnouncement = { ...announcement, from: message.from, multiaddrs: toMultiaddrs(announcement.addrs) }
    this.remember(received)
    for (const listener of this.listeners) listener(received)
  }

  private remember (announcement: ReceivedAnnouncement): void {
    if (announcement.type === 'service') {
      const byPeer = this.services.get(announcement.cid) ?? new Map<string, KnownService>()
      if (byPeer.size < MAX_PROVIDERS_PER_CID) byPeer.set(announcement.from.toString(), { peer: announcement.from, multiaddrs: announcement.multiaddrs, price: announcement.price })
      this.services.set(announcement.cid, byPeer)
      return
    }
    let byPeer = this.providers.get(announcement.cid)
    if (byPeer == null) {
      byPeer = new Map()
      this.providers.set(announcement.cid, byPeer)
    }
    if (byPeer.size < MAX_PROVIDERS_PER_CID) byPeer.set(announcement.from.toString(), { peer: announcement.from, multiaddrs: announcement.multiaddrs })
    if (this.names.size < MAX_NAMES || this.names.has(announcement.name)) {
      const versions = this.names.get(announcement.name) ?? new Map<string, string>()
      versions.set(announcement.version, announcement.cid)
      this.names.set(announcement.name, versions)
    }
  }
}

export function parseAnnouncement (data: Uint8Array): Announcement | undefined {
  if (data.byteLength > MAX_ANNOUNCEMENT_BYTES) return undefined
  try {
    const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data))
    if ((value?.type !== 'version' && value?.type !== 'service') || typeof value.name !== 'string' || typeof value.version !== 'string' || !Array.isArray(value.addrs)) return undefined
    CID.parse(value.cid)
    const common = { cid: value.cid, name: value.name, version: value.version, addrs: value.addrs.filter((a: unknown) => typeof a === 'string').slice(0, 16) }
    if (value.type === 'version') return { type: 'version', ...common }
    if (typeof value.price !== 'string' || !/^\d{1,78}$/.test(value.price)) return undefined
    return { type: 'service', ...common, price: value.price }
  } catch {
    return undefined
  }
}

export function toMultiaddrs (addrs: string[]): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const addr of addrs) {
    try {
      out.push(multiaddr(addr))
    } catch {
      // An unparseable address is only a hint we cannot use.
    }
  }
  return out
}
