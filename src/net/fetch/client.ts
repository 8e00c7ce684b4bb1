import { lengthPrefixedStream } from '../lengthPrefixed.ts'
import { blockMatches, type BlockBytes } from '../../storage/blockstore.ts'
import { BaseError } from '../../errors.ts'
import { FETCH_IDLE_TIMEOUT_MS, FETCH_PROTOCOL, FETCH_STORES_IN_FLIGHT_PER_REQUEST, HAVE_TIMEOUT_MS, MAX_BLOCK_BYTES, MAX_FETCH_REQUEST_BYTES } from '../constants.ts'
import { decodeJson, encodeRequest, FRAME_BLOCK, FRAME_DENIED, FRAME_NOT_FOUND, MalformedMessageError, type HaveResponse, type ResolveResponse } from './messages.ts'
import type { AbortOptions, Libp2p, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** A provider sent bytes that do not hash to the CID it was asked for: it is lying or broken. */
export class CorruptBlockError extends BaseError {
  override name = 'CorruptBlockError'
  readonly peer: PeerId
  readonly cid: CID
  constructor (peer: PeerId, cid: CID) {
    super(`Peer ${peer.toString()} sent a block that does not match ${cid.toString()}.`, { code: 'PEER_SENT_CORRUPT_BLOCK', status: 502 })
    this.peer = peer
    this.cid = cid
  }
}

export type BlockOutcome = 'not-found' | 'denied'

export interface FetchClientComponents {
  libp2p: Pick<Libp2p, 'dialProtocol'>
}

function idleSignal (options: AbortOptions): { signal: AbortSignal, touch: () => void, clear: () => void } {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const touch = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => { controller.abort(new Error(`provider idle for ${FETCH_IDLE_TIMEOUT_MS} ms`)) }, FETCH_IDLE_TIMEOUT_MS)
  }
  touch()
  const signal = options.signal != null ? AbortSignal.any([options.signal, controller.signal]) : controller.signal
  return { signal, touch, clear: () => { clearTimeout(timer) } }
}

/**
 * Asks `peer` for blocks; calls `onBlock` with each one verified against its CID, in request order
 * (up to FETCH_STORES_IN_FLIGHT_PER_REQUEST calls may be pending at once).
 * Throws CorruptBlockError on the first block that does not verify. A block comes as the pieces it
 * arrived in (not joined into a copy): hash and write them as they are.
 */
export async function requestBlocks (
  { libp2p }: FetchClientComponents,
  peer: PeerId,
  cids: CID[],
  onBlock: (cid: CID, bytes: BlockBytes | BlockOutcome) => Promise<void> | void,
  options: AbortOptions = {}
): Promise<void> {
  const idle = idleSignal(options)
  const stream = await libp2p.dialProtocol(peer, FETCH_PROTOCOL, { signal: idle.signal })
  // The next frames are read and verified while earlier blocks are still being stored (file writes
  // wait on the thread pool); a failed store fails the request.
  const storing: Array<Promise<void>> = []
  let storeFailure: { error: unknown } | undefined
  const handOver = async (cid: CID, result: BlockBytes | BlockOutcome): Promise<void> => {
    storing.push((async () => { await onBlock(cid, result) })().catch(error => { storeFailure ??= { error } }))
    if (storing.length >= FETCH_STORES_IN_FLIGHT_PER_REQUEST) await storing.shift()
    if (storeFailure != null) throw storeFailure.error
  }
  try {
    // yamux grants window as data arrives, so nothing slows the sender down: the read buffer must hold
    // everything this request can bring while blocks are verified and stored.
    const lp = lengthPrefixedStream(stream, { maxDataLength: MAX_BLOCK_BYTES + 1, maxBufferSize: cids.length * (MAX_BLOCK_BYTES + 16) })
    await lp.write(encodeRequest({ op: 'get', cids }), { signal: idle.signal })
    for (const cid of cids) {
      const frame = await lp.read({ signal: idle.signal })
      idle.touch()
      const status = frame.get(0)
      if (status === FRAME_BLOCK) {
        const bytes = frame.sublist(1)
        if (!blockMatches(cid, bytes)) throw new CorruptBlockError(peer, cid)
        await handOver(cid, bytes)
      } else if (status === FRAME_NOT_FOUND || status === FRAME_DENIED) {
        await handOver(cid, status === FRAME_NOT_FOUND ? 'not-found' : 'denied')
      } else {
        throw new MalformedMessageError(`unknown frame status ${status}`)
      }
    }
    await Promise.all(storing)
    if (storeFailure != null) throw storeFailure.error
    await stream.close({ signal: idle.signal })
  } catch (err: any) {
    stream.abort(err)
    // The caller learns of the failure only once every block handed over is settled.
    await Promise.all(storing)
    throw err
  } finally {
    idle.clear()
  }
}

async function requestJson<T> ({ libp2p }: FetchClientComponents, peer: PeerId, request: Parameters<typeof encodeRequest>[0], options: AbortOptions): Promise<T> {
  const signal = AbortSignal.any([AbortSignal.timeout(HAVE_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
  const stream = await libp2p.dialProtocol(peer, FETCH_PROTOCOL, { signal })
  try {
    const lp = lengthPrefixedStream(stream, { maxDataLength: MAX_FETCH_REQUEST_BYTES })
    await lp.write(encodeRequest(request), { signal })
    const response = decodeJson<T>((await lp.read({ signal })).subarray())
    await stream.close({ signal })
    return response
  } catch (err: any) {
    stream.abort(err)
    throw err
  }
}

/** Which of `cids` the peer has (and would serve to us). */
export async function requestHave (components: FetchClientComponents, peer: PeerId, cids: CID[], options: AbortOptions = {}): Promise<boolean[]> {
  const response = await requestJson<HaveResponse>(components, peer, { op: 'have', cids }, options)
  if (!Array.isArray(response.have) || response.have.length !== cids.length) throw new MalformedMessageError('malformed "have" response')
  return response.have.map(value => value === true)
}

export async function requestResolve (components: FetchClientComponents, peer: PeerId, name: string, version: string | undefined, options: AbortOptions = {}): Promise<string | undefined> {
  const response = await requestJson<ResolveResponse>(components, peer, { op: 'resolve', name, ...(version != null ? { version } : {}) }, options)
  return typeof response.cid === 'string' ? response.cid : undefined
}
