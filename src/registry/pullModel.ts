import semver from 'semver'
import { BaseError, ConflictError, InvalidInputError } from '../errors.ts'
import { resolveVersion } from '../ledger/actions/resolveVersion.ts'
import { parseNameRef } from '../manifest/validate.ts'
import { requestResolve } from '../net/fetch/client.ts'
import { DEFAULT_PULL_TIMEOUT_MS } from '../net/constants.ts'
import { parseCid } from '../storage/blockstore.ts'
import { fetchVersion, type TransferProgress } from '../transfer/fetchVersion.ts'
import { findProviders } from '../transfer/findProviders.ts'
import { logger } from '../utils/logger.ts'
import { resolveRef } from './resolveRef.ts'
import { UnknownRefError } from './resolveRefEntry.ts'
import type { RegistryComponents } from './components.ts'
import type { Manifest } from '../manifest/manifest.ts'
import type { Announcer } from '../net/announce/announcer.ts'
import type { Libp2p } from '@libp2p/interface'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

const log = logger('registry:pull')

export interface PullComponents extends RegistryComponents {
  libp2p: Pick<Libp2p, 'getConnections' | 'dial' | 'dialProtocol' | 'contentRouting' | 'peerId'>
  announcer: Pick<Announcer, 'providersOf' | 'versionsOf' | 'announce'>
}

export type PullProgress = TransferProgress | { type: 'resolved', ref: string, cid: string }

export interface PullModelParameters extends AbortOptions {
  ref: string
  timeoutMs?: number
  /** Only accept a version signed by this address (a follow pinned to its publisher). */
  expectedAuthor?: string
  /** Accept a version the ledger does not know (default: the node's setting). */
  allowUnregistered?: boolean
  onProgress?: (event: PullProgress) => void
}

export interface PullModelReturnType {
  cid: CID
  manifest: Manifest
  /** False when the version was already stored. */
  fetched: boolean
}

/**
 * Fetches a version from the network, verifies every block and the manifest signature, indexes it,
 * then provides it on the DHT and announces it, so this node serves it to others from now on.
 */
export async function pullModel (components: PullComponents, { ref, timeoutMs = DEFAULT_PULL_TIMEOUT_MS, expectedAuthor, allowUnregistered = components.allowUnregistered === true, onProgress, signal }: PullModelParameters): Promise<PullModelReturnType> {
  const root = parseCid(ref) ?? await resolveName(components, ref, allowUnregistered, { signal })
  onProgress?.({ type: 'resolved', ref, cid: root.toString() })
  const existing = components.index.byCid(root.toString())
  if (existing != null) {
    return { cid: root, manifest: (await resolveRef(components, root.toString())).manifest, fetched: false }
  }
  return await components.storeLock.shared(async () => {
    const manifest = await fetchVersion(components, {
      root,
      findProviders: round => findProviders(components, root, { signal, ...round }),
      timeoutMs,
      onProgress,
      onManifest: async manifest => { if (!allowUnregistered) await assertRegistered(components, root, manifest, { signal }) },
      signal
    })
    const { name, version } = parseNameRef(ref)
    if (parseCid(ref) == null && (manifest.name !== name || (version != null && manifest.version !== version))) {
      throw new InvalidInputError(`The network resolved ${ref} to ${manifest.name}@${manifest.version}; refusing it.`, { code: 'NAME_MISMATCH' })
    }
    if (expectedAuthor != null && manifest.author.toLowerCase() !== expectedAuthor.toLowerCase()) {
      throw new InvalidInputError(`${manifest.name}@${manifest.version} is signed by ${manifest.author}, not by the followed publisher ${expectedAuthor}; refusing it.`, { code: 'UNEXPECTED_AUTHOR' })
    }
    const clash = components.index.byNameVersion(manifest.name, manifest.version)
    if (clash != null && clash.cid !== root.toString()) {
      throw new ConflictError(`${manifest.name}@${manifest.version} already exists here as ${clash.cid}.`, { code: 'VERSION_EXISTS' })
    }
    if (clash == null) {
      components.index.addManifest(root.toString(), manifest)
    }
    log('pulled %s@%s (%s)', manifest.name, manifest.version, root)
    void provide(components, root, manifest)
    return { cid: root, manifest, fetched: true }
  })
}

