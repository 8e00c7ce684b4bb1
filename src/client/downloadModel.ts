import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { IntegrityError, InvalidInputError } from '../errors.ts'
import type { MyceliumClient, VersionDetail } from './createClient.ts'
import type { PullEvent } from '../api/routes/network.ts'

export interface DownloadModelParameters {
  ref: string
  outDir: string
  onBytes?: (bytes: number, total: number) => void
}

/** The version a REF names, pulled from the network first when it is not stored on the node. */
export async function showOrPull (client: MyceliumClient, ref: string, onEvent?: (event: PullEvent) => void): Promise<VersionDetail> {
  try {
    return await client.show(ref)
  } catch (err: any) {
    if (err.code !== 'UNKNOWN_REF') throw err
  }
  const pulled = await client.pull(ref, { onEvent })
  return await client.show(pulled.cid)
}

export interface DownloadModelReturnType {
  detail: VersionDetail
  outDir: string
  files: Array<{ path: string, size: number }>
}

/**
 * Writes every file of a version into `outDir`, each through a temp file renamed only once its
 * SHA-256 matches the manifest — so a failed or tampered download leaves nothing behind.
 */
export async function downloadModel (client: MyceliumClient, { ref, outDir, onBytes }: DownloadModelParameters): Promise<DownloadModelReturnType> {
  const detail = await client.show(ref)
  const total = detail.manifest.files.reduce((sum, file) => sum + file.size, 0)
  const root = path.resolve(outDir)
  let done = 0
  for (const file of detail.manifest.files) {
    const target = path.resolve(root, file.path)
    if (!target.startsWith(root + path.sep)) throw new InvalidInputError(`Refusing to write "${file.path}" outside ${root}.`)
    await fs.mkdir(path.dirname(target), { recursive: true })
    const temp = `${target}.myc-partial`
    const hash = createHash('sha256')
    try {
      const response = await client.downloadFile(detail.cid, file.path)
      const body = Readable.fromWeb(response.body as any)
      body.on('data', (chunk: Buffer) => { hash.update(chunk); done += chunk.byteLength; onBytes?.(done, total) })
      await pipeline(body, createWriteStream(temp))
    } catch (err: any) {
      await fs.rm(temp, { force: true })
      if (err.name === 'ApiError') throw err
      throw await explainFailure(client, detail, file.path, err)
    }
    const sha256 = hash.digest('hex')
    if (sha256 !== file.sha256) {
      await fs.rm(temp, { force: true })
      throw new IntegrityError(`${file.path}: the downloaded bytes do not match the manifest's SHA-256.`, { hint: `Run \`myc verify ${detail.cid}\`.` })
    }
    await fs.rename(temp, target)
  }
  return { detail, outDir: root, files: detail.manifest.files.map(file => ({ path: file.path, size: file.size })) }
}

/** A stream cut mid-way is usually a corrupt block on the node: ask it which one. */
async function explainFailure (client: MyceliumClient, detail: VersionDetail, filePath: string, cause: unknown): Promise<Error> {
  try {
    const report = await client.verify(detail.cid)
    const bad = report.files.find(file => file.path === filePath && !file.ok)?.bad[0]
    if (bad != null) {
      return new IntegrityError(`Refusing to get ${filePath}: chunk ${bad.index} (bytes ${bad.offset}-${bad.offset + bad.size - 1}, block ${bad.cid}) is ${bad.status} on the node.`, {
        code: 'BLOCK_CORRUPT',
        hint: `Nothing was written. Run \`myc verify ${detail.cid}\` for the full report; re-import or re-fetch the version.`
      })
    }
  } catch {
    // The node cannot explain it either: report the transfer failure itself.
  }
  return new IntegrityError(`Download of ${filePath} failed: ${(cause as Error).message}`, { cause })
}
