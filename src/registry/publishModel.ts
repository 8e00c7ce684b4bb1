import { CID } from 'multiformats/cid'
import { ConflictError, InvalidInputError } from '../errors.ts'
import { readFormatMetadata } from '../manifest/formats/readFormatMetadata.ts'
import { manifestBlock, MANIFEST_SCHEMA_VERSION, MANIFEST_TYPE, type Manifest, type ManifestFile, type UnsignedManifest } from '../manifest/manifest.ts'
import { signManifest } from '../manifest/sign.ts'
import { assertValidFilePath, assertValidLicense, assertValidName, assertValidTags, assertValidVersion } from '../manifest/validate.ts'
import { MAX_FILES_PER_VERSION } from '../node/defaults.ts'
import { parseCid } from '../storage/blockstore.ts'
import { dagByteSource } from '../storage/dag.ts'
import { importFile, type ImportFileParameters } from '../storage/importFile.ts'
import { logger } from '../utils/logger.ts'
import { publishVersion } from '../ledger/actions/publishVersion.ts'
import { resolveRef } from './resolveRef.ts'
import type { RegistryComponents } from './components.ts'
import type { AbortOptions } from '@libp2p/interface'

const log = logger('registry:publish')

export interface PublishFileInput {
  path: string
  /** Bytes as they arrive, or a file on this machine. */
  source: ImportFileParameters['source']
}

export interface PublishMetadata {
  name: string
  version: string
  license?: string
  /** Path of the model card among the files; defaults to a top-level README.md when there is one. */
  card?: string
  tags?: string[]
  task?: string
  /** REFs (CID, name@version, name) of the versions this one derives from. */
  parents?: string[]
  extra?: Record<string, unknown>
}

export type PublishProgress =
  | { type: 'file:start', path: string }
  | { type: 'file:bytes', path: string, bytes: number }
  | { type: 'file:done', path: string, cid: string, size: number }

export interface PublishModelParameters extends PublishMetadata, AbortOptions {
  files: AsyncIterable<PublishFileInput> | Iterable<PublishFileInput>
  onProgress?: (event: PublishProgress) => void
}

export interface PublishModelReturnType {
  cid: CID
  manifest: Manifest
}

/** Checks everything that does not need the bytes, so bad input fails before any upload. */
export async function validatePublishMetadata (components: Pick<RegistryComponents, 'index' | 'store' | 'ledger'>, metadata: PublishMetadata, options?: AbortOptions): Promise<CID[]> {
  assertValidName(metadata.name)
  assertValidVersion(metadata.version)
  if (metadata.license != null) assertValidLicense(metadata.license)
  assertValidTags(metadata.tags ?? [])
  if (metadata.task != null && !/^[a-z0-9][a-z0-9-]{0,63}$/.test(metadata.task)) {
    throw new InvalidInputError(`Illegal task "${metadata.task}".`, { hint: 'Use a Hugging Face pipeline tag such as image-classification or text-generation.' })
  }
  assertVersionIsNew(components, metadata.name, metadata.version)
  const parents: CID[] = []
  for (const ref of metadata.parents ?? []) {
    // A bare CID may name a version this node has never seen (lineage across the network).
    parents.push(parseCid(ref) ?? (await resolveRef(components, ref, options)).cid)
  }
  if (components.ledger != null) lineageOnChain(components, parents)
  return parents
}

/** The ledger records lineage by name@version, so every parent must be a version this node knows. */
function lineageOnChain ({ index }: Pick<RegistryComponents, 'index'>, parents: CID[]): Array<{ name: string, version: string }> {
  return parents.map(parent => {
    const entry = index.byCid(parent.toString())
    if (entry == null) {
      throw new InvalidInputError(`The parent ${parent.toString()} is not stored on this node, so its lineage cannot be recorded on the ledger.`, {
        code: 'UNKNOWN_PARENT',
        hint: `Pull it first (\`myc pull ${parent.toString()}\`), or name it as name@version.`
      })
    }
    return { name: entry.name, version: entry.version }
  })
}

