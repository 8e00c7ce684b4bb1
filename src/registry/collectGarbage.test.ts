import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { BlockStore } from '../storage/blockstore.ts'
import { importFile } from '../storage/importFile.ts'
import { RwLock } from '../utils/rwLock.ts'
import { collectGarbage } from './collectGarbage.ts'
import { LocalIndex } from './localIndex.ts'
import type { Identity } from '../identity/identity.ts'

describe('gc and pinned files', () => {
  const dirs: string[] = []
  after(async () => { await Promise.all(dirs.map(async dir => { await fs.rm(dir, { recursive: true, force: true }) })) })

  test('keeps every block of a pinned file, and reclaims it once unpinned', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-gc-'))
    dirs.push(dir)
    const store = new BlockStore(path.join(dir, 'blocks'))
    await store.open()
    const index = new LocalIndex(path.join(dir, 'index.db'))
    const components = { store, index, storeLock: new RwLock(), identity: undefined as unknown as Identity }
    const bytes = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251)
    const pinned = await importFile(store, { source: (async function * () { yield bytes })() })
    const loose = await importFile(store, { source: (async function * () { yield new Uint8Array(10).fill(7) })() })
    index.pin(pinned.cid.toString(), 'fl job 1 update 2')
    index.pin(pinned.cid.toString(), 'again: a pin is kept once')

    const first = await collectGarbage(components)
    assert.equal(first.removedBlocks, 1, 'only the unpinned file went')
    assert.equal(first.keptBlocks, 5, 'the pinned root and its 4 chunks stayed')
    assert.equal(await store.has(loose.cid), false)

    assert.equal(index.unpinLabelled('fl job 1 update '), 1)
    assert.equal(index.unpinLabelled('fl job 1 update '), 0)
    const second = await collectGarbage(components)
    assert.equal(second.removedBlocks, 5)
    index.close()
    await store.close()
  })
})