export class UnregisteredVersionError extends BaseError {
  override name = 'UnregisteredVersionError'
  constructor (what: string, details?: string) {
    super(`${what} is not registered on the ledger; refusing it.`, {
      code: 'NOT_ON_LEDGER',
      status: 409,
      details,
      hint: 'Only versions registered in the on-chain registry are pulled. Pass --allow-unregistered to accept it anyway.'
    })
  }
}

/** `name@version` through the on-chain registry; network hints only when unregistered versions are allowed. */
async function resolveName (components: PullComponents, ref: string, allowUnregistered: boolean, options: AbortOptions): Promise<CID> {
  if (components.ledger != null) {
    const { name, version } = parseNameRef(ref)
    try {
      return parseCid((await resolveVersion(components.ledger, { name, ...(version != null ? { version } : {}) }, options)).manifestCid)!
    } catch (err: any) {
      if (err.code !== 'NOT_ON_LEDGER' || !allowUnregistered) throw err
    }
  }
  return await resolveFromNetwork(components, ref, options)
}

/** The manifest must be the one the registry holds for its name@version. */
async function assertRegistered (components: PullComponents, root: CID, manifest: Manifest, options: AbortOptions): Promise<void> {
  if (components.ledger == null) return
  let registered: string
  try {
    registered = (await resolveVersion(components.ledger, { name: manifest.name, version: manifest.version }, options)).manifestCid
  } catch (err: any) {
    if (err.code === 'NOT_ON_LEDGER') throw new UnregisteredVersionError(`${manifest.name}@${manifest.version} (${root.toString()})`)
    throw err
  }
  if (registered !== root.toString()) {
    throw new UnregisteredVersionError(`${root.toString()}`, `the registry holds ${registered} for ${manifest.name}@${manifest.version}`)
  }
}

/** Makes a stored version findable: DHT provider records for the manifest, and an announcement. */
export async function provide (components: Pick<PullComponents, 'libp2p' | 'announcer'>, root: CID, manifest: Pick<Manifest, 'name' | 'version'>): Promise<void> {
  await components.announcer.announce({ cid: root.toString(), name: manifest.name, version: manifest.version })
  try {
    await components.libp2p.contentRouting.provide(root, { signal: AbortSignal.timeout(30_000) })
  } catch (err: any) {
    log('providing %s on the DHT failed: %s', root, err.message)
  }
}

/** `name@version` (or `name`, newest) from what peers announced and what connected peers answer. */
export async function resolveFromNetwork (components: PullComponents, ref: string, options: AbortOptions): Promise<CID> {
  const { name, version } = parseNameRef(ref)
  const candidates = new Map<string, string>(components.announcer.versionsOf(name))
  await Promise.all(components.libp2p.getConnections().map(async connection => {
    try {
      const cid = await requestResolve(components, connection.remotePeer, name, version, options)
      if (cid == null) return
      // The answer is only a hint: the fetched manifest must carry this name and version.
      const manifestVersion = version ?? `resolve:${cid}`
      candidates.set(manifestVersion, cid)
    } catch {
      // A peer that cannot answer simply does not help resolve the name.
    }
  }))
  if (version != null) {
    const cid = candidates.get(version)
    if (cid != null) return parseCid(cid)!
  } else {
    const newest = [...candidates.keys()].filter(v => semver.valid(v) != null).sort(semver.rcompare)[0]
    if (newest != null) return parseCid(candidates.get(newest)!)!
    const answered = [...candidates.entries()].find(([key]) => key.startsWith('resolve:'))
    if (answered != null) return parseCid(answered[1])!
  }
  throw new UnknownRefError(ref, 'Neither this node nor its peers know that version.')
}
