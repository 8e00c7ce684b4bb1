import { requestHave } from '../net/fetch/client.ts'
import { DHT_FIND_PROVIDERS_TIMEOUT_MS } from '../net/constants.ts'
import { logger } from '../utils/logger.ts'
import type { Announcer } from '../net/announce/announcer.ts'
import type { AbortOptions, Libp2p, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

const log = logger('transfer:providers')

export interface FindProvidersComponents {
  libp2p: Pick<Libp2p, 'getConnections' | 'dial' | 'dialProtocol' | 'contentRouting' | 'peerId'>
  announcer?: Pick<Announcer, 'providersOf'>
}

export interface FindProvidersOptions extends AbortOptions {
  /** A peer that was asked and did not confirm (said no, or failed to answer): why, for the error a failed fetch reports. */
  onUnconfirmed?: (peer: PeerId, why: string) => void
  /** Ask the DHT as well as connected peers and announcers. Default true. */
  dht?: boolean
}

/**
 * One round of provider discovery for a transfer (findProviders bound to its CID): the fetcher
 * says whether this round should ask the DHT, and learns of peers that did not confirm.
 */
export type DiscoveryRound = (options: { onUnconfirmed: (peer: PeerId, why: string) => void, dht: boolean }) => AsyncIterable<PeerId>

/**
 * Every peer that can serve `cid`, as soon as it is known: connected peers that say they have it,
 * peers that announced it on gossipsub, and providers found on the DHT. A peer is yielded only
 * once it confirmed it has the CID over the fetch protocol.
 */
export async function * findProviders (components: FindProvidersComponents, cid: CID, options: FindProvidersOptions = {}): AsyncGenerator<PeerId> {
  const { libp2p } = components
  const found: PeerId[] = []
  const asked = new Set<string>([libp2p.peerId.toString()])
  let wake: (() => void) | undefined
  let sourcesRunning = 0

  const confirm = async (peer: PeerId): Promise<void> => {
    const key = peer.toString()
    if (asked.has(key)) return
    asked.add(key)
    try {
      const [have] = await requestHave(components, peer, [cid], options)
      if (have) {
        found.push(peer)
        wake?.()
      } else {
        options.onUnconfirmed?.(peer, 'does not have it')
      }
    } catch (err: any) {
      log('%p cannot be asked for %c: %s', peer, cid, err.message)
      if (options.signal?.aborted !== true) options.onUnconfirmed?.(peer, `could not be asked whether it has it: ${err.message}`)
    }
  }
  const source = async (run: () => Promise<void>): Promise<void> => {
    sourcesRunning++
    try {
      await run()
    } catch (err: any) {
      if (options.signal?.aborted !== true) log('provider source failed: %s', err.message)
    } finally {
      sourcesRunning--
      wake?.()
    }
  }

  void source(async () => {
    await Promise.all(libp2p.getConnections().map(async connection => { await confirm(connection.remotePeer) }))
  })
  void source(async () => {
    await Promise.all((components.announcer?.providersOf(cid.toString()) ?? []).map(async ({ peer, multiaddrs }) => {
      if (asked.has(peer.toString())) return
      try {
        await libp2p.dial(multiaddrs.length > 0 ? multiaddrs : peer, options)
      } catch (err: any) {
        log('cannot dial announcer %p: %s', peer, err.message)
      }
      await confirm(peer)
    }))
  })
  if (options.dht !== false) {
    void source(async () => {
      const signal = AbortSignal.any([AbortSignal.timeout(DHT_FIND_PROVIDERS_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
      const pending: Array<Promise<void>> = []
      for await (const provider of libp2p.contentRouting.findProviders(cid, { signal })) {
        pending.push(confirm(provider.id))
      }
      await Promise.all(pending)
    })
  }

  while (true) {
    while (found.length > 0) yield found.shift()!
    if (sourcesRunning === 0) return
    await new Promise<void>(resolve => { wake = resolve })
  }
}
