import { modelRegistryAbi } from '../artifacts/ModelRegistry.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import { resolveParents, type ParentRef } from './resolveParents.ts'
import type { Ledger } from '../createLedger.ts'

export interface AddVersionParameters {
  name: string
  version: string
  /** CID of the version's signed manifest. */
  manifestCid: string
  /** The versions it derives from (royalties follow this lineage). */
  parents?: readonly ParentRef[]
  /** Licence terms, e.g. an SPDX expression. */
  license?: string
  gas?: bigint
}

export interface AddVersionReturnType extends WriteResult {
  versionId: bigint
}

/** Adds a version of a registered name; the owner or an approved publisher only. */
export async function addVersion (ledger: Ledger, parameters: AddVersionParameters, options?: { signal?: AbortSignal }): Promise<AddVersionReturnType> {
  const parents = await resolveParents(ledger, parameters.parents)
  const result = await writeContract(ledger, {
    address: ledger.addresses.registry,
    abi: modelRegistryAbi,
    functionName: 'addVersion',
    args: [parameters.name, parameters.version, parameters.manifestCid, parents, parameters.license ?? ''],
    action: `add ${parameters.name}@${parameters.version}`,
    ...(parameters.gas != null ? { gas: parameters.gas } : {})
  }, options)
  return { ...result, versionId: findEvent(result.receipt, modelRegistryAbi, 'VersionAdded')!.args.versionId }
}
