import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import * as raw from 'multiformats/codecs/raw'
import { IntegrityError } from '../errors.ts'
import { decodeManifest, type Manifest } from '../manifest/manifest.ts'
import { verifyManifestSignature } from '../manifest/sign.ts'
import { DISCOVERY_PATIENCE_MS } from '../net/constants.ts'
import { BlockFetcher, type BlockFetcherComponents, type WantedBlock } from './blockFetcher.ts'
import type { BlockStore } from '../storage/blockstore.ts'
import type { DiscoveryRound } from './findProviders.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export type TransferProgress =
  | { type: 'manifest', cid: string, name: string, version: string, totalBytes: number, localBytes: number }
  | { type: 'progress', bytes: number, totalBytes: number, fetchedBytes: number, reusedBytes: number, peers: number, bytesPerSecond: number }
  | { type: 'peer', peer: string, status: 'added' | 'dropped', reason?: string }

export interface FetchVersionComponents extends BlockFetcherComponents {
  store: Pick<BlockStore, 'put' | 'has' | 'getVerified'>
}

export interface FetchVersionParameters extends AbortOptions {
  root: CID
  /** One round of provider discovery; rounds repeat while none is found (within the timeout). */
  findProviders: DiscoveryRound
  /** How long the transfer may go without any progress before it fails. */
  timeoutMs: number
  onProgress?: (event: TransferProgress) => void
  /** Checks the verified manifest before any file is fetched; throwing stops the transfer. */
  onManifest?: (manifest: Manifest) => Promise<void>
}

/**
 * Fetches a model version — its manifest, then every file DAG level by level — from all providers
 * in parallel. Blocks already stored are not fetched again, so an interrupted pull resumes.
 */
export async function fetchVersion (components: FetchVersionComponents, { root, findProviders, timeoutMs, onProgress, onManifest, signal }: FetchVersionParameters): Promise<Manifest> {
  const controller = new AbortController()
  const linked = signal != null ? AbortSignal.any([signal, controller.signal]) : controller.signal
  let fetchedBytes = 0
  let doneBytes = 0
  let totalBytes = 0
  /** Leaf bytes found already verified in the store (a resumed pull does not fetch them). */
  let reusedBytes = 0
  const started = performance.now()
  let lastReport = 0
  const fetcher = new BlockFetcher(components, {
    signal: linked,
    onEvent: event => {
      if (event.type === 'block') {
        fetchedBytes += event.bytes
        if (event.cid.code === raw.code) doneBytes += event.bytes
        const now = performance.now()
        if (now - lastReport > 100) {
          lastReport = now
          onProgress?.({ type: 'progress', bytes: doneBytes, totalBytes, fetchedBytes, reusedBytes, peers: fetcher.activePeers, bytesPerSecond: fetchedBytes / Math.max((now - started) / 1000, 0.001) })
        }
      } else {
        onProgress?.({ type: 'peer', peer: event.peer.toString(), status: event.type === 'peer:added' ? 'added' : 'dropped', ...(event.type === 'peer:dropped' ? { reason: event.reason } : {}) })
      }
    }
  })
  fetcher.discover(findProviders, Math.min(timeoutMs, DISCOVERY_PATIENCE_MS))

  try {
    await fetcher.fetch([{ cid: root }], timeoutMs)
    const manifest = decodeManifest(await components.store.getVerified(root))
    const signature = await verifyManifestSignature(manifest)
    if (!signature.valid) throw new IntegrityError(`The manifest ${root.toString()} has an invalid signature: ${signature.reason}.`, { code: 'INVALID_SIGNATURE', hint: 'The provider served a forged or damaged manifest; nothing was stored as a version.' })
    await onManifest?.(manifest)
    totalBytes = manifest.files.reduce((sum, file) => sum + file.size, 0)
    const level: WantedBlock[] = manifest.files.map(file => ({ cid: file.cid, size: file.cid.code === raw.code ? file.size : undefined }))
    const localBytes = await countLocalLeafBytes(components, level)
    doneBytes = localBytes
    reusedBytes = localBytes
    onProgress?.({ type: 'manifest', cid: root.toString(), name: manifest.name, version: manifest.version, totalBytes, localBytes })
    await fetchFileLevels(components, fetcher, level, timeoutMs, local => {
      doneBytes += local
      reusedBytes += local
    })
    onProgress?.({ type: 'progress', bytes: totalBytes, totalBytes, fetchedBytes, reusedBytes, peers: fetcher.activePeers, bytesPerSecond: fetchedBytes / Math.max((performance.now() - started) / 1000, 0.001) })
    return manifest
  } finally {
    fetcher.finished = true
    controller.abort()
  }
}

/** Bytes of raw leaves already stored (a resumed pull counts them as done without fetching them). */
async function countLocalLeafBytes ({ store }: { store: Pick<BlockStore, 'has'> }, blocks: WantedBlock[]): Promise<number> {
  let bytes = 0
  for (const block of blocks) {
    if (block.cid.code === raw.code && await store.has(block.cid)) bytes += block.size ?? 0
  }
  return bytes
}

/**
 * Fetches UnixFS file DAGs level by level from their roots (`level`): each level's blocks in one
 * parallel batch, then the children their dag-pb nodes link to. `onLocal` gets the leaf bytes of each
 * new level that were already stored.
 */
export async function fetchFileLevels (components: FetchVersionComponents, fetcher: BlockFetcher, level: WantedBlock[], timeoutMs: number, onLocal?: (bytes: number) => void): Promise<void> {
  while (level.length > 0) {
    await fetcher.fetch(level, timeoutMs)
    const next: WantedBlock[] = []
    for (const block of level) {
      if (block.cid.code !== dagPb.code) continue
      const node = dagPb.decode(await components.store.getVerified(block.cid))
      const unixfs = node.Data != null ? UnixFS.unmarshal(node.Data) : undefined
      node.Links.forEach((link, i) => next.push({ cid: link.Hash, size: unixfs?.blockSizes[i] != null ? Number(unixfs.blockSizes[i]) : undefined }))
    }
    onLocal?.(await countLocalLeafBytes(components, next))
    level = next
  }
}
