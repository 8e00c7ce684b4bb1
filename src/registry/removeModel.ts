import { resolveRefEntry } from './resolveRefEntry.ts'
import type { RegistryComponents } from './components.ts'
import type { IndexedVersion } from './localIndex.ts'

/** Unpins a version; its blocks stay until `gc`, like `ipfs pin rm`. */
export function removeModel (components: Pick<RegistryComponents, 'index'>, ref: string): IndexedVersion {
  const entry = resolveRefEntry(components, ref)
  components.index.remove(entry.cid)
  return entry
}
