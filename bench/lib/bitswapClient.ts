import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createHeliaLight } from 'helia'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'

export interface BitswapClient {
  /** Dials a peer (a full multiaddr with /p2p/) so bitswap can send it wantlists. */
  connect: (address: string) => Promise<void>
  /**
   * Walks the UnixFS file DAG at `cid` through the Helia blockstore, which fetches every block it
   * lacks over bitswap (and checks it against its CID); resolves with the file's byte count.
   * Rejects when no new bytes arrived for `idleTimeoutMs`: a lost want must not hang the bench.
   */
  readFile: (cid: string, options: { blockReadConcurrency: number, idleTimeoutMs: number }) => Promise<number>
  stop: () => Promise<void>
}

/**
 * A plain Helia light node as any IPFS peer would run it: TCP, Noise, Yamux, identify and bitswap,
 * an in-memory blockstore (Helia's default) and nothing else — no routing, no listening address.
 */
export async function startBitswapClient (): Promise<BitswapClient> {
  const helia = withBitswap(withLibp2pLight(createHeliaLight(), {
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  }))
  await helia.start()
  return {
    connect: async address => { await helia.libp2p.dial(multiaddr(address)) },
    async readFile (cid, { blockReadConcurrency, idleTimeoutMs }) {
      const controller = new AbortController()
      let bytes = 0
      let timer: NodeJS.Timeout | undefined
      const touch = (): void => {
        clearTimeout(timer)
        timer = setTimeout(() => { controller.abort(new Error(`bitswap delivered nothing for ${idleTimeoutMs / 1000} s (${bytes} bytes so far)`)) }, idleTimeoutMs)
      }
      touch()
      try {
        const entry = await exporter(CID.parse(cid), helia.blockstore, { signal: controller.signal })
        if (entry.type !== 'file') throw new Error(`${cid} is a ${entry.type}, not a file`)
        for await (const chunk of entry.content({ blockReadConcurrency, signal: controller.signal })) {
          bytes += chunk.byteLength
          touch()
        }
        return bytes
      } catch (err) {
        throw controller.signal.aborted ? controller.signal.reason : err
      } finally {
        clearTimeout(timer)
      }
    },
    stop: async () => { await helia.stop() }
  }
}
