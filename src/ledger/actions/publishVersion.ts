import { modelRegistryAbi } from '../artifacts/ModelRegistry.ts'
import { findEvent, writeContract } from '../write.ts'
import { resolveParents } from './resolveParents.ts'
import type { Ledger } from '../createLedger.ts'
import type { AddVersionParameters, AddVersionReturnType } from './addVersion.ts'

export type PublishVersionParameters = AddVersionParameters

export interface PublishVersionReturnType extends AddVersionReturnType {
  /** Whether the name was registered by this transaction. */
  registered: boolean
}

/**
 * Records a version on the ledger in one transaction, registering the name to the ledger's account
 * first if nobody owns it yet.
 */
export async function publishVersion (ledger: Ledger, parameters: PublishVersionParameters, options?: { signal?: AbortSignal }): Promise<PublishVersionReturnType> {
  const parents = await resolveParents(ledger, parameters.parents)
  const result = await writeContract(ledger, {
    address: ledger.addresses.registry,
    abi: modelRegistryAbi,
    functionName: 'publish',
    args: [parameters.name, parameters.version, parameters.manifestCid, parents, parameters.license ?? ''],
    action: `publish ${parameters.name}@${parameters.version}`,
    ...(parameters.gas != null ? { gas: parameters.gas } : {})
  }, options)
  return {
    ...result,
    versionId: findEvent(result.receipt, modelRegistryAbi, 'VersionAdded')!.args.versionId,
    registered: findEvent(result.receipt, modelRegistryAbi, 'ModelRegistered') != null
  }
}
