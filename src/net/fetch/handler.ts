import { lengthPrefixedStream } from '../lengthPrefixed.ts'
import { Uint8ArrayList } from 'uint8arraylist'
import { logger } from '../../utils/logger.ts'
import { FETCH_MAX_INBOUND_STREAMS, FETCH_MAX_OUTBOUND_STREAMS, FETCH_PROTOCOL, FETCH_REQUEST_TIMEOUT_MS, MAX_BLOCK_BYTES, MAX_FETCH_REQUEST_BYTES } from '../constants.ts'
import { decodeRequest, encodeJson, FRAME_BLOCK, FRAME_DENIED, FRAME_NOT_FOUND, MalformedMessageError } from './messages.ts'
import type { BlockStore } from '../../storage/blockstore.ts'
import type { RateLimiter } from '../../utils/rateLimiter.ts'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

const log = logger('net:fetch:server')

export interface FetchServerComponents {
  store: Pick<BlockStore, 'has' | 'getVerified'>
  /** Whether `peer` may receive `cid` (licences); everything is public when absent. */
  canServe?: (peer: PeerId, cid: CID) => Promise<boolean>
  /** `name@version` → manifest CID as this node knows it. */
  resolveName?: (name: string, version?: string) => string | undefined
  /** Limits upload bandwidth (`--serve-rate`). */
  rateLimiter?: RateLimiter
  /** Told of every block served (usage receipts). */
  onServed?: (peer: PeerId, cid: CID) => void
}

const FRAME_NOT_FOUND_BYTES = Uint8Array.of(FRAME_NOT_FOUND)
const FRAME_DENIED_BYTES = Uint8Array.of(FRAME_DENIED)
const FRAME_BLOCK_BYTES = Uint8Array.of(FRAME_BLOCK)

/** Serves `/mycelium/fetch/1.0.0`: one request per stream, then the response, then close. */
export async function registerFetchHandler (libp2p: Pick<Libp2p, 'handle'>, components: FetchServerComponents): Promise<void> {
  await libp2p.handle(FETCH_PROTOCOL, async (stream: Stream, connection: Connection) => {
    try {
      await serve(stream, connection.remotePeer, components)
    } catch (err: any) {
      // A malformed or oversized message resets this stream only; the node keeps serving others.
      log('resetting stream from %p: %s', connection.remotePeer, err.message)
      stream.abort(err)
    }
  }, { maxInboundStreams: FETCH_MAX_INBOUND_STREAMS, maxOutboundStreams: FETCH_MAX_OUTBOUND_STREAMS })
}

async function serve (stream: Stream, peer: PeerId, { store, canServe, resolveName, rateLimiter, onServed }: FetchServerComponents): Promise<void> {
  const lp = lengthPrefixedStream(stream, { maxDataLength: MAX_FETCH_REQUEST_BYTES })
  const request = decodeRequest((await lp.read({ signal: AbortSignal.timeout(FETCH_REQUEST_TIMEOUT_MS) })).subarray())
  const allowed = async (cid: CID): Promise<boolean> => canServe == null || await canServe(peer, cid)
  if (request.op === 'have') {
    // Presence only: a peer without a licence learns it is refused when it asks for the blocks.
    const have = await Promise.all(request.cids.map(async cid => await store.has(cid)))
    await lp.write(encodeJson({ have }))
  } else if (request.op === 'resolve') {
    await lp.write(encodeJson({ cid: resolveName?.(request.name, request.version) ?? null }))
  } else {
    for (const cid of request.cids) {
      if (!(await allowed(cid))) {
        await lp.write(FRAME_DENIED_BYTES)
        continue
      }
      let bytes: Uint8Array
      try {
        // Verified on read: a node never passes on a block that rotted on its disk.
        bytes = await store.getVerified(cid)
      } catch {
        await lp.write(FRAME_NOT_FOUND_BYTES)
        continue
      }
      if (bytes.byteLength > MAX_BLOCK_BYTES) throw new MalformedMessageError(`block ${cid} exceeds the block size limit`)
      await rateLimiter?.take(bytes.byteLength)
      await lp.write(new Uint8ArrayList(FRAME_BLOCK_BYTES, bytes))
      onServed?.(peer, cid)
    }
  }
  await stream.close()
}
