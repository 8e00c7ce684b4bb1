import { blockMatches } from '../storage/blockstore.ts'
import { verifyFileDag, type ChunkReport } from '../storage/dag.ts'
import { verifyManifestSignature } from '../manifest/sign.ts'
import { decodeManifest } from '../manifest/manifest.ts'
import { parseCid } from '../storage/blockstore.ts'
import { resolveRefEntry } from './resolveRefEntry.ts'
import type { RegistryComponents } from './components.ts'
import type { AbortOptions } from '@libp2p/interface'

export interface FileVerification {
  path: string
  cid: string
  size: number
  ok: boolean
  chunks: number
  /** Only the chunks that failed; a clean file lists none. */
  bad: ChunkReport[]
}

export interface VerifyModelReturnType {
  cid: string
  name: string
  version: string
  ok: boolean
  manifest: { ok: boolean, reason?: string }
  signature: { ok: boolean, signer?: string, reason?: string }
  files: FileVerification[]
}

/** Re-hashes every block of a version and checks its signature, reporting per file and per chunk. */
export async function verifyModel (components: Pick<RegistryComponents, 'index' | 'store'>, ref: string, options?: AbortOptions): Promise<VerifyModelReturnType> {
  const entry = resolveRefEntry(components, ref)
  const cid = parseCid(entry.cid)!
  const report: VerifyModelReturnType = {
    cid: entry.cid,
    name: entry.name,
    version: entry.version,
    ok: false,
    manifest: { ok: false },
    signature: { ok: false },
    files: []
  }
  const bytes = await components.store.getUnverified(cid, options)
  if (!blockMatches(cid, bytes)) {
    report.manifest = { ok: false, reason: 'the manifest block no longer hashes to its CID' }
    return report
  }
  const manifest = decodeManifest(bytes)
  report.manifest = { ok: true }
  const signature = await verifyManifestSignature(manifest)
  report.signature = { ok: signature.valid, signer: signature.signer, reason: signature.reason }
  for (const file of manifest.files) {
    const bad: ChunkReport[] = []
    let chunks = 0
    for await (const chunk of verifyFileDag(components.store, file.cid, options)) {
      chunks++
      if (chunk.status !== 'ok') bad.push(chunk)
    }
    report.files.push({ path: file.path, cid: file.cid.toString(), size: file.size, ok: bad.length === 0, chunks, bad })
  }
  report.ok = report.signature.ok && report.files.every(file => file.ok)
  return report
}
