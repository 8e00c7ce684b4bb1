import { addressFromPeerId } from '../../identity/identity.ts'
import { lengthPrefixedStream } from '../../net/lengthPrefixed.ts'
import { concatBytes } from '../../utils/bytes.ts'
import { BaseError, InvalidInputError } from '../../errors.ts'
import { hashPayload, requestSignedBy, requestStructHash, signReceipt, type InferenceReceipt, type InferenceRequestTerms } from './inferenceReceipt.ts'
import { logger } from '../../utils/logger.ts'
import { decodeOipRequest, encodeOipError, encodeOipResponse } from '../codecs/oip.ts'
import { INFER_MAX_QUEUED, INFER_MAX_REQUEST_BYTES, INFER_PROTOCOL, INFER_READ_TIMEOUT_MS, INFER_STREAM_IDLE_MS, INFER_STREAMS_PROTOCOL } from '../constants.ts'
import { Deadline } from './deadline.ts'
import { decodeEnvelope, encodeJson, type InferEnvelope, type InferReply, type ServiceInfo, type WirePayment } from './messages.ts'
import type { Hex, LocalAccount } from 'viem'
import type { RunInferenceParameters, RunInferenceReturnType } from '../runInference.ts'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'

const log = logger('inference:remote:server')

export interface InferServerComponents {
  /** The service offered for a model CID, if this node serves it. */
  serviceFor: (model: string) => ServiceInfo | undefined
  run: (parameters: RunInferenceParameters & { peer: PeerId }) => Promise<RunInferenceReturnType>
  /** The provider's key: it signs every receipt. */
  account: LocalAccount
  /** Throws (402) unless the payment covers the price; accepts it when it does. `clientKey`: the calling peer's public key. */
  acceptPayment?: (terms: InferenceRequestTerms, payment: WirePayment | undefined, clientKey: Uint8Array) => Promise<void>
  /** Every receipt this provider signed (to keep and anchor). */
  onReceipt?: (receipt: InferenceReceipt, hash: Hex) => void
}

/** Limits concurrent runs per served model; a full queue answers "busy" instead of piling up. */
class Gate {
  private running = 0
  private readonly queue: Array<() => void> = []
  async enter (limit: number): Promise<boolean> {
    if (this.running < limit) {
      this.running++
      return true
    }
    if (this.queue.length >= INFER_MAX_QUEUED) return false
    await new Promise<void>(resolve => this.queue.push(resolve))
    this.running++
    return true
  }

  leave (): void {
    this.running--
    this.queue.shift()?.()
  }
}

export async function registerInferHandler (libp2p: Pick<Libp2p, 'handle'>, components: InferServerComponents): Promise<void> {
  const gates = new Map<string, Gate>()
  const handler = (several: boolean) => async (stream: Stream, connection: Connection): Promise<void> => {
    try {
      await serve(stream, connection.remotePeer, components, gates, several)
    } catch (err: any) {
      // Malformed or oversized: reset this stream, keep serving everyone else.
      log('resetting infer stream from %p: %s', connection.remotePeer, err.message)
      stream.abort(err)
    }
  }
  await libp2p.handle(INFER_PROTOCOL, handler(false), { maxInboundStreams: 64 })
  await libp2p.handle(INFER_STREAMS_PROTOCOL, handler(true), { maxInboundStreams: 64 })
}

/**
 * Serves the calls of one stream: one (INFER_PROTOCOL), or one after another (INFER_STREAMS_PROTOCOL)
 * until the client ends the stream or leaves it idle for INFER_STREAM_IDLE_MS.
 */
async function serve (stream: Stream, peer: PeerId, components: InferServerComponents, gates: Map<string, Gate>, several: boolean): Promise<void> {
  const lp = lengthPrefixedStream(stream, { maxDataLength: INFER_MAX_REQUEST_BYTES })
  for (let first = true; ; first = false) {
    if (!first && !several) {
      await stream.close()
      return
    }
    // The first request must arrive whole within INFER_READ_TIMEOUT_MS of the stream opening; a later
    // one may begin within INFER_STREAM_IDLE_MS of the last answer, then has INFER_READ_TIMEOUT_MS.
    let deadline = new Deadline(first ? INFER_READ_TIMEOUT_MS : INFER_STREAM_IDLE_MS)
    let envelope: InferEnvelope
    let binary: Uint8Array
    try {
      let head: Uint8Array
      try {
        head = (await lp.read({ signal: deadline.signal })).subarray()
      } catch (err) {
        // Between calls, the client ending the stream is no error; one left idle too long is dropped.
        if (!first && stream.remoteWriteStatus !== 'writable') {
          await stream.close()
          return
        }
        throw err
      }
      envelope = decodeEnvelope(head)
      if (!first) {
        deadline.clear()
        deadline = new Deadline(INFER_READ_TIMEOUT_MS)
      }
      binary = (await lp.read({ signal: deadline.signal })).subarray()
    } finally {
      deadline.clear()
    }
    await answer(lp, envelope, binary, peer, components, gates)
  }
}

