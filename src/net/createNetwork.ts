import fs from 'node:fs/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { createHeliaLight } from 'helia'
import { InvalidInputError } from '../errors.ts'
import { withCoalescedWrites } from './coalescedTcp.ts'
import { dhtProtocol } from './constants.ts'
import { noiseCrypto } from './noiseCrypto.ts'
import { tuneStreams } from './streamTuning.ts'
import type { Identity } from '../identity/identity.ts'
import type { GossipSub } from '@libp2p/gossipsub'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p, PeerDiscovery } from '@libp2p/interface'
import type { Helia } from '@helia/interface'
import type { Blockstore } from 'interface-blockstore'

export type NetworkServices = {
  identify: unknown
  identifyPush: unknown
  ping: unknown
  dht: KadDHT
  pubsub: GossipSub
}

export type Host = Libp2p<NetworkServices>

export interface CreateNetworkParameters {
  identity: Identity
  blockstore: Blockstore
  /** Nodes of other networks are not mixed: the DHT and the topics carry this id. */
  network: string
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  /** A libp2p private-network swarm key file (`/key/swarm/psk/1.0.0/`). */
  swarmKeyFile?: string
}

export interface Network {
  helia: Helia
  /** Available once started. */
  readonly host: Host
  start: () => Promise<void>
  stop: () => Promise<void>
}

/**
 * Helia built from its light parts around our own libp2p: no public gateways and no delegated
 * routing, so a node makes no request to anyone it was not told about.
 */
export async function createNetwork (parameters: CreateNetworkParameters): Promise<Network> {
  tuneStreams()
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  if (parameters.mdns) peerDiscovery.push(mdns({ serviceTag: `mycelium-${parameters.network}` }))
  if (parameters.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: parameters.bootstrap }))
  const connectionProtector = parameters.swarmKeyFile != null ? preSharedKey({ psk: await readSwarmKey(parameters.swarmKeyFile) }) : undefined

  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: parameters.blockstore }), {
    privateKey: parameters.identity.privateKey,
    addresses: { listen: parameters.listen },
    transports: [withCoalescedWrites(tcp()), webSockets()],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [yamux()],
    ...(connectionProtector != null ? { connectionProtector } : {}),
    peerDiscovery,
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      ping: ping(),
      dht: kadDHT({
        protocol: dhtProtocol(parameters.network),
        clientMode: false,
        // Private and loopback addresses are how peers on one LAN or machine reach each other.
        peerInfoMapper: passthroughMapper,
        allowQueryWithZeroPeers: true
      }),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false })
    }
  }))

  return {
    helia,
    get host () { return helia.libp2p as unknown as Host },
    async start () { await helia.start() },
    async stop () { await helia.stop() }
  }
}

async function readSwarmKey (file: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(file)
  } catch (err: any) {
    throw new InvalidInputError(`Cannot read the swarm key ${file}: ${err.code ?? err.message}.`, {
      hint: 'Create one with `myc swarm-key > swarm.key` and give every node of the private network the same file.'
    })
  }
}
