import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { importByteStream } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { importFile } from './importFile.ts'
import type { CID } from 'multiformats/cid'

/** A store that keeps blocks in memory, standing in for the disk. */
function memoryStore (): { put: (cid: CID, bytes: Uint8Array) => Promise<CID>, blocks: Map<string, Uint8Array> } {
  const blocks = new Map<string, Uint8Array>()
  return { blocks, put: async (cid, bytes) => { blocks.set(cid.toString(), new Uint8Array(bytes)); return cid } }
}

async function * pieces (bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

describe('importFile', () => {
  let dir: string
  before(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-import-')) })
  after(async () => { await fs.rm(dir, { recursive: true, force: true }) })

  // Small chunks and a narrow fan-out build multi-level trees from a few KiB.
  const layout = { chunkBytes: 1024, maxChildren: 4 }
  for (const size of [1, 1024, 1025, 4 * 1024, 4 * 1024 + 1, 17 * 1024 + 3, 70 * 1024]) {
    it(`gives the CIDs of ipfs-unixfs-importer's balanced layout for ${size} bytes`, async () => {
      const bytes = randomBytes(size)
      const reference = await importByteStream(pieces(bytes, 700), memoryStore(), {
        cidVersion: 1,
        rawLeaves: true,
        reduceSingleLeafToSelf: true,
        chunker: fixedSize({ chunkSize: layout.chunkBytes }),
        layout: balanced({ maxChildrenPerNode: layout.maxChildren })
      })
      const file = path.join(dir, `f${size}`)
      await fs.writeFile(file, bytes)
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      for (const source of [pieces(bytes, 300), { path: file }]) {
        const store = memoryStore()
        const result = await importFile(store, { source, layout })
        assert.equal(result.cid.toString(), reference.cid.toString())
        assert.equal(result.size, size)
        assert.equal(result.sha256, sha256)
        const leafBytes = [...store.blocks.entries()].filter(([cid]) => cid.startsWith('bafk')).reduce((sum, [, block]) => sum + block.length, 0)
        assert.ok(leafBytes <= size, 'no leaf is stored twice')
      }
    })
  }

  it('uses the unixfs-v1-2025 profile by default (1 MiB raw leaves)', async () => {
    const bytes = randomBytes(2 * 1024 * 1024 + 5)
    const reference = await importByteStream(pieces(bytes, 65536), memoryStore(), { profile: 'unixfs-v1-2025' })
    const result = await importFile(memoryStore(), { source: pieces(bytes, 65536) })
    assert.equal(result.cid.toString(), reference.cid.toString())
  })

  it('fails when the store fails, without hanging', async () => {
    const failing = { put: async () => { throw new Error('disk full') } }
    await assert.rejects(importFile(failing, { source: pieces(randomBytes(40 * 1024), 1000), layout }), /disk full/)
  })
})