function assertVersionIsNew ({ index }: Pick<RegistryComponents, 'index'>, name: string, version: string): void {
  const existing = index.byNameVersion(name, version)
  if (existing != null) {
    throw new ConflictError(`${name}@${version} already exists (${existing.cid}).`, {
      code: 'VERSION_EXISTS',
      hint: 'Versions are immutable: publish under a new version number.'
    })
  }
}

/**
 * Imports the files as UnixFS DAGs, reads their format metadata, signs the manifest with the node
 * key and commits it to the local index. Until the index row is written nothing is visible; blocks
 * of an interrupted publish are orphans that `gc` reclaims.
 */
export async function publishModel (components: RegistryComponents, parameters: PublishModelParameters): Promise<PublishModelReturnType> {
  const { store, index, identity, storeLock } = components
  const { files, onProgress, signal } = parameters
  const parents = await validatePublishMetadata(components, parameters, { signal })

  return await storeLock.shared(async () => {
    const entries: ManifestFile[] = []
    const seen = new Set<string>()
    for await (const file of files) {
      signal?.throwIfAborted()
      assertValidFilePath(file.path)
      if (seen.has(file.path)) throw new InvalidInputError(`The file "${file.path}" appears twice in the package.`)
      seen.add(file.path)
      if (entries.length >= MAX_FILES_PER_VERSION) throw new InvalidInputError(`A version holds at most ${MAX_FILES_PER_VERSION} files.`)
      onProgress?.({ type: 'file:start', path: file.path })
      const imported = await importFile(store, {
        source: file.source,
        signal,
        onBytes: bytes => onProgress?.({ type: 'file:bytes', path: file.path, bytes })
      })
      if (imported.size === 0) {
        throw new InvalidInputError(`${file.path}: file is empty.`, { code: 'EMPTY_FILE', hint: 'Remove the empty file from the package, or check that it was written completely.' })
      }
      const format = await readFormatMetadata({ name: file.path, source: await dagByteSource(store, imported.cid, imported.size) }, { signal })
      entries.push({ path: file.path, cid: imported.cid, size: imported.size, sha256: imported.sha256, ...(format != null ? { format } : {}) })
      onProgress?.({ type: 'file:done', path: file.path, cid: imported.cid.toString(), size: imported.size })
      log('imported %s %s (%d bytes)', file.path, imported.cid, imported.size)
    }
    if (entries.length === 0) throw new InvalidInputError('The package has no files.', { hint: 'Publish a model file or a directory that contains one.' })

    const card = parameters.card ?? entries.find(entry => entry.path.toLowerCase() === 'readme.md')?.path
    if (card != null && !seen.has(card)) throw new InvalidInputError(`The model card "${card}" is not among the package's files.`)

    const unsigned: UnsignedManifest = {
      type: MANIFEST_TYPE,
      schemaVersion: MANIFEST_SCHEMA_VERSION,
      name: parameters.name,
      version: parameters.version,
      files: entries.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
      license: parameters.license,
      card,
      tags: [...new Set(parameters.tags ?? [])],
      task: parameters.task,
      parents,
      extra: parameters.extra,
      author: identity.address,
      created: new Date().toISOString()
    }
    const manifest = await signManifest(identity.account, unsigned)
    const block = await manifestBlock(manifest)
    await store.put(block.cid, block.bytes, { signal })
    // Re-checked at the commit point: another publish of the same name@version may have won the race.
    assertVersionIsNew(components, manifest.name, manifest.version)
    if (components.ledger != null) {
      // On chain before it is visible here: a refused registration (not the name's owner) publishes nothing.
      const registered = await publishVersion(components.ledger, {
        name: manifest.name,
        version: manifest.version,
        manifestCid: block.cid.toString(),
        parents: lineageOnChain(components, parents),
        license: manifest.license
      }, { signal })
      log('registered %s@%s on chain as version %d', manifest.name, manifest.version, registered.versionId)
    }
    index.addManifest(block.cid.toString(), manifest)
    log('published %s@%s as %s', manifest.name, manifest.version, block.cid)
    return { cid: CID.asCID(block.cid)!, manifest }
  })
}
