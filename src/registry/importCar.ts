import { CarBlockIterator } from '@ipld/car'
import { ConflictError, InvalidInputError } from '../errors.ts'
import { decodeManifest, MANIFEST_CODEC, type Manifest } from '../manifest/manifest.ts'
import { verifyManifestSignature } from '../manifest/sign.ts'
import { blockMatches } from '../storage/blockstore.ts'
import { walkDag } from '../storage/dag.ts'
import type { RegistryComponents } from './components.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** Bitswap's limit; no honest UnixFS or manifest block is larger. */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024

export interface ImportCarReturnType {
  cid: CID
  manifest: Manifest
  blocks: number
  /** False when the same version was already stored (importing is idempotent). */
  added: boolean
}

export class InvalidCarError extends InvalidInputError {
  override name = 'InvalidCarError'
  constructor (shortMessage: string, details?: string) {
    super(`Invalid CAR: ${shortMessage}`, { code: 'INVALID_CAR', details, hint: 'Export it again with `myc export REF --car FILE`; nothing was added to the index.' })
  }
}

/**
 * Imports a CAR holding one model version: every block is checked against its CID before it is
 * stored, the manifest's signature must hold and every file DAG must be complete before the version
 * is indexed. Blocks of a rejected CAR stay unindexed and `gc` reclaims them.
 */
export async function importCar (components: RegistryComponents, source: AsyncIterable<Uint8Array>, options: AbortOptions = {}): Promise<ImportCarReturnType> {
  const { store, index, storeLock } = components
  return await storeLock.shared(async () => {
    let iterator: CarBlockIterator
    try {
      iterator = await CarBlockIterator.fromIterable(source)
    } catch (err: any) {
      throw new InvalidCarError('the header cannot be read', err.message)
    }
    const roots = await iterator.getRoots()
    if (roots.length !== 1 || roots[0].code !== MANIFEST_CODEC) {
      throw new InvalidCarError(`expected exactly one DAG-CBOR root (the manifest), found ${roots.length} root(s)`)
    }
    const root = roots[0]
    let blocks = 0
    try {
      for await (const { cid, bytes } of iterator) {
        options.signal?.throwIfAborted()
        if (bytes.byteLength > MAX_BLOCK_BYTES) throw new InvalidCarError(`block ${cid} is ${bytes.byteLength} bytes, over the ${MAX_BLOCK_BYTES}-byte limit`)
        if (!blockMatches(cid, bytes)) throw new InvalidCarError(`block ${cid} does not hash to its CID`)
        await store.put(cid, bytes, options)
        blocks++
      }
    } catch (err: any) {
      if (err instanceof InvalidCarError) throw err
      throw new InvalidCarError('the stream is truncated or malformed', err.message)
    }
    if (!(await store.has(root))) throw new InvalidCarError(`the root block ${root} is missing`)
    const manifest = decodeManifest(await store.getVerified(root, options))
    const signature = await verifyManifestSignature(manifest)
    if (!signature.valid) throw new InvalidCarError(`the manifest signature is invalid: ${signature.reason}`)
    for (const file of manifest.files) {
      try {
        for await (const block of walkDag(store, file.cid, options)) {
          if (block.bytes == null && !(await store.has(block.cid))) throw new Error(`block ${block.cid} is missing`)
        }
      } catch (err: any) {
        throw new InvalidCarError(`the file "${file.path}" is incomplete`, err.message)
      }
    }
    const existing = index.byNameVersion(manifest.name, manifest.version)
    if (existing != null) {
      if (existing.cid === root.toString()) return { cid: root, manifest, blocks, added: false }
      throw new ConflictError(`${manifest.name}@${manifest.version} already exists here as a different version (${existing.cid}).`, {
        code: 'VERSION_EXISTS',
        hint: 'Remove the local one with `myc rm` first if you mean to replace it.'
      })
    }
    index.addManifest(root.toString(), manifest)
    return { cid: root, manifest, blocks, added: true }
  })
}
