import { CID } from 'multiformats/cid'
import { MAX_CIDS_PER_REQUEST } from '../constants.ts'

/** Requests of `/mycelium/fetch/1.0.0`: one length-prefixed JSON document per stream. */
export type FetchRequest =
  | { op: 'have', cids: CID[] }
  | { op: 'get', cids: CID[] }
  | { op: 'resolve', name: string, version?: string }

export interface HaveResponse { have: boolean[] }
export interface ResolveResponse { cid: string | null }

/**
 * A `get` response is one frame per requested CID, in request order: a status byte, then the
 * block's bytes when the status is BLOCK. The requester verifies each block against its CID.
 */
export const FRAME_BLOCK = 0
export const FRAME_NOT_FOUND = 1
export const FRAME_DENIED = 2

export class MalformedMessageError extends Error {
  override name = 'MalformedMessageError'
}

export function encodeRequest (request: FetchRequest): Uint8Array {
  const wire = request.op === 'resolve' ? request : { op: request.op, cids: request.cids.map(cid => cid.toString()) }
  return new TextEncoder().encode(JSON.stringify(wire))
}

/** Parses and validates a request from an untrusted peer; throws MalformedMessageError. */
export function decodeRequest (bytes: Uint8Array): FetchRequest {
  let value: any
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new MalformedMessageError('request is not UTF-8 JSON')
  }
  if (value?.op === 'have' || value?.op === 'get') {
    if (!Array.isArray(value.cids) || value.cids.length === 0 || value.cids.length > MAX_CIDS_PER_REQUEST) {
      throw new MalformedMessageError(`"cids" must be a list of 1 to ${MAX_CIDS_PER_REQUEST} CIDs`)
    }
    const cids = value.cids.map((text: unknown) => {
      if (typeof text !== 'string') throw new MalformedMessageError('a CID must be a string')
      try {
        return CID.parse(text)
      } catch {
        throw new MalformedMessageError(`invalid CID "${text.slice(0, 100)}"`)
      }
    })
    return { op: value.op, cids }
  }
  if (value?.op === 'resolve') {
    if (typeof value.name !== 'string' || value.name.length > 200 || (value.version != null && (typeof value.version !== 'string' || value.version.length > 100))) {
      throw new MalformedMessageError('"resolve" needs a name (and optionally a version) string')
    }
    return { op: 'resolve', name: value.name, ...(value.version != null ? { version: value.version } : {}) }
  }
  throw new MalformedMessageError('unknown op')
}

export function encodeJson (value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value))
}

export function decodeJson<T> (bytes: Uint8Array): T {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as T
  } catch {
    throw new MalformedMessageError('response is not UTF-8 JSON')
  }
}
