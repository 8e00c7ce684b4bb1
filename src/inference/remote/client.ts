import { lpStream } from '@libp2p/utils'
import { concatBytes } from '../../utils/bytes.ts'
import { BaseError } from '../../errors.ts'
import { MalformedMessageError } from '../../net/fetch/messages.ts'
import { decodeOipResponse, encodeOipRequest } from '../codecs/oip.ts'
import { INFER_MAX_RESPONSE_BYTES, INFER_PROTOCOL, INFER_REQUEST_TIMEOUT_MS } from '../constants.ts'
import { addressOfPeer, hashPayload, newNonce, receiptSignedBy, signRequest, type InferenceReceipt, type InferenceRequestTerms } from './inferenceReceipt.ts'
import { encodeJson, type InferEnvelope, type InferReply, type ServiceInfo, type WirePayment } from './messages.ts'
import type { LocalAccount } from 'viem'
import type { Tensor } from '../tensor.ts'
import type { AbortOptions, Libp2p, PeerId } from '@libp2p/interface'

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

async function exchange (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, envelope: InferEnvelope, binary: Uint8Array[], options: AbortOptions): Promise<{ reply: InferReply, binary: Uint8Array }> {
  const signal = AbortSignal.any([AbortSignal.timeout(INFER_REQUEST_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
  const stream = await libp2p.dialProtocol(peer, INFER_PROTOCOL, { signal })
  try {
    const lp = lpStream(stream, { maxDataLength: INFER_MAX_RESPONSE_BYTES })
    await lp.writeV([encodeJson(envelope), concatBytes(binary)], { signal })
    const header = (await lp.read({ signal })).subarray()
    const data = (await lp.read({ signal })).subarray()
    await stream.close({ signal })
    let reply: InferReply
    try {
      reply = JSON.parse(new TextDecoder().decode(header))
    } catch {
      throw new MalformedMessageError('the provider answered with malformed JSON')
    }
    return { reply, binary: data }
  } catch (err: any) {
    stream.abort(err)
    throw err
  }
}

/**
 * Runs one inference on `peer` over `/mycelium/infer/1.0.0`: signs the terms (model, input hash,
 * price, nonce, both addresses), pays if asked, and checks the provider's receipt — its signature and
 * that the output hash is that of what was received.
 */
export async function requestRemoteInference (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, { model, inputs, outputs, file, signal, account, price, payment }: RemoteCallParameters): Promise<{ modelName: string, modelVersion?: string, outputs: Tensor[], receipt: InferenceReceipt }> {
  const encoded = encodeOipRequest(inputs, { binary: true, ...(outputs != null ? { outputs: [...outputs] } : {}), ...(file != null ? { parameters: { file } } : {}) })
  const terms: InferenceRequestTerms = {
    model,
    inputHash: hashPayload([encodeJson(encoded.json), concatBytes(encoded.binary)]),
    price,
    nonce: newNonce(),
    client: account.address,
    provider: addressOfPeer(peer)
  }
  const clientSignature = await signRequest(account, terms)
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
  if (!sameTerms || receipt.outputHash !== hashPayload([encodeJson(reply.response), binary]) || !receiptSignedBy(receipt, peer.publicKey!.raw)) {
    throw new RemoteInferenceError(peer, 502, 'The provider\'s receipt does not match the call.')
  }
  return { ...decodeOipResponse(reply.response, binary), receipt }
}


export async function requestServiceInfo (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, model: string, options: AbortOptions = {}): Promise<ServiceInfo> {
  const { reply } = await exchange(libp2p, peer, { op: 'info', model }, [], options)
  if (!reply.ok || !('info' in reply)) throw new MalformedMessageError('the provider answered without service info')
  return reply.info
}
