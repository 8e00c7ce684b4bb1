import { NotFoundError } from '../../errors.ts'
import { readContract } from '../write.ts'
import type { Address } from 'viem'
import type { Ledger } from '../createLedger.ts'

export type ResolveVersionParameters =
  /** `version` omitted: the newest version that is not deprecated. */
  | { name: string, version?: string }
  | { versionId: bigint }

export interface LedgerVersion {
  versionId: bigint
  name: string
  version: string
  manifestCid: string
  license: string
  parents: bigint[]
  publisher: Address
  /** Seconds since the epoch (block time). */
  publishedAt: number
  deprecated: boolean
}

/** `name@version` (or `name`, or a version id) → the version's record, manifest CID included. */
export async function resolveVersion (ledger: Ledger, parameters: ResolveVersionParameters, options?: { signal?: AbortSignal }): Promise<LedgerVersion> {
  options?.signal?.throwIfAborted()
  const registry = ledger.contracts.registry
  const ref = 'versionId' in parameters ? `version ${parameters.versionId}` : parameters.version != null ? `${parameters.name}@${parameters.version}` : parameters.name
  const id = await readContract(ledger, `resolve ${ref}`, async () => {
    if ('versionId' in parameters) return parameters.versionId
    return parameters.version != null ? await registry.read.versionId([parameters.name, parameters.version]) : await registry.read.latest([parameters.name])
  })
  const count = await readContract(ledger, `resolve ${ref}`, async () => await registry.read.versionCount())
  if (id === 0n || id > count) {
    throw new NotFoundError(`${ref} is not on the ledger.`, { code: 'NOT_ON_LEDGER', hint: 'Check the name and version (`myc audit NAME` lists what is registered).' })
  }
  const version = await readContract(ledger, `resolve ${ref}`, async () => await registry.read.version([id]))
  return {
    versionId: id,
    name: version.name,
    version: version.label,
    manifestCid: version.manifestCid,
    license: version.license,
    parents: [...version.parents],
    publisher: version.publisher,
    publishedAt: Number(version.publishedAt),
    deprecated: version.deprecated
  }
}
