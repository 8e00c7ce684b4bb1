import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createClient } from '../src/client/createClient.ts'
import { addressFromPeerId } from '../src/identity/identity.ts'
import { buildMlpOnnx, mlpParameterCount } from './fixtures/onnx.ts'
import { buildSafetensors } from './fixtures/safetensors.ts'
import { makeTempDir, runCli, startTestDaemon, type TestDaemon } from './helpers/daemon.ts'

const MLP = { inputSize: 8, hidden: 16, outputSize: 3 }

describe('a running node, driven through the CLI and the HTTP API', () => {
  let daemon: TestDaemon
  let work: string

  before(async () => {
    work = await makeTempDir('myc-e2e-work-')
    daemon = await startTestDaemon()
  })

  after(async () => {
    await daemon?.cleanup()
    await fs.rm(work, { recursive: true, force: true })
  })

  it('reports one identity: the PeerId is the EVM address', async () => {
    const id = await daemon.json(['id'])
    assert.equal(id.peerId, daemon.peerId)
    assert.equal(id.apiUrl, daemon.apiUrl)
    assert.equal(addressFromPeerId(id.peerId), id.address)
    assert.ok(id.multiaddrs.some((ma: string) => ma.startsWith('/ip4/127.0.0.1/tcp/')))
    const stat = await fs.stat(path.join(daemon.home, 'key.json'))
    assert.equal(stat.mode & 0o777, 0o600)
  })

  it('publishes a real ONNX model and shows its inputs, outputs and parameters', async () => {
    const dir = path.join(work, 'mlp')
    await fs.mkdir(path.join(dir, 'extra'), { recursive: true })
    await fs.writeFile(path.join(dir, 'model.onnx'), buildMlpOnnx(MLP))
    await fs.writeFile(path.join(dir, 'README.md'), '# MLP\nA tiny test model.\n')
    await fs.writeFile(path.join(dir, 'extra', 'weights.safetensors'), buildSafetensors({ w: { dtype: 'F32', shape: [2, 3] } }))
    await fs.writeFile(path.join(dir, 'extra', 'blob.bin'), randomBytes(3 * 1024 * 1024 + 17))

    const published = await daemon.json(['publish', dir, '--name', 'acme/mlp', '--version', '1.0.0', '--license', 'Apache-2.0', '--tag', 'test', '--task', 'tabular-classification'])
    assert.match(published.cid, /^bafy/)
    const shown = await daemon.json(['show', 'acme/mlp@1.0.0'])
    assert.equal(shown.cid, published.cid)
    assert.equal(shown.manifest.card, 'README.md')
    assert.equal(shown.manifest.license, 'Apache-2.0')
    assert.deepEqual(shown.manifest.files.map((f: any) => f.path), ['README.md', 'extra/blob.bin', 'extra/weights.safetensors', 'model.onnx'])
    const onnx = shown.manifest.files.find((f: any) => f.path === 'model.onnx').format
    assert.equal(onnx.format, 'onnx')
    assert.deepEqual(onnx.inputs, [{ name: 'input', dtype: 'float32', shape: ['batch', 8] }])
    assert.deepEqual(onnx.outputs, [{ name: 'logits', dtype: 'float32', shape: ['batch', 3] }])
    assert.equal(onnx.parameterCount, mlpParameterCount(MLP))
    const text = await daemon.cli(['show', 'acme/mlp'])
    assert.match(text.stdout, /input {2}input: float32\[batch, 8\]/)
    assert.match(text.stdout, /output logits: float32\[batch, 3\]/)
    const st = shown.manifest.files.find((f: any) => f.path === 'extra/weights.safetensors').format
    assert.deepEqual(st.tensors, [{ name: 'w', dtype: 'F32', shape: [2, 3] }])

    const out = path.join(work, 'out')
    const got = await daemon.cli(['get', 'acme/mlp', '-o', out])
    assert.equal(got.code, 0, got.stderr)
    for (const file of ['model.onnx', 'README.md', 'extra/weights.safetensors', 'extra/blob.bin']) {
      assert.deepEqual(await fs.readFile(path.join(out, file)), await fs.readFile(path.join(dir, file)), file)
    }

    const list = await daemon.json(['ls'])
    assert.deepEqual(list.map((v: any) => `${v.name}@${v.version}`), ['acme/mlp@1.0.0'])
  })

  it('serves byte ranges and an OpenAPI document; reads need no token, writes do', async () => {
    const blob = await fs.readFile(path.join(work, 'mlp', 'extra', 'blob.bin'))
    const url = `${daemon.apiUrl}/api/v0/models/${encodeURIComponent('acme/mlp@1.0.0')}/files/extra/blob.bin`
    const ranged = await fetch(url, { headers: { range: 'bytes=1048570-1048585' } })
    assert.equal(ranged.status, 206)
    assert.equal(ranged.headers.get('content-range'), `bytes 1048570-1048585/${blob.length}`)
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), blob.subarray(1048570, 1048586))
    const unsatisfiable = await fetch(url, { headers: { range: `bytes=${blob.length}-` } })
    assert.equal(unsatisfiable.status, 416)

    const openapi = await (await fetch(`${daemon.apiUrl}/openapi.json`)).json() as any
    assert.ok(openapi.paths['/api/v0/models'])
    assert.ok(openapi.paths['/api/v0/models/{ref}/verify'])

    const noToken = await fetch(`${daemon.apiUrl}/api/v0/gc`, { method: 'POST' })
    assert.equal(noToken.status, 401)
    const wrongToken = await fetch(`${daemon.apiUrl}/api/v0/gc`, { method: 'POST', headers: { authorization: 'Bearer nope' } })
    assert.equal(wrongToken.status, 401)
    assert.match((await wrongToken.json() as any).message, /wrong API token/)
    const wrongCli = await runCli(['gc'], { env: { MYC_API: daemon.apiUrl }, home: await makeTempDir() })
    assert.notEqual(wrongCli.code, 0)
    assert.match(wrongCli.stderr, /Unauthorized/)
  })

  it('rejects bad input with a clear message and a non-zero exit, keeping what is stored', async () => {
    const onnx = buildMlpOnnx(MLP)
    const cases: Array<{ args: string[], file?: [string, Uint8Array], expect: RegExp }> = [
      { args: ['publish', path.join(work, 'nope.onnx'), '--name', 'x', '--version', '1.0.0'], expect: /no such file or directory/ },
      { args: ['publish', path.join(work, 'empty.bin'), '--name', 'x', '--version', '1.0.0'], file: ['empty.bin', new Uint8Array(0)], expect: /file is empty/ },
      { args: ['publish', path.join(work, 'cut.onnx'), '--name', 'x', '--version', '1.0.0'], file: ['cut.onnx', onnx.subarray(0, Math.floor(onnx.length / 2))], expect: /truncated ONNX file/ },
      { args: ['publish', path.join(work, 'lying.safetensors'), '--name', 'x', '--version', '1.0.0'], file: ['lying.safetensors', lyingSafetensors()], expect: /header/i },
      { args: ['publish', path.join(work, 'ok.bin'), '--name', 'x', '--version', '1.0'], file: ['ok.bin', randomBytes(10)], expect: /not a semantic version/ },
      { args: ['publish', path.join(work, 'ok.bin'), '--name', 'Bad Name!', '--version', '1.0.0'], expect: /Illegal model name/ },
      { args: ['publish', path.join(work, 'ok.bin'), '--name', 'acme/mlp', '--version', '1.0.0'], expect: /already exists/ },
      { args: ['publish', path.join(work, 'ok.bin'), '--name', 'x', '--version', '1.0.0', '--license', 'NotALicense'], expect: /not a valid SPDX/ },
      { args: ['show', 'no-such-model'], expect: /Unknown model "no-such-model"/ },
      { args: ['show', 'acme/mlp@9.9.9'], expect: /Unknown model/ },
      { args: ['get', 'bafyreihhahummud67pmzdyi5oj3j2srkkloyqeyxqwde5opgvec2o2e7va'], expect: /No provider could supply/ },
      { args: ['import', path.join(work, 'garbage.car')], file: ['garbage.car', randomBytes(100)], expect: /Invalid CAR/ }
    ]
    for (const testCase of cases) {
      if (testCase.file != null) await fs.writeFile(path.join(work, testCase.file[0]), testCase.file[1])
      const result = await daemon.cli(testCase.args)
      assert.notEqual(result.code, 0, `${testCase.args.join(' ')} should fail`)
      assert.match(result.stderr, testCase.expect, `${testCase.args.join(' ')}: ${result.stderr}`)
      const json = await daemon.cli([...testCase.args, '--json'])
      assert.notEqual(json.code, 0)
      assert.ok(JSON.parse(json.stdout).code, 'a JSON error carries a code')
    }
    const list = await daemon.json(['ls'])
    assert.deepEqual(list.map((v: any) => `${v.name}@${v.version}`), ['acme/mlp@1.0.0'])
    assert.equal((await daemon.json(['verify', 'acme/mlp'])).ok, true)
  })

  it('answers API errors with 4xx JSON bodies', async () => {
    const client = await createClient({ apiUrl: daemon.apiUrl, home: daemon.home })
    const unknown = await fetch(`${daemon.apiUrl}/api/v0/models/nothing-here`)
    assert.equal(unknown.status, 404)
    assert.equal((await unknown.json() as any).code, 'UNKNOWN_REF')
    const noMetadata = await client.request('POST', '/api/v0/models', { body: new FormData() }).catch(err => err)
    assert.equal(noMetadata.status, 400)
  })

  it('exports and imports CAR files, and round-trips through rm and gc', async () => {
    const car = path.join(work, 'mlp.car')
    assert.equal((await daemon.cli(['export', 'acme/mlp', '--car', car])).code, 0)
    const other = await startTestDaemon()
    try {
      const imported = await other.json(['import', car])
      assert.equal(imported.added, true)
      assert.equal(imported.name, 'acme/mlp')
      const verified = await other.json(['verify', imported.cid])
      assert.equal(verified.ok, true)
      assert.equal(verified.signature.signer, daemon.address)
      const again = await other.json(['import', car])
      assert.equal(again.added, false)
      const out = path.join(work, 'from-car')
      assert.equal((await other.cli(['get', 'acme/mlp@1.0.0', '-o', out])).code, 0)
      assert.deepEqual(await fs.readFile(path.join(out, 'model.onnx')), await fs.readFile(path.join(work, 'mlp', 'model.onnx')))

      await other.json(['rm', 'acme/mlp'])
      const gc = await other.json(['gc'])
      assert.ok(gc.removedBlocks >= 5)
      assert.equal(gc.keptBlocks, 0)
      assert.deepEqual(await other.json(['ls']), [])
    } finally {
      await other.cleanup()
    }
  })

  it('detects a flipped byte on disk: verify names the file and chunk, get refuses', async () => {
    const shown = await daemon.json(['show', 'acme/mlp'])
    const blob = shown.manifest.files.find((f: any) => f.path === 'extra/blob.bin')
    // The second 1 MiB chunk of blob.bin: find its block file through the DAG report.
    const report = await daemon.json(['verify', 'acme/mlp'])
    assert.equal(report.ok, true)
    const client = await createClient({ apiUrl: daemon.apiUrl, home: daemon.home })
    const { BlockStore } = await import('../src/storage/blockstore.ts')
    const { verifyFileDag } = await import('../src/storage/dag.ts')
    const { CID } = await import('multiformats/cid')
    const store = new BlockStore(path.join(daemon.home, 'blocks'))
    const chunks = []
    for await (const chunk of verifyFileDag(store, CID.parse(blob.cid))) chunks.push(chunk)
    assert.equal(chunks.length, 4)
    const blockFile = store.blockPath(CID.parse(chunks[1].cid))
    const bytes = await fs.readFile(blockFile)
    bytes[12345] ^= 0x01
    await fs.writeFile(blockFile, bytes)

    const verify = await daemon.cli(['verify', 'acme/mlp'])
    assert.equal(verify.code, 1)
    assert.match(verify.stdout, /CORRUPT extra\/blob\.bin/)
    assert.match(verify.stdout, /chunk 1 at bytes 1048576-2097151: corrupt/)
    const json = JSON.parse((await daemon.cli(['verify', 'acme/mlp', '--json'])).stdout)
    assert.deepEqual(json.files.filter((f: any) => !f.ok).map((f: any) => [f.path, f.bad.map((b: any) => b.index)]), [['extra/blob.bin', [1]]])

    const out = path.join(work, 'tampered')
    const got = await daemon.cli(['get', 'acme/mlp', '-o', out])
    assert.notEqual(got.code, 0)
    assert.match(got.stderr, /chunk 1 .*corrupt/)
    await assert.rejects(fs.access(path.join(out, 'extra', 'blob.bin')))
    const partials = (await fs.readdir(out, { recursive: true })).filter(name => String(name).endsWith('.myc-partial'))
    assert.deepEqual(partials, [])

    // gc reclaims the orphans of the rejected publishes above, and keeps every block of the damaged version.
    const gc = await client.gc()
    assert.equal(gc.removedBlocks, 2)
    const afterGc = JSON.parse((await daemon.cli(['verify', 'acme/mlp', '--json'])).stdout)
    assert.deepEqual(afterGc.files.map((f: any) => [f.path, f.chunks, f.bad.length]), json.files.map((f: any) => [f.path, f.chunks, f.bad.length]))

    bytes[12345] ^= 0x01
    await fs.writeFile(blockFile, bytes)
    assert.equal((await daemon.json(['verify', 'acme/mlp'])).ok, true)
  })
})

