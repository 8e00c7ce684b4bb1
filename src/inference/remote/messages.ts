import { CID } from 'multiformats/cid'
import { MalformedMessageError } from '../../net/fetch/messages.ts'
import type { OipInferenceRequest, OipInferenceResponse } from '../codecs/oip.ts'
import type { Address, Hex } from 'viem'

/**
 * `/mycelium/infer/1.0.0`: a request is two length-prefixed frames — a JSON envelope, then the
 * binary tensor data its OIP request points into (possibly empty); the response has the same shape.
 */
/** The client's signed terms, as JSON (the price as a decimal string). */
export interface WireTerms {
  model: string
  inputHash: Hex
  price: string
  nonce: Hex
  client: Address
  provider: Address
}

/** A cumulative payment-channel voucher covering this call. */
export interface WirePayment {
  channelId: Hex
  cumulativeAmount: string
  signature: Hex
}

export type InferEnvelope =
  | { op: 'infer', model: string, request: OipInferenceRequest, terms: WireTerms, clientSignature: Hex, payment?: WirePayment }
  | { op: 'info', model: string }

export interface WireReceipt {
  request: WireTerms
  clientSignature: Hex
  outputHash: Hex
  providerSignature: Hex
}

export type InferReply =
  | { ok: true, response: OipInferenceResponse, receipt: WireReceipt }
  | { ok: true, info: ServiceInfo }
  | { ok: false, status: number, error: string }

export interface ServiceInfo {
  serving: boolean
  /** Price per call in token base units (decimal string); "0" when free. */
  price: string
  maxConcurrency: number
}

export function decodeEnvelope (bytes: Uint8Array): InferEnvelope {
  let value: any
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new MalformedMessageError('envelope is not UTF-8 JSON')
  }
  if (typeof value?.model !== 'string') throw new MalformedMessageError('envelope has no "model" CID')
  try {
    CID.parse(value.model)
  } catch {
    throw new MalformedMessageError('"model" is not a CID')
  }
  if (value.op === 'info') return { op: 'info', model: value.model }
  if (value.op === 'infer' && value.request != null && typeof value.request === 'object') {
    const terms = value.terms
    const hex = (v: unknown, length?: number): boolean => typeof v === 'string' && /^0x[0-9a-fA-F]*$/.test(v) && (length == null || v.length === 2 + length * 2)
    if (terms == null || typeof terms.model !== 'string' || !hex(terms.inputHash, 32) || typeof terms.price !== 'string' || !/^\d{1,78}$/.test(terms.price) ||
      !hex(terms.nonce, 32) || !hex(terms.client, 20) || !hex(terms.provider, 20) || !hex(value.clientSignature)) {
      throw new MalformedMessageError('the request needs signed terms { model, inputHash, price, nonce, client, provider }')
    }
    const payment = value.payment
    if (payment != null && (!hex(payment.channelId, 32) || typeof payment.cumulativeAmount !== 'string' || !/^\d{1,78}$/.test(payment.cumulativeAmount) || !hex(payment.signature))) {
      throw new MalformedMessageError('malformed payment voucher')
    }
    return { op: 'infer', model: value.model, request: value.request, terms, clientSignature: value.clientSignature, ...(payment != null ? { payment } : {}) }
  }
  throw new MalformedMessageError('unknown op')
}

export function encodeJson (value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value))
}
