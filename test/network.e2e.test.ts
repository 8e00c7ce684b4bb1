import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CarBlockIterator } from '@ipld/car'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { exporter } from 'ipfs-unixfs-exporter'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { FETCH_PROTOCOL } from '../src/net/constants.ts'
import { blockMatches } from '../src/storage/blockstore.ts'
import { makeTempDir, REPO_ROOT, startTestDaemon, type TestDaemon } from './helpers/daemon.ts'
import { startScript } from './helpers/processes.ts'

const MiB = 1024 * 1024

async function connect (from: TestDaemon, to: TestDaemon): Promise<void> {
  await from.json(['connect', to.multiaddrs[0]])
}

async function publishRandom (daemon: TestDaemon, dir: string, name: string, version: string, bytes: number): Promise<{ cid: string, file: string }> {
  const file = path.join(dir, `${name.replace('/', '_')}-${version}.bin`)
  await fs.writeFile(file, randomBytes(bytes))
  const { cid } = await daemon.json(['publish', file, '--name', name, '--version', version])
  return { cid, file }
}

async function waitFor (condition: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** Runs `myc pull --json` and collects its event lines. */
async function pullEvents (daemon: TestDaemon, ref: string, extra: string[] = []): Promise<{ code: number, events: any[], stderr: string }> {
  const result = await daemon.cli(['pull', ref, '--json', ...extra])
  return { code: result.code, events: result.stdout.trim().split('\n').filter(line => line !== '').map(line => JSON.parse(line)), stderr: result.stderr }
}

describe('peer-to-peer network', () => {
  let work: string
  const daemons: TestDaemon[] = []
  const start = async (args: string[] = []): Promise<TestDaemon> => {
    const daemon = await startTestDaemon({ args })
    daemons.push(daemon)
    return daemon
  }

  before(async () => { work = await makeTempDir('myc-net-') })
  after(async () => {
    await Promise.all(daemons.map(async daemon => { await daemon.cleanup() }))
    await fs.rm(work, { recursive: true, force: true })
  })

  it('3 nodes: A publishes, B follows and gets every version by itself, A dies, C pulls from B', async () => {
    const [a, b, c] = await Promise.all([start(), start(), start()])
    await connect(b, a)
    const v1 = await publishRandom(a, work, 'acme/net', '1.0.0', 3 * MiB + 5)
    await b.json(['follow', 'acme/net'])
    await waitFor(async () => (await b.json(['ls'])).some((v: any) => v.cid === v1.cid), 'B to fetch 1.0.0 on follow')
    assert.equal((await b.json(['follows']))[0].author, a.address, 'the follow is pinned to the publisher')

    const v2 = await publishRandom(a, work, 'acme/net', '2.0.0', 2 * MiB)
    await waitFor(async () => (await b.json(['ls'])).some((v: any) => v.cid === v2.cid), 'B to fetch 2.0.0 from the announcement')
    assert.equal((await b.json(['verify', v2.cid])).ok, true)

    await a.kill()
    await connect(c, b)
    const pulled = await pullEvents(c, 'acme/net@2.0.0')
    assert.equal(pulled.code, 0, pulled.stderr)
    assert.equal(pulled.events.at(-1).type, 'done')
    assert.equal(pulled.events.at(-1).cid, v2.cid)
    const out = path.join(work, 'c-out')
    assert.equal((await c.cli(['get', 'acme/net', '-o', out])).code, 0)
    assert.deepEqual(await fs.readFile(path.join(out, path.basename(v2.file))), await fs.readFile(v2.file))

    // Follows persist across restarts.
    await b.stop()
    const b2 = await startTestDaemon({ home: b.home })
    daemons.push(b2)
    assert.deepEqual((await b2.json(['follows'])).map((f: any) => f.name), ['acme/net'])
  })

  it('pulls a large model at full speed (the sender is not slowed by the receiver)', async () => {
    const [a, b] = await Promise.all([start(), start()])
    const model = await publishRandom(a, work, 'large', '1.0.0', 96 * MiB)
    await connect(b, a)
    const pulled = await pullEvents(b, model.cid)
    assert.equal(pulled.code, 0, pulled.stderr)
    assert.equal((await b.json(['verify', model.cid])).ok, true)
  })

  it('completes a pull from another provider when one is killed mid-transfer', async () => {
    const rate = ['--serve-rate', String(6 * MiB)]
    const [a, b, c] = await Promise.all([start(rate), start(rate), start()])
    const model = await publishRandom(a, work, 'big', '1.0.0', 40 * MiB)
    await connect(b, a)
    assert.equal((await b.cli(['pull', model.cid])).code, 0)
    await connect(c, a)
    await connect(c, b)

    const client = await (await import('../src/client/createClient.ts')).createClient({ apiUrl: c.apiUrl, home: c.home })
    let killed = false
    const peers = new Set<string>()
    const done = await client.pull(model.cid, {
      onEvent: event => {
        if (event.type === 'peer' && event.status === 'added') peers.add(event.peer)
        if (event.type === 'progress' && !killed && event.bytes > 8 * MiB) {
          killed = true
          void a.kill()
        }
      }
    })
    assert.ok(killed, 'the first provider was killed mid-transfer')
    assert.equal(peers.size, 2, 'both providers were used')
    assert.equal(done.cid, model.cid)
    assert.equal((await c.json(['verify', model.cid])).ok, true)
  })

  it('drops a peer that serves corrupted blocks and completes from an honest one', async () => {
    const [origin, honest, c] = await Promise.all([start(), start(['--serve-rate', String(8 * MiB)]), start()])
    const model = await publishRandom(origin, work, 'lied-about', '1.0.0', 24 * MiB)
    await connect(honest, origin)
    assert.equal((await honest.cli(['pull', model.cid])).code, 0)
    const evil = await startScript<{ multiaddrs: string[], peerId: string }>(path.join(REPO_ROOT, 'test/fixtures/evilPeer.ts'), [path.join(origin.home, 'blocks')])
    try {
      await origin.kill()
      await c.json(['connect', evil.info.multiaddrs[0]])
      await connect(c, honest)
      const pulled = await pullEvents(c, model.cid)
      assert.equal(pulled.code, 0, pulled.stderr)
      const dropped = pulled.events.filter(event => event.type === 'peer' && event.status === 'dropped')
      assert.deepEqual(dropped.map(event => event.peer), [evil.info.peerId])
      assert.match(dropped[0].reason, /corrupt block/)
      assert.equal((await c.json(['verify', model.cid])).ok, true)
    } finally {
      await evil.kill()
    }
  })

  it('fails after a bounded, configurable time when no provider has the model, storing nothing', async () => {
    const [a, b] = await Promise.all([start(), start()])
    await connect(a, b)
    const unknown = 'bafyreihhahummud67pmzdyi5oj3j2srkkloyqeyxqwde5opgvec2o2e7va'
    const started = Date.now()
    const result = await a.cli(['pull', unknown, '--timeout', '2'])
    assert.ok(Date.now() - started < 20_000)
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /No provider could supply/)
    assert.ok(result.stderr.includes(`${b.peerId} does not have it`), `the error says which peers were asked: ${result.stderr}`)
    assert.deepEqual(await a.json(['ls']), [])
    const unknownName = await a.cli(['pull', 'nobody/has-this'])
    assert.notEqual(unknownName.code, 0)
    assert.match(unknownName.stderr, /Unknown model/)
  })

  it('resets malformed and oversized protocol messages and keeps serving others', async () => {
    const [a, b] = await Promise.all([start(), start()])
    const model = await publishRandom(a, work, 'robust', '1.0.0', 2 * MiB)
    const raw = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } })
    try {
      const target = multiaddr(a.multiaddrs[0])
      for (const payload of [Uint8Array.of(5, 1, 2), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), new TextEncoder().encode('\u0010{"op":"nope"}....')]) {
        const stream = await raw.dialProtocol(target, FETCH_PROTOCOL)
        stream.send(payload)
        const chunks: Uint8Array[] = []
        await assert.rejects((async () => { for await (const chunk of stream) chunks.push(chunk.subarray()) })())
        assert.equal(chunks.length, 0, 'nothing is answered to a malformed request')
      }
    } finally {
      await raw.stop()
    }
    await connect(b, a)
    assert.equal((await b.cli(['pull', model.cid])).code, 0, 'the node still serves')
  })

  it('resumes an interrupted pull without fetching verified blocks again', async () => {
    const [a, b] = await Promise.all([start(['--serve-rate', String(8 * MiB)]), start()])
    const model = await publishRandom(a, work, 'resumable', '1.0.0', 24 * MiB)
    await connect(b, a)
    const client = await (await import('../src/client/createClient.ts')).createClient({ apiUrl: b.apiUrl, home: b.home })
    const controller = new AbortController()
    await assert.rejects(client.pull(model.cid, {
      signal: controller.signal,
      onEvent: event => { if (event.type === 'progress' && event.bytes > 6 * MiB) controller.abort() }
    }))
    await b.kill()
    const b2 = await startTestDaemon({ home: b.home })
    daemons.push(b2)
    assert.deepEqual(await b2.json(['ls']), [], 'an interrupted pull leaves no version behind')
    await connect(b2, a)
    const resumed = await pullEvents(b2, model.cid)
    assert.equal(resumed.code, 0, resumed.stderr)
    const last = resumed.events.filter(event => event.type === 'progress').at(-1)
    assert.ok(last.reusedBytes >= 4 * MiB, `resumed with ${last.reusedBytes} bytes already verified`)
    assert.ok(last.fetchedBytes <= 24 * MiB - last.reusedBytes + 64 * 1024, `fetched ${last.fetchedBytes} bytes: verified blocks were not fetched again`)
    assert.equal((await b2.json(['verify', model.cid])).ok, true)
  })

  it('serves IPFS clients: raw blocks and verifiable CARs from /ipfs/{cid}', async () => {
    const a = await start()
    const model = await publishRandom(a, work, 'ipfs-interop', '1.0.0', 3 * MiB + 123)
    const shown = await a.json(['show', model.cid])
    const fileCid = CID.parse(shown.manifest.files[0].cid)

    const rawResponse = await fetch(`${a.apiUrl}/ipfs/${model.cid}`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.equal(rawResponse.status, 200)
    assert.equal(rawResponse.headers.get('content-type'), 'application/vnd.ipld.raw')
    assert.ok(blockMatches(CID.parse(model.cid), new Uint8Array(await rawResponse.arrayBuffer())))

    const carResponse = await fetch(`${a.apiUrl}/ipfs/${fileCid.toString()}?format=car`)
    assert.equal(carResponse.status, 200)
    assert.match(carResponse.headers.get('content-type') ?? '', /^application\/vnd\.ipld\.car/)
    const blocks = new Map<string, Uint8Array>()
    const car = await CarBlockIterator.fromBytes(new Uint8Array(await carResponse.arrayBuffer()))
    assert.deepEqual((await car.getRoots()).map(root => root.toString()), [fileCid.toString()])
    for await (const block of car) {
      assert.ok(blockMatches(block.cid, block.bytes), `block ${block.cid} verifies`)
      blocks.set(block.cid.toString(), block.bytes)
    }
    // An IPFS client reassembles the file from the verified CAR alone.
    const entry = await exporter(fileCid, { async * get (cid: CID) { yield blocks.get(cid.toString())! } })
    const chunks: Uint8Array[] = []
    if (entry.type !== 'file') throw new Error('expected a file')
    for await (const chunk of entry.content()) chunks.push(chunk)
    assert.deepEqual(Buffer.concat(chunks), await fs.readFile(model.file))

    assert.equal((await fetch(`${a.apiUrl}/ipfs/${model.cid}`)).status, 406)
    assert.equal((await fetch(`${a.apiUrl}/ipfs/not-a-cid?format=raw`)).status, 400)
  })

  it('keeps private networks apart with a swarm key', async () => {
    const keyFile = path.join(work, 'swarm.key')
    const otherKey = path.join(work, 'other.key')
    const generated = await (await import('./helpers/daemon.ts')).runCli(['swarm-key'])
    await fs.writeFile(keyFile, generated.stdout)
    await fs.writeFile(otherKey, (await (await import('./helpers/daemon.ts')).runCli(['swarm-key'])).stdout)
    const [a, b, outsider] = await Promise.all([start(['--swarm-key', keyFile]), start(['--swarm-key', keyFile]), start(['--swarm-key', otherKey])])
    await connect(a, b)
    assert.equal((await a.json(['peers'])).length, 1)
    const refused = await outsider.cli(['connect', a.multiaddrs[0]])
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr, /Could not connect/)
  })
})
