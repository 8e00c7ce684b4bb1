import { CID } from 'multiformats/cid'
import { MalformedMessageError } from '../../net/fetch/messages.ts'
import { MAX_FL_MESSAGE_BYTES } from './constants.ts'

/**
 * Round hints: "this file is ready, fetch it from me". The chain stays the authority (who committed
 * what, which aggregate was agreed); hints only let peers start fetching at once and know whom to
 * ask. Every CID is verified by its content anyway.
 */
export type FlHint =
  | { type: 'job', jobId: string }
  | { type: 'update', jobId: string, round: number, cid: string }
  | { type: 'aggregate', jobId: string, round: number, cid: string }
  /** Secure aggregation: a survivor's signed reveal of its key shares. */
  | { type: 'reveal', jobId: string, round: number, cid: string }

/** What a node says of its part in a job when asked over the FL protocol. */
export interface FlPeerStatus {
  jobId: string
  role: 'sponsor' | 'participant' | 'none'
  /** The round it works on, and what it is doing. */
  round: number
  phase: string
  updateCid?: string
  aggregateCid?: string
}

export type FlRequest =
  | { op: 'hint', hint: FlHint, addrs: string[] }
  | { op: 'status', jobId: string }

export type FlResponse =
  | { ok: true }
  | { ok: true, status: FlPeerStatus }
  | { ok: false, error: string }

const JOB_ID = /^[1-9][0-9]{0,77}$/

export function parseHint (value: any): FlHint {
  if (value == null || typeof value !== 'object') throw new MalformedMessageError('hint is not an object')
  if (typeof value.jobId !== 'string' || !JOB_ID.test(value.jobId)) throw new MalformedMessageError('hint has no valid "jobId"')
  if (value.type === 'job') return { type: 'job', jobId: value.jobId }
  if (value.type !== 'update' && value.type !== 'aggregate' && value.type !== 'reveal') throw new MalformedMessageError(`unknown hint type ${JSON.stringify(value.type)}`)
  if (!Number.isInteger(value.round) || value.round < 1) throw new MalformedMessageError('hint has no valid "round"')
  try {
    CID.parse(value.cid)
  } catch {
    throw new MalformedMessageError('hint has no valid "cid"')
  }
  return { type: value.type, jobId: value.jobId, round: value.round, cid: value.cid }
}

function parseJson (bytes: Uint8Array): any {
  if (bytes.byteLength > MAX_FL_MESSAGE_BYTES) throw new MalformedMessageError(`message over ${MAX_FL_MESSAGE_BYTES} bytes`)
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new MalformedMessageError('message is not UTF-8 JSON')
  }
}

function parseAddrs (value: unknown): string[] {
  if (!Array.isArray(value) || value.length > 16 || !value.every(a => typeof a === 'string' && a.length < 256)) throw new MalformedMessageError('"addrs" must be a short list of multiaddrs')
  return value
}

export function decodeRequest (bytes: Uint8Array): FlRequest {
  const value = parseJson(bytes)
  if (value?.op === 'hint') return { op: 'hint', hint: parseHint(value.hint), addrs: parseAddrs(value.addrs) }
  if (value?.op === 'status') {
    if (typeof value.jobId !== 'string' || !JOB_ID.test(value.jobId)) throw new MalformedMessageError('status request has no valid "jobId"')
    return { op: 'status', jobId: value.jobId }
  }
  throw new MalformedMessageError(`unknown op ${JSON.stringify(value?.op)}`)
}

/** A gossip message: a hint plus the sender's addresses. */
export function decodeGossip (bytes: Uint8Array): { hint: FlHint, addrs: string[] } {
  const value = parseJson(bytes)
  return { hint: parseHint(value?.hint), addrs: parseAddrs(value?.addrs) }
}

export function decodeResponse (bytes: Uint8Array): FlResponse {
  const value = parseJson(bytes)
  if (value?.ok === true || (value?.ok === false && typeof value.error === 'string')) return value as FlResponse
  throw new MalformedMessageError('response has no "ok"')
}

export function encodeMessage (message: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message))
}
