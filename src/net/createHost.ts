import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Identity } from '../identity/identity.ts'

export interface CreateHostParameters {
  identity: Identity
  listen: string[]
}

export type Host = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>>, ping: ReturnType<ReturnType<typeof ping>> }>

/** The libp2p host; its key is the node key, so its PeerId maps to the node's EVM address. */
export async function createHost ({ identity, listen }: CreateHostParameters): Promise<Host> {
  return await createLibp2p({
    privateKey: identity.privateKey,
    start: false,
    addresses: { listen },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping()
    }
  })
}
