import { addressFromPeerId } from '../../identity/identity.ts'
import { lengthPrefixedStream } from '../../net/lengthPrefixed.ts'
import { concatBytes } from '../../utils/bytes.ts'
import { BaseError } from '../../errors.ts'
import { MalformedMessageError } from '../../net/fetch/messages.ts'
import { decodeOipResponse, encodeOipRequest } from '../codecs/oip.ts'
import { Deadline } from './deadline.ts'
import { INFER_IDLE_STREAMS_PER_PEER, INFER_MAX_RESPONSE_BYTES, INFER_PROTOCOL, INFER_REQUEST_TIMEOUT_MS, INFER_STREAM_REUSE_MS, INFER_STREAMS_PROTOCOL } from '../constants.ts'
import { signedBy } from '../../identity/secp256k1.ts'
import { hashInferenceReceipt, hashPayload, newNonce, requestStructHash, signRequest, type InferenceReceipt, type InferenceRequestTerms } from './inferenceReceipt.ts'
import { encodeJson, type InferEnvelope, type InferReply, type ServiceInfo, type WirePayment } from './messages.ts'
import type { Hex, LocalAccount } from 'viem'
import type { Tensor } from '../tensor.ts'
import type { AbortOptions, Libp2p, PeerId, Stream } from '@libp2p/interface'

/** An error the provider answered with; 4xx means the request itself was wrong (no point retrying elsewhere). */
export class RemoteInferenceError extends BaseError {
  override name = 'RemoteInferenceError'
  constructor (peer: PeerId, status: number, message: string) {
    super(message, { status, code: status < 500 ? 'REMOTE_BAD_REQUEST' : 'REMOTE_FAILED', details: `provider ${peer.toString()}` })
  }
}

export interface RemoteInferParameters extends AbortOptions {
  model: string
  inputs: readonly Tensor[]
  outputs?: readonly string[]
  file?: string
}

export interface RemoteCallParameters extends RemoteInferParameters {
  /** The client's key: it signs the request terms. */
  account: LocalAccount
  /** The provider's price per call (token base units), as it announced it. */
  price: bigint
  /** A voucher for this call, when the price is above zero. */
  payment?: (terms: InferenceRequestTerms) => Promise<WirePayment | undefined>
}

type LengthPrefixedStream = ReturnType<typeof lengthPrefixedStream>

/** A stream to a provider with its reader (a stream's reader keeps what it buffered, so it goes with the stream). */
interface CallStream {
  stream: Stream
  lp: LengthPrefixedStream
  /** Whether the provider takes several calls on it (INFER_STREAMS_PROTOCOL). */
  several: boolean
  /** While idle: takes it out of the idle list (and stops watching it). */
  forget?: () => void
}

/** Idle streams per node and provider, for the next call (see INFER_STREAM_IDLE_MS). */
const idleStreams = new WeakMap<object, Map<string, CallStream[]>>()

function usable (stream: Stream): boolean {
  return stream.status === 'open' && stream.writeStatus === 'writable' && stream.remoteWriteStatus === 'writable' && stream.readStatus === 'readable'
}

function takeIdle (libp2p: object, peer: PeerId): CallStream | undefined {
  const idle = idleStreams.get(libp2p)?.get(peer.toString())
  while (idle != null && idle.length > 0) {
    const entry = idle[idle.length - 1]
    entry.forget?.()
    if (usable(entry.stream)) return entry
    entry.stream.abort(new Error('stale idle stream'))
  }
  return undefined
}

function closeStream (stream: Stream): void {
  stream.close().catch(err => { stream.abort(err) })
}

function putIdle (libp2p: object, peer: PeerId, entry: CallStream): void {
  let byPeer = idleStreams.get(libp2p)
  if (byPeer == null) {
    byPeer = new Map()
    idleStreams.set(libp2p, byPeer)
  }
  const key = peer.toString()
  const idle = byPeer.get(key) ?? []
  if (!usable(entry.stream) || idle.length >= INFER_IDLE_STREAMS_PER_PEER) {
    closeStream(entry.stream)
    return
  }
  idle.push(entry)
  byPeer.set(key, idle)
  // Forgotten when taken, when the provider closes it or the connection goes, or when idle too long.
  const gone = (): void => {
    entry.forget?.()
    closeStream(entry.stream)
  }
  const expiry = setTimeout(gone, INFER_STREAM_REUSE_MS)
  expiry.unref()
  entry.stream.addEventListener('close', gone)
  entry.stream.addEventListener('remoteCloseWrite', gone)
  entry.forget = () => {
    entry.forget = undefined
    clearTimeout(expiry)
    entry.stream.removeEventListener('close', gone)
    entry.stream.removeEventListener('remoteCloseWrite', gone)
    const index = idle.indexOf(entry)
    if (index >= 0) idle.splice(index, 1)
    if (idle.length === 0 && byPeer.get(key) === idle) byPeer.delete(key)
  }
}

