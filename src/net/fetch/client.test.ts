import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { BlockStore } from '../../storage/blockstore.ts'
import { FETCH_STORES_IN_FLIGHT_PER_REQUEST } from '../constants.ts'
import { requestBlocks } from './client.ts'
import { registerFetchHandler } from './handler.ts'
import type { Libp2p } from '@libp2p/interface'

async function host (): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
}

const settle = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('requestBlocks', () => {
  let dir: string
  let store: BlockStore
  let provider: Libp2p
  let client: Libp2p
  const cids: CID[] = []
  const blocks = new Map<string, Buffer>()

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-fetch-client-'))
    store = new BlockStore(dir)
    await store.open()
    for (let i = 0; i < 12; i++) {
      const bytes = randomBytes(64 * 1024 + i)
      const cid = CID.createV1(raw.code, await sha256.digest(bytes))
      await store.put(cid, bytes)
      cids.push(cid)
      blocks.set(cid.toString(), bytes)
    }
    provider = await host()
    client = await host()
    await registerFetchHandler(provider, { store })
    await client.dial(provider.getMultiaddrs()[0])
  })
  after(async () => {
    await Promise.all([client?.stop(), provider?.stop()])
    await store?.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('hands blocks over in request order, verified, with a few stores pending while the next arrive', async () => {
    const order: string[] = []
    let pending = 0
    let mostPending = 0
    await requestBlocks({ libp2p: client }, provider.peerId, cids, async (cid, bytes) => {
      order.push(cid.toString())
      assert.ok(typeof bytes !== 'string', `${cid.toString()} should have been found`)
      assert.deepEqual(Buffer.from(bytes.subarray()), blocks.get(cid.toString()))
      pending++
      mostPending = Math.max(mostPending, pending)
      await settle(15)
      pending--
    })
    assert.deepEqual(order, cids.map(String))
    assert.equal(pending, 0, 'every store finished before the request resolved')
    assert.ok(mostPending > 1, 'stores overlap the next frames')
    assert.ok(mostPending <= FETCH_STORES_IN_FLIGHT_PER_REQUEST, `at most ${FETCH_STORES_IN_FLIGHT_PER_REQUEST} stores pending, saw ${mostPending}`)
  })

  it('a failed store fails the request, once the stores already handed over have settled', async () => {
    const settled = new Set<string>()
    let calls = 0
    await assert.rejects(requestBlocks({ libp2p: client }, provider.peerId, cids, async cid => {
      const call = ++calls
      await settle(call === 2 ? 5 : 20)
      if (call === 2) throw new Error('disk full')
      settled.add(cid.toString())
    }), /disk full/)
    // Block 1 was handed over before block 2 failed; it had settled by the time the request rejected.
    assert.ok(settled.has(cids[0].toString()))
    assert.ok(calls < cids.length, 'no block is handed over after the failure is known')
  })
})
