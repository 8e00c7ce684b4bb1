import { CID } from 'multiformats/cid'
import { MalformedMessageError } from '../../net/fetch/messages.ts'
import type { OipInferenceRequest, OipInferenceResponse } from '../codecs/oip.ts'

/**
 * `/mycelium/infer/1.0.0`: a request is two length-prefixed frames — a JSON envelope, then the
 * binary tensor data its OIP request points into (possibly empty); the response has the same shape.
 */
export type InferEnvelope =
  | { op: 'infer', model: string, request: OipInferenceRequest }
  | { op: 'info', model: string }

export type InferReply =
  | { ok: true, response: OipInferenceResponse }
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
  if (value.op === 'infer' && value.request != null && typeof value.request === 'object') return { op: 'infer', model: value.model, request: value.request }
  throw new MalformedMessageError('unknown op')
}

export function encodeJson (value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value))
}