/**
 * One request and its answer, on an idle stream to `peer` if there is one, else on a new one. A
 * reused stream can have been closed by the provider just as the request went out; then, and only
 * if nothing of the answer came back, the same request goes once more on a new stream (resending it
 * is safe: same nonce, same voucher, and a provider refuses a voucher it has already accepted, so a
 * call cannot be paid twice).
 */
async function exchange (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, envelope: InferEnvelope, binary: Uint8Array[], options: AbortOptions): Promise<{ reply: InferReply, binary: Uint8Array }> {
  const deadline = new Deadline(INFER_REQUEST_TIMEOUT_MS)
  try {
    return await sendAndReceive(libp2p, peer, [encodeJson(envelope), concatBytes(binary)], options.signal != null ? AbortSignal.any([deadline.signal, options.signal]) : deadline.signal)
  } finally {
    deadline.clear()
  }
}

async function sendAndReceive (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, message: Uint8Array[], signal: AbortSignal): Promise<{ reply: InferReply, binary: Uint8Array }> {
  for (let reused = takeIdle(libp2p, peer); ; reused = undefined) {
    const entry = reused ?? await openStream(libp2p, peer, signal)
    let answered = false
    try {
      await entry.lp.writeV(message, { signal })
      const header = (await entry.lp.read({ signal })).subarray()
      answered = true
      const data = (await entry.lp.read({ signal })).subarray()
      let reply: InferReply
      try {
        reply = JSON.parse(new TextDecoder().decode(header))
      } catch {
        throw new MalformedMessageError('the provider answered with malformed JSON')
      }
      if (entry.several) putIdle(libp2p, peer, entry)
      else closeStream(entry.stream)
      return { reply, binary: data }
    } catch (err: any) {
      entry.stream.abort(err)
      if (reused == null || answered || signal.aborted) throw err
    }
  }
}

async function openStream (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, signal: AbortSignal): Promise<CallStream> {
  const stream = await libp2p.dialProtocol(peer, [INFER_STREAMS_PROTOCOL, INFER_PROTOCOL], { signal })
  return { stream, lp: lengthPrefixedStream(stream, { maxDataLength: INFER_MAX_RESPONSE_BYTES }), several: stream.protocol === INFER_STREAMS_PROTOCOL }
}

/**
 * Runs one inference on `peer` over `/mycelium/infer/1.1.0` (or 1.0.0): signs the terms (model, input hash,
 * price, nonce, both addresses), pays if asked, and checks the provider's receipt — its signature and
 * that the output hash is that of what was received.
 */
export async function requestRemoteInference (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, { model, inputs, outputs, file, signal, account, price, payment }: RemoteCallParameters): Promise<{ modelName: string, modelVersion?: string, outputs: Tensor[], receipt: InferenceReceipt, receiptHash: Hex }> {
  const encoded = encodeOipRequest(inputs, { binary: true, ...(outputs != null ? { outputs: [...outputs] } : {}), ...(file != null ? { parameters: { file } } : {}) })
  const terms: InferenceRequestTerms = {
    model,
    inputHash: hashPayload([encodeJson(encoded.json), concatBytes(encoded.binary)]),
    price,
    nonce: newNonce(),
    client: account.address,
    provider: addressFromPeerId(peer)
  }
  const requestHash = requestStructHash(terms)
  const clientSignature = await signRequest(account, terms, requestHash)
  const voucher = price > 0n ? await payment?.(terms) : undefined
  const { reply, binary } = await exchange(libp2p, peer, {
    op: 'infer',
    model,
    request: encoded.json,
    terms: { ...terms, price: price.toString() },
    clientSignature,
    ...(voucher != null ? { payment: voucher } : {})
  }, encoded.binary, { signal })
  if (!reply.ok) throw new RemoteInferenceError(peer, reply.status, reply.error)
  if (!('response' in reply)) throw new MalformedMessageError('the provider answered without a response')
  // The receipt must carry exactly our signed terms (so our own signature in it needs no re-check),
  // the hash of what we received, and the provider's signature.
  const receipt: InferenceReceipt = { request: terms, clientSignature, outputHash: reply.receipt.outputHash, providerSignature: reply.receipt.providerSignature }
  const sameTerms = reply.receipt.clientSignature === clientSignature && reply.receipt.request.nonce === terms.nonce && reply.receipt.request.price === price.toString()
  let receiptHash: Hex | undefined
  try {
    if (sameTerms) receiptHash = hashInferenceReceipt(receipt, requestHash)
  } catch {
    // An output hash that is not 32 bytes: no receipt of this call.
  }
  if (receiptHash == null || receipt.outputHash !== hashPayload([encodeJson(reply.response), binary]) || !signedBy(receiptHash, receipt.providerSignature, peer.publicKey!.raw)) {
    throw new RemoteInferenceError(peer, 502, 'The provider\'s receipt does not match the call.')
  }
  return { ...decodeOipResponse(reply.response, binary), receipt, receiptHash }
}


export async function requestServiceInfo (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, model: string, options: AbortOptions = {}): Promise<ServiceInfo> {
  const { reply } = await exchange(libp2p, peer, { op: 'info', model }, [], options)
  if (!reply.ok || !('info' in reply)) throw new MalformedMessageError('the provider answered without service info')
  return reply.info
}
