import { parseCid } from '../../storage/blockstore.ts'
import { dagByteSource } from '../../storage/dag.ts'
import { importFile } from '../../storage/importFile.ts'
import { findProviders } from '../../transfer/findProviders.ts'
import { fetchFile } from '../../transfer/fetchFile.ts'
import { InvalidInputError } from '../../errors.ts'
import { FL_FETCH_TIMEOUT_MS } from './constants.ts'
import type { PullComponents } from '../../registry/pullModel.ts'
import type { FlMessenger } from './flMessenger.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** What storing and fetching a job's files (task spec, updates, aggregates) needs. */
export interface JobFilesComponents extends Pick<PullComponents, 'store' | 'index' | 'storeLock' | 'libp2p'> {
  messenger: Pick<FlMessenger, 'providersOf'>
  announcer: Pick<PullComponents['announcer'], 'providersOf'>
}

/**
 * Stores bytes as a UnixFS file (the same CID `ipfs add` gives under unixfs-v1-2025) and pins it, so
 * gc keeps it and the fetch protocol serves it. Same bytes, same CID, on every node.
 */
export async function storeJobFile (components: JobFilesComponents, bytes: Uint8Array, label: string, options: AbortOptions = {}): Promise<CID> {
  return await components.storeLock.shared(async () => {
    const { cid } = await importFile(components.store, { source: (async function * () { yield bytes })(), signal: options.signal })
    components.index.pin(cid.toString(), label)
    return cid
  })
}

/**
 * A job file by CID: read from the store, or fetched first from whoever has it (peers that hinted
 * it, connected peers, announcers, the DHT), every block verified. Refuses files over `maxBytes`
 * before fetching their data. The fetched file is pinned under `label`.
 */
export async function readJobFile (components: JobFilesComponents, cidText: string, { maxBytes, label, timeoutMs = FL_FETCH_TIMEOUT_MS, signal }: AbortOptions & { maxBytes: number, label: string, timeoutMs?: number }): Promise<Uint8Array> {
  const cid = parseCid(cidText)
  if (cid == null) throw new InvalidInputError(`"${cidText}" is not a CID.`, { code: 'INVALID_CID' })
  const hinted = {
    providersOf: (key: string) => [...components.messenger.providersOf(key), ...components.announcer.providersOf(key)]
  }
  const size = await components.storeLock.shared(async () => {
    const fetched = await fetchFile(components, {
      root: cid,
      findProviders: round => findProviders({ libp2p: components.libp2p, announcer: hinted }, cid, { signal, ...round }),
      timeoutMs,
      maxBytes,
      signal
    })
    components.index.pin(cid.toString(), label)
    return fetched
  })
  const source = await dagByteSource(components.store, cid, size)
  return await source.read(0, size, { signal })
}
