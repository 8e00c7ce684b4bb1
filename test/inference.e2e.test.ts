import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { encodeNpy, decodeNpy } from '../src/inference/codecs/npy.ts'
import { INFER_PROTOCOL } from '../src/inference/constants.ts'
import { buildMlpOnnx, mlpForward } from './fixtures/onnx.ts'
import { makeTempDir, REPO_ROOT, startTestDaemon, type TestDaemon } from './helpers/daemon.ts'
import { startScript } from './helpers/processes.ts'

const MLP = { inputSize: 4, hidden: 8, outputSize: 3, seed: 7 }
const ROWS = [[1, 2, 3, 4], [0.5, -1, 0, 2]]

function assertClose (actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  assert.equal(actual.length, expected.length)
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) < 1e-5, `value ${i}: ${actual[i]} vs ${expected[i]}`)
}

const expected = ROWS.flatMap(row => Array.from(mlpForward(MLP, row)))

describe('inference', () => {
  let work: string
  let a: TestDaemon
  let cid: string
  const others: TestDaemon[] = []

  before(async () => {
    work = await makeTempDir('myc-infer-')
    a = await startTestDaemon()
    await fs.writeFile(path.join(work, 'mlp.onnx'), buildMlpOnnx(MLP))
    cid = (await a.json(['publish', path.join(work, 'mlp.onnx'), '--name', 'acme/mlp', '--version', '1.0.0'])).cid
    await fs.writeFile(path.join(work, 'weights.bin'), randomBytes(1000))
    await a.json(['publish', path.join(work, 'weights.bin'), '--name', 'opaque', '--version', '1.0.0'])
  })
  after(async () => {
    await Promise.all([a, ...others].map(async daemon => { await daemon?.cleanup() }))
    await fs.rm(work, { recursive: true, force: true })
  })

  it('answers the Open Inference Protocol endpoints per the spec', async () => {
    const base = `${a.apiUrl}/v2`
    assert.deepEqual(await (await fetch(`${base}/health/live`)).json(), { live: true })
    assert.deepEqual(await (await fetch(`${base}/health/ready`)).json(), { ready: true })
    const metadata = await (await fetch(`${base}/models/acme%2Fmlp`)).json() as any
    assert.deepEqual(metadata, {
      name: 'acme/mlp',
      versions: ['1.0.0'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 3] }]
    })
    assert.equal((await fetch(`${base}/models/acme%2Fmlp/versions/1.0.0/ready`)).status, 200)
    const response = await fetch(`${base}/models/acme%2Fmlp/versions/1.0.0/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'r1', inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: ROWS }] })
    })
    assert.equal(response.status, 200)
    const body = await response.json() as any
    assert.equal(body.model_name, 'acme/mlp')
    assert.equal(body.model_version, '1.0.0')
    assert.equal(body.id, 'r1')
    assert.deepEqual(body.outputs[0].shape, [2, 3])
    assert.equal(body.outputs[0].datatype, 'FP32')
    assertClose(body.outputs[0].data, expected)
  })

  it('rejects bad inputs with 4xx errors in the protocol shape, naming what the model expects', async () => {
    const infer = async (body: unknown, model = 'acme%2Fmlp'): Promise<{ status: number, error: string }> => {
      const response = await fetch(`${a.apiUrl}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      return { status: response.status, error: (await response.json() as any).error }
    }
    const wrongName = await infer({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })
    assert.equal(wrongName.status, 400)
    assert.match(wrongName.error, /input/)
    const wrongType = await infer({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] }] })
    assert.equal(wrongType.status, 400)
    assert.match(wrongType.error, /float32/)
    const wrongShape = await infer({ inputs: [{ name: 'input', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] })
    assert.equal(wrongShape.status, 400)
    assert.match(wrongShape.error, /expected float32\[batch, 4\], got float32\[1, 5\]/)
    const notOnnx = await infer({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, 'opaque')
    assert.equal(notOnnx.status, 400)
    assert.match(notOnnx.error, /ONNX/)
    const unknown = await infer({ inputs: [] }, 'nope')
    assert.equal(unknown.status, 404)

    // Over the input size limit: 65 MiB of float32 sent as binary tensor data.
    const rows = (65 * 1024 * 1024) / 16
    const header = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, 4], datatype: 'FP32', parameters: { binary_data_size: rows * 16 } }] }))
    const big = new Uint8Array(header.length + rows * 16)
    big.set(header)
    const tooLarge = await fetch(`${a.apiUrl}/v2/models/acme%2Fmlp/infer`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }, body: big })
    assert.equal(tooLarge.status, 413)
  })

  it('runs `myc infer` on JSON and .npy inputs and writes .npy outputs', async () => {
    await fs.writeFile(path.join(work, 'in.json'), JSON.stringify({ input: ROWS }))
    const json = JSON.parse((await a.cli(['infer', 'acme/mlp', '-i', path.join(work, 'in.json'), '--json'])).stdout)
    assertClose(json.outputs.logits.data.flat(), expected)

    await fs.writeFile(path.join(work, 'in.npy'), encodeNpy({ name: 'input', dtype: 'float32', shape: [2, 4], data: new Float32Array(ROWS.flat()) }))
    const out = path.join(work, 'out.npy')
    const result = await a.cli(['infer', cid, '-i', `input=${path.join(work, 'in.npy')}`, '-o', out])
    assert.equal(result.code, 0, result.stderr)
    const logits = decodeNpy(await fs.readFile(out), 'logits')
    assert.deepEqual(logits.shape, [2, 3])
    assertClose(logits.data as Float32Array, expected)

    const bad = await a.cli(['infer', 'acme/mlp', '-i', path.join(work, 'weights.bin')])
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /neither a \.npy file nor valid JSON/)
  })

  it('serves inference to the network: providers are found, a vanished provider is failed over, malformed messages are reset', async () => {
    // B and C share C's ledger: B's calls are paid through a payment channel on it. A serves free.
    const c = await startTestDaemon()
    const b = await startTestDaemon({ chainFrom: c })
    others.push(b, c)
    await b.json(['chain', 'faucet'])
    await b.json(['connect', a.multiaddrs[0]])
    assert.equal((await b.cli(['pull', cid])).code, 0)
    await a.json(['serve', 'acme/mlp', '--price', '0'])
    await b.json(['serve', cid, '--price', '0.01', '--max-concurrency', '2'])
    await c.json(['connect', a.multiaddrs[0]])
    await c.json(['connect', b.multiaddrs[0]])
    const providers = await c.json(['providers', cid])
    assert.deepEqual(providers.map((p: any) => p.peerId), [a.peerId, b.peerId], 'cheapest first')

    await fs.writeFile(path.join(work, 'in.json'), JSON.stringify({ input: ROWS }))
    const remote = JSON.parse((await c.cli(['infer', cid, '-i', path.join(work, 'in.json'), '--remote', '--json'])).stdout)
    assert.equal(remote.provider, a.peerId)
    assertClose(remote.outputs.logits.data.flat(), expected)
    assert.deepEqual(await c.json(['ls']), [], 'a remote call fetches no weights')

    // A paid call: C opens a channel to B and pays with a voucher; both sign the receipt; B anchors it.
    const paid = JSON.parse((await c.cli(['infer', cid, '-i', path.join(work, 'in.json'), '--peer', b.peerId, '--json'])).stdout)
    assert.equal(paid.provider, b.peerId)
    assert.match(paid.receipt, /^0x[0-9a-f]{64}$/)
    const channels = await c.json(['channels'])
    assert.equal(channels.outgoing.length, 1)
    assert.equal(channels.outgoing[0].spent, (10n ** 16n).toString(), 'one call at 0.01 MYC')
    const proof = await b.json(['audit', 'acme/mlp', '--proof', paid.receipt])
    assert.equal(proof.proof.kind, 'inference')
    assert.equal(proof.proof.signatureValid, true, 'signed by client and provider')
    assert.equal(proof.proof.included, true, 'anchored on chain')
    const claimed = await b.json(['channels', 'claim'])
    assert.deepEqual(claimed.map((c: any) => c.amount), [(10n ** 16n).toString()])

    // Garbage on the protocol resets that stream only.
    const raw = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } })
    try {
      const stream = await raw.dialProtocol(multiaddr(b.multiaddrs[0]), INFER_PROTOCOL)
      stream.send(Uint8Array.of(3, 0x7b, 0x7b, 0x7b, 0))
      await assert.rejects((async () => { for await (const _ of stream) { /* nothing is answered */ } })())
    } finally {
      await raw.stop()
    }

    await a.kill()
    const failover = JSON.parse((await c.cli(['infer', cid, '-i', path.join(work, 'in.json'), '--remote', '--json'])).stdout)
    assert.equal(failover.provider, b.peerId, 'the next provider answered')
    assertClose(failover.outputs.logits.data.flat(), expected)

    // A provider that takes the request and vanishes mid-call: the client fails over to the next one.
    const vanishing = await startScript<{ peerId: string, multiaddrs: string[] }>(path.join(REPO_ROOT, 'test/fixtures/vanishingProvider.ts'), [])
    try {
      await c.json(['connect', vanishing.info.multiaddrs[0]])
      const order = (await c.json(['providers', cid])).map((p: any) => p.peerId)
      assert.ok(order.includes(vanishing.info.peerId) && order.indexOf(vanishing.info.peerId) < order.indexOf(b.peerId), 'the free vanishing provider is tried before B')
      const afterVanish = JSON.parse((await c.cli(['infer', cid, '-i', path.join(work, 'in.json'), '--remote', '--json'])).stdout)
      assert.equal(afterVanish.provider, b.peerId)
      assertClose(afterVanish.outputs.logits.data.flat(), expected)
      assert.notEqual(vanishing.process.exitCode ?? vanishing.process.signalCode, null, 'the provider died mid-call')
    } finally {
      await vanishing.kill()
    }

    const viaHttp = await fetch(`${c.apiUrl}/v2/models/${cid}/infer?remote=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: ROWS[0] }] })
    })
    assert.equal(viaHttp.status, 200)
    assert.equal(viaHttp.headers.get('x-mycelium-provider'), b.peerId)
  })
})
