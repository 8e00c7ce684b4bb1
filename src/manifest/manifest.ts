import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { InvalidInputError } from '../errors.ts'
import { MAX_MANIFEST_BYTES } from '../node/defaults.ts'
import type { FormatMetadata } from './formats/types.ts'
import type { Address, Hex } from 'viem'

export const MANIFEST_TYPE = 'mycelium/model-version'
export const MANIFEST_SCHEMA_VERSION = 1

export interface ManifestFile {
  path: string
  /** Root of the file's UnixFS DAG. */
  cid: CID
  size: number
  /** Hex SHA-256 of the whole file, so anyone can check a download without IPFS tools. */
  sha256: string
  format?: FormatMetadata
}

/** The body of a model version; its DAG-CBOR CID (signature included) is the version's identity. */
export interface UnsignedManifest {
  type: typeof MANIFEST_TYPE
  schemaVersion: typeof MANIFEST_SCHEMA_VERSION
  name: string
  version: string
  files: ManifestFile[]
  license?: string
  /** Path (within `files`) of the model card. */
  card?: string
  tags: string[]
  task?: string
  parents: CID[]
  /** Free-form provenance, e.g. the contributors of a federated round. */
  extra?: Record<string, unknown>
  author: Address
  created: string
}

export interface Manifest extends UnsignedManifest {
  signature: Hex
}

export const MANIFEST_CODEC = dagCbor.code

export function encodeManifest (manifest: Manifest | UnsignedManifest): Uint8Array {
  return dagCbor.encode(stripUndefined(manifest))
}

export async function manifestBlock (manifest: Manifest): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = encodeManifest(manifest)
  const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes))
  return { cid, bytes }
}

/** DAG-CBOR has no `undefined`; optional fields are simply absent. */
function stripUndefined<T> (value: T): T {
  if (Array.isArray(value)) return value.map(stripUndefined) as T
  if (value != null && typeof value === 'object' && !(value instanceof Uint8Array) && CID.asCID(value) == null) {
    const out: Record<string, unknown> = {}
    for (const [key, entry] of Object.entries(value)) {
      if (entry !== undefined) out[key] = stripUndefined(entry)
    }
    return out as T
  }
  return value
}

export class InvalidManifestError extends InvalidInputError {
  override name = 'InvalidManifestError'
  constructor (shortMessage: string, details?: string) {
    super(`Invalid manifest: ${shortMessage}`, { code: 'INVALID_MANIFEST', details })
  }
}

/** Decodes and structurally checks a manifest from untrusted bytes (CAR import, network). */
export function decodeManifest (bytes: Uint8Array): Manifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) throw new InvalidManifestError(`${bytes.byteLength} bytes exceeds the ${MAX_MANIFEST_BYTES}-byte limit`)
  let value: any
  try {
    value = dagCbor.decode(bytes)
  } catch (err: any) {
    throw new InvalidManifestError('not DAG-CBOR', err.message)
  }
  const fail = (what: string): never => { throw new InvalidManifestError(what) }
  if (value?.type !== MANIFEST_TYPE) fail(`type is not "${MANIFEST_TYPE}"`)
  if (value.schemaVersion !== MANIFEST_SCHEMA_VERSION) fail(`unsupported schemaVersion ${String(value.schemaVersion)}`)
  for (const key of ['name', 'version', 'author', 'created', 'signature']) {
    if (typeof value[key] !== 'string') fail(`"${key}" must be a string`)
  }
  if (!Array.isArray(value.files) || value.files.length === 0) fail('"files" must be a non-empty list')
  for (const file of value.files) {
    if (typeof file?.path !== 'string' || CID.asCID(file.cid) == null || !Number.isSafeInteger(file.size) || typeof file.sha256 !== 'string') {
      fail('every file needs path, cid, size and sha256')
    }
  }
  if (!Array.isArray(value.tags) || !value.tags.every((t: unknown) => typeof t === 'string')) fail('"tags" must be a list of strings')
  if (!Array.isArray(value.parents) || !value.parents.every((p: unknown) => CID.asCID(p) != null)) fail('"parents" must be a list of CIDs')
  return value as Manifest
}

/** A JSON view for the API and CLI: CIDs as strings. */
export interface ManifestJson extends Omit<Manifest, 'files' | 'parents'> {
  files: Array<Omit<ManifestFile, 'cid'> & { cid: string }>
  parents: string[]
}

export function manifestToJson (manifest: Manifest): ManifestJson {
  return {
    ...manifest,
    files: manifest.files.map(file => ({ ...file, cid: file.cid.toString() })),
    parents: manifest.parents.map(parent => parent.toString())
  }
}