describe('node lifecycle', () => {
  it('says how to start a node when none is running', async () => {
    const home = await makeTempDir()
    try {
      const result = await runCli(['ls'], { home })
      assert.notEqual(result.code, 0)
      assert.match(result.stderr, /No Mycelium node is running/)
      assert.match(result.stderr, /myc start/)
    } finally {
      await fs.rm(home, { recursive: true, force: true })
    }
  })

  it('encrypts the key with a passphrase and refuses a wrong one, a missing key or a corrupt key', async () => {
    const home = await makeTempDir()
    const secret = path.join(home, '..', `${path.basename(home)}.pass`)
    const wrong = `${secret}.wrong`
    try {
      await fs.writeFile(secret, 'correct horse battery staple\n')
      await fs.writeFile(wrong, 'wrong\n')
      const init = JSON.parse((await runCli(['init', '--passphrase-file', secret, '--json'], { home })).stdout)
      const keyFile = path.join(home, 'key.json')
      const stored = await fs.readFile(keyFile, 'utf8')
      assert.equal(JSON.parse(stored).version, 3, 'an encrypted key is a Web3 Secret Storage v3 keystore')
      assert.ok(!stored.includes('privateKey'))

      const again = await runCli(['init'], { home })
      assert.notEqual(again.code, 0)
      assert.match(again.stderr, /already exists/)

      const wrongStart = await runCli(['start', '--api', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--passphrase-file', wrong], { home })
      assert.notEqual(wrongStart.code, 0)
      assert.match(wrongStart.stderr, /passphrase does not decrypt/)
      const noPass = await runCli(['start', '--api', '127.0.0.1:0'], { home })
      assert.match(noPass.stderr, /encrypted and no passphrase/)
      assert.equal(await fs.readFile(keyFile, 'utf8'), stored, 'the key file is untouched')

      const daemon = await startTestDaemon({ home, args: ['--passphrase-file', secret] })
      assert.equal(daemon.peerId, init.peerId)
      assert.equal(await daemon.stop(), 0, 'SIGTERM stops the node cleanly with exit code 0')
      await assert.rejects(fs.access(path.join(home, 'api')), 'the API URL file is removed on shutdown')

      await fs.writeFile(keyFile, '{"version":3,')
      const corrupt = await runCli(['start', '--api', '127.0.0.1:0'], { home })
      assert.notEqual(corrupt.code, 0)
      assert.match(corrupt.stderr, /corrupt/)
      assert.equal(await fs.readFile(keyFile, 'utf8'), '{"version":3,', 'never replaced by a new key')
    } finally {
      await fs.rm(home, { recursive: true, force: true })
      await fs.rm(secret, { force: true })
      await fs.rm(wrong, { force: true })
    }
  })

  it('recovers from a publish killed half-way: no entry, the next publish works, gc reclaims the orphans', async () => {
    const work = await makeTempDir('myc-kill-')
    let daemon = await startTestDaemon()
    try {
      const big = path.join(work, 'big.bin')
      await writeRandomFile(big, 192 * 1024 * 1024)
      const client = await createClient({ apiUrl: daemon.apiUrl, home: daemon.home })
      const upload = client.publish({ name: 'big', version: '1.0.0' }, [{ path: 'big.bin', source: big }]).catch(err => err)
      await waitFor(async () => (await countFiles(path.join(daemon.home, 'blocks'))) > 20)
      await daemon.kill()
      assert.ok((await upload) instanceof Error)

      daemon = await startTestDaemon({ home: daemon.home })
      assert.deepEqual(await daemon.json(['ls']), [])
      const small = path.join(work, 'small.bin')
      await fs.writeFile(small, randomBytes(1000))
      await daemon.json(['publish', small, '--name', 'big', '--version', '1.0.0'])
      const gc = await daemon.json(['gc'])
      assert.ok(gc.removedBlocks >= 10, `gc removed ${gc.removedBlocks} orphan blocks`)
      assert.equal((await daemon.json(['verify', 'big@1.0.0'])).ok, true)

      // A client killed mid-upload leaves no entry either, and the node keeps serving.
      const killedCli = (await import('node:child_process')).spawn(process.execPath, [path.join(import.meta.dirname, '../src/cli/bin.ts'), '--home', daemon.home, 'publish', big, '--name', 'big', '--version', '2.0.0'], { stdio: 'ignore' })
      const before = await countFiles(path.join(daemon.home, 'blocks'))
      await waitFor(async () => (await countFiles(path.join(daemon.home, 'blocks'))) > before + 20)
      killedCli.kill('SIGKILL')
      await new Promise(resolve => killedCli.once('exit', resolve))
      await waitFor(async () => (await daemon.json(['ls'])).length === 1)
      assert.deepEqual((await daemon.json(['ls'])).map((v: any) => v.version), ['1.0.0'])
      assert.equal((await daemon.json(['verify', 'big'])).ok, true)
    } finally {
      await daemon.cleanup()
      await fs.rm(work, { recursive: true, force: true })
    }
  })
})

function lyingSafetensors (): Uint8Array {
  const file = buildSafetensors({ w: { dtype: 'F32', shape: [4] } })
  new DataView(file.buffer, file.byteOffset).setBigUint64(0, 1n << 40n, true)
  return file
}

async function writeRandomFile (file: string, size: number): Promise<void> {
  const handle = await fs.open(file, 'w')
  const chunk = randomBytes(4 * 1024 * 1024)
  try {
    for (let written = 0; written < size; written += chunk.length) {
      chunk.writeUInt32LE(written, 0)
      await handle.write(chunk.subarray(0, Math.min(chunk.length, size - written)))
    }
  } finally {
    await handle.close()
  }
}

async function countFiles (dir: string): Promise<number> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter(entry => entry.isFile()).length
}

async function waitFor (condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

export function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}
