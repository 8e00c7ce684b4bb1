import { modelRegistryAbi } from '../artifacts/ModelRegistry.ts'
import { writeContract, type WriteResult } from '../write.ts'
import { resolveVersion, type ResolveVersionParameters } from './resolveVersion.ts'
import type { Ledger } from '../createLedger.ts'

export type DeprecateVersionParameters = ({ name: string, version: string } | { versionId: bigint }) & { reason?: string }

/** Marks a version deprecated (it stays resolvable by name@version, but `latest` skips it). Owner only. */
export async function deprecateVersion (ledger: Ledger, parameters: DeprecateVersionParameters, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  const ref: ResolveVersionParameters = 'versionId' in parameters ? { versionId: parameters.versionId } : { name: parameters.name, version: parameters.version }
  const { versionId, name, version } = await resolveVersion(ledger, ref, options)
  return await writeContract(ledger, {
    address: ledger.addresses.registry,
    abi: modelRegistryAbi,
    functionName: 'deprecateVersion',
    args: [versionId, parameters.reason ?? ''],
    action: `deprecate ${name}@${version}`
  }, options)
}
