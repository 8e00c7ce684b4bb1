import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { Uint8ArrayList } from 'uint8arraylist'
import { blockMatches, BlockStore } from './blockstore.ts'

async function rawCid (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

describe('BlockStore', () => {
  let dir: string
  let store: BlockStore
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-blockstore-'))
    store = new BlockStore(dir)
    await store.open()
  })
  after(async () => {
    await store.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('verifies and stores a block given as the pieces it arrived in', async () => {
    const bytes = randomBytes(1024 * 1024 + 3)
    const cid = await rawCid(bytes)
    const pieces = new Uint8ArrayList(bytes.subarray(0, 1), bytes.subarray(1, 65_536), bytes.subarray(65_536, 65_536), bytes.subarray(65_536))
    assert.equal(blockMatches(cid, pieces), true)
    await store.put(cid, pieces)
    assert.deepEqual(Buffer.from(await store.getVerified(cid)), bytes)
    assert.equal((await fs.readdir(path.dirname(store.blockPath(cid)))).filter(name => name.endsWith('.tmp')).length, 0)
  })

  it('refuses pieces that do not hash to the CID', async () => {
    const bytes = randomBytes(70_000)
    const cid = await rawCid(bytes)
    const tampered = Buffer.from(bytes)
    tampered[69_999] ^= 1
    assert.equal(blockMatches(cid, new Uint8ArrayList(tampered.subarray(0, 5), tampered.subarray(5))), false)
    assert.equal(blockMatches(cid, new Uint8ArrayList(bytes.subarray(0, 5))), false)
  })
})
