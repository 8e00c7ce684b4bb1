import { decodeManifest, type Manifest } from '../manifest/manifest.ts'
import { resolveRefEntry } from './resolveRefEntry.ts'
export { UnknownRefError } from './resolveRefEntry.ts'
import { parseCid } from '../storage/blockstore.ts'
import type { RegistryComponents } from './components.ts'
import type { IndexedVersion } from './localIndex.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface ResolveRefReturnType {
  cid: CID
  entry: IndexedVersion
  manifest: Manifest
}

/** A CID, `name@version`, or `name` (newest local version) → a locally stored, verified manifest. */
export async function resolveRef (components: Pick<RegistryComponents, 'index' | 'store'>, ref: string, options?: AbortOptions): Promise<ResolveRefReturnType> {
  const entry = resolveRefEntry(components, ref)
  const cid = parseCid(entry.cid)!
  const manifest = decodeManifest(await components.store.getVerified(cid, options))
  return { cid, entry, manifest }
}
