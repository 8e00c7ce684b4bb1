import { NotFoundError } from '../../errors.ts'
import { readContract } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

/** A parent version: its id on the ledger, or its name and version. */
export type ParentRef = bigint | { name: string, version: string }

/** Version ids of parent references; a name@version that is not on the ledger is an error. */
export async function resolveParents (ledger: Ledger, parents: readonly ParentRef[] = []): Promise<bigint[]> {
  const ids: bigint[] = []
  for (const parent of parents) {
    if (typeof parent === 'bigint') {
      ids.push(parent)
      continue
    }
    const id = await readContract(ledger, 'resolve a parent version', async () => await ledger.contracts.registry.read.versionId([parent.name, parent.version]))
    if (id === 0n) {
      throw new NotFoundError(`Parent ${parent.name}@${parent.version} is not on the ledger.`, { hint: 'Publish (or register) the parent version first, or leave it out of the lineage.' })
    }
    ids.push(id)
  }
  return ids
}
