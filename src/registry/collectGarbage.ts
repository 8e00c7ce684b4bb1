import fs from 'node:fs/promises'
import path from 'node:path'
import { BaseError } from '../errors.ts'
import { decodeManifest } from '../manifest/manifest.ts'
import { parseCid } from '../storage/blockstore.ts'
import { walkDag } from '../storage/dag.ts'
import { logger } from '../utils/logger.ts'
import type { RegistryComponents } from './components.ts'
import { base64 } from 'multiformats/bases/base64'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

const log = logger('registry:gc')

export interface CollectGarbageReturnType {
  removedBlocks: number
  removedBytes: number
  keptBlocks: number
}

/**
 * Mark and sweep: every block reachable from an indexed version or a pinned file is kept, everything else (blocks
 * of removed versions, of interrupted publishes and imports) is deleted. Runs alone: publishes and
 * imports wait, so their not-yet-committed blocks are never swept.
 */
export async function collectGarbage (components: RegistryComponents, options: AbortOptions = {}): Promise<CollectGarbageReturnType> {
  const { store, index, storeLock } = components
  return await storeLock.exclusive(async () => {
    // blockstore-fs keys blocks by multihash alone, so liveness is decided by multihash, not by CID.
    const live = new Set<string>()
    const key = (cid: CID): string => base64.encode(cid.multihash.bytes)
    for (const entry of index.list()) {
      const root = parseCid(entry.cid)!
      try {
        live.add(key(root))
        const manifest = decodeManifest(await store.getVerified(root, options))
        for (const file of manifest.files) {
          for await (const block of walkDag(store, file.cid, options)) live.add(key(block.cid))
        }
      } catch (err) {
        // Sweeping around a damaged version could delete the rest of it; refuse instead.
        throw new BaseError(`gc stopped: ${entry.name}@${entry.version} is damaged, so what it references cannot be determined.`, {
          code: 'GC_DAMAGED_VERSION',
          status: 409,
          cause: err,
          hint: `Run \`myc verify ${entry.cid}\`, then \`myc rm\` it (or re-import it) and run gc again. Nothing was deleted.`
        })
      }
    }
    for (const pin of index.pins()) {
      const root = parseCid(pin.cid)
      if (root == null) continue
      try {
        for await (const block of walkDag(store, root, options)) live.add(key(block.cid))
      } catch (err: any) {
        // A pinned file fetched only in part: keep what is there, it is still wanted.
        log('pinned %s (%s) is incomplete: %s', pin.cid, pin.label, err.message)
        live.add(key(root))
      }
    }
    let removedBlocks = 0
    let removedBytes = 0
    let keptBlocks = 0
    for await (const cid of store.cids(options)) {
      if (live.has(key(cid))) {
        keptBlocks++
        continue
      }
      const stat = await fs.stat(store.blockPath(cid)).catch(() => undefined)
      await store.delete(cid, options)
      removedBlocks++
      removedBytes += stat?.size ?? 0
    }
    removedBytes += await removeStaleTempFiles(store.root)
    log('gc removed %d blocks (%d bytes), kept %d', removedBlocks, removedBytes, keptBlocks)
    return { removedBlocks, removedBytes, keptBlocks }
  })
}

/** A write killed between temp file and rename leaves a `.tmp` file behind (ours, or steno's `.NAME.tmp`). */
async function removeStaleTempFiles (root: string): Promise<number> {
  let bytes = 0
  for (const entry of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.tmp')) {
      const file = path.join(entry.parentPath, entry.name)
      bytes += (await fs.stat(file)).size
      await fs.rm(file, { force: true })
    }
  }
  return bytes
}
