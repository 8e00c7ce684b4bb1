import { CarWriter } from '@ipld/car'
import { walkDag } from '../storage/dag.ts'
import { resolveRef } from './resolveRef.ts'
import type { RegistryComponents } from './components.ts'
import type { Manifest } from '../manifest/manifest.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface ExportCarReturnType {
  root: CID
  manifest: Manifest
  /** A CAR v1 stream: the manifest block first, then every file DAG depth-first. */
  car: AsyncIterable<Uint8Array>
}

/** Parents are not included: each is a version of its own, exported on its own. */
export async function exportCar (components: Pick<RegistryComponents, 'index' | 'store'>, ref: string, options: AbortOptions = {}): Promise<ExportCarReturnType> {
  const { cid, manifest } = await resolveRef(components, ref, options)
  const { writer, out } = CarWriter.create([cid])
  const manifestBytes = await components.store.getVerified(cid, options)
  let errored: unknown
  void (async () => {
    try {
      await writer.put({ cid, bytes: manifestBytes })
      for (const file of manifest.files) {
        for await (const block of walkDag(components.store, file.cid, { ...options, withRawLeaves: true })) {
          await writer.put({ cid: block.cid, bytes: block.bytes! })
        }
      }
      await writer.close()
    } catch (err) {
      // Surfacing the failure through the stream makes a consumer fail instead of saving a short CAR.
      errored = err
      await writer.close().catch(() => {})
    }
  })()
  async function * car (): AsyncGenerator<Uint8Array> {
    for await (const chunk of out) yield chunk
    if (errored != null) throw errored
  }
  return { root: cid, manifest, car: car() }
}