async function answer (lp: ReturnType<typeof lengthPrefixedStream>, envelope: InferEnvelope, binary: Uint8Array, peer: PeerId, components: InferServerComponents, gates: Map<string, Gate>): Promise<void> {
  const reply = async (message: InferReply, data: Uint8Array[] = []): Promise<void> => {
    await lp.writeV([encodeJson(message), concatBytes(data)])
  }
  const service = components.serviceFor(envelope.model)
  if (envelope.op === 'info') {
    await reply({ ok: true, info: service ?? { serving: false, price: '0', maxConcurrency: 0 } })
    return
  }
  if (service == null) {
    await reply({ ok: false, status: 404, error: `This node does not serve ${envelope.model}.` })
    return
  }
  let gate = gates.get(envelope.model)
  if (gate == null) {
    gate = new Gate()
    gates.set(envelope.model, gate)
  }
  if (!(await gate.enter(service.maxConcurrency))) {
    await reply({ ok: false, status: 503, error: 'The provider is busy; try another provider or later.' })
    return
  }
  let signed: { receipt: InferenceReceipt, hash: Hex } | undefined
  try {
    const { terms, requestHash } = checkTerms(envelope, binary, peer, service, components.account.address)
    await components.acceptPayment?.(terms, envelope.payment, peer.publicKey!.raw)
    const decoded = decodeOipRequest(envelope.request, binary)
    const result = await components.run({ ref: envelope.model, inputs: decoded.inputs, outputs: decoded.outputs, file: decoded.file, peer })
    const encoded = encodeOipResponse({ modelName: result.model.name, modelVersion: result.model.version, id: decoded.id, outputs: result.outputs, binaryByDefault: true })
    const header = encodeJson(encoded.json)
    signed = await signReceipt(components.account, { request: terms, clientSignature: envelope.clientSignature, outputHash: hashPayload([header, ...encoded.binary]) }, requestHash)
    const { receipt } = signed
    await reply({ ok: true, response: encoded.json, receipt: { ...receipt, request: { ...receipt.request, price: receipt.request.price.toString() } } }, encoded.binary)
  } catch (err) {
    if (!(err instanceof BaseError)) log.error('inference for %p failed: %s', peer, (err as Error).message)
    const { status, body } = encodeOipError(err)
    await reply({ ok: false, status, error: body.error })
  } finally {
    gate.leave()
    // Kept once the answer is on its way: storing it is no part of the call's latency.
    if (signed != null) components.onReceipt?.(signed.receipt, signed.hash)
  }
}

export class PaymentRequiredError extends BaseError {
  override name = 'PaymentRequiredError'
  constructor (shortMessage: string, hint?: string) {
    super(shortMessage, { code: 'PAYMENT_REQUIRED', status: 402, hint: hint ?? 'Open a payment channel to the provider (the client does this with --remote when the price is above zero).' })
  }
}

/** The client's signed terms must match what was sent, who sent it, and the price asked. */
function checkTerms (envelope: Extract<InferEnvelope, { op: 'infer' }>, binary: Uint8Array, peer: PeerId, service: ServiceInfo, provider: string): { terms: InferenceRequestTerms, requestHash: Uint8Array } {
  const terms: InferenceRequestTerms = { ...envelope.terms, price: BigInt(envelope.terms.price) }
  const bad = (why: string): never => { throw new InvalidInputError(`Invalid request terms: ${why}.`, { code: 'INVALID_TERMS' }) }
  if (terms.model !== envelope.model) bad('they name another model')
  if (terms.provider.toLowerCase() !== provider.toLowerCase()) bad('they name another provider')
  if (peer.type !== 'secp256k1' || terms.client.toLowerCase() !== addressFromPeerId(peer).toLowerCase()) bad('the client is not the peer that sent them')
  if (terms.inputHash !== hashPayload([encodeJson(envelope.request), binary])) bad('the input hash does not match the request')
  if (terms.price < BigInt(service.price)) throw new PaymentRequiredError(`The price is ${service.price} per call; the terms offer ${terms.price}.`)
  // The signer must be the client, which is the peer: checked against the peer's key (no recovery needed).
  let requestHash: Uint8Array | undefined
  try {
    requestHash = requestStructHash(terms)
  } catch {
    // Terms EIP-712 cannot encode (e.g. a badly checksummed address) are not signed terms.
  }
  if (requestHash == null || !requestSignedBy(terms, envelope.clientSignature, peer.publicKey!.raw, requestHash)) bad('the client signature does not verify')
  return { terms, requestHash: requestHash! }
}

