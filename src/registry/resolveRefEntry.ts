import { parseNameRef } from '../manifest/validate.ts'
import { parseCid } from '../storage/blockstore.ts'
import { NotFoundError } from '../errors.ts'
import type { RegistryComponents } from './components.ts'
import type { IndexedVersion } from './localIndex.ts'

export class UnknownRefError extends NotFoundError {
  override name = 'UnknownRefError'
  constructor (ref: string, details?: string) {
    super(`Unknown model "${ref}".`, {
      code: 'UNKNOWN_REF',
      details,
      hint: 'List local models with `myc ls`. A REF is a manifest CID, `name@version`, or `name` for the newest version.'
    })
  }
}

/** The index entry a REF names, without reading (or trusting) the manifest block. */
export function resolveRefEntry ({ index }: Pick<RegistryComponents, 'index'>, ref: string): IndexedVersion {
  const cid = parseCid(ref)
  if (cid != null) {
    const entry = index.byCid(cid.toString())
    if (entry == null) throw new UnknownRefError(ref)
    return entry
  }
  const { name, version } = parseNameRef(ref)
  const entry = version != null ? index.byNameVersion(name, version) : index.newest(name)
  if (entry == null) throw new UnknownRefError(ref, version == null ? `No version of "${name}" is stored on this node.` : undefined)
  return entry
}
