import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidModelFileError } from '../../errors.ts'
import { buildGguf } from '../../../test/fixtures/gguf.ts'
import { buildAddOnnx } from '../../../test/fixtures/onnx.ts'
import { buildSafetensors } from '../../../test/fixtures/safetensors.ts'
import { readFormatMetadata } from './readFormatMetadata.ts'

describe('readFormatMetadata', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'mycelium-formats-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  async function write (name: string, bytes: Uint8Array | string): Promise<string> {
    const path = join(dir, name)
    await writeFile(path, bytes)
    return path
  }

  const gguf = buildGguf({ metadata: { 'general.architecture': 'llama' }, tensors: [{ name: 'w', shape: [4, 4], type: 'F32' }] })
  const safetensors = buildSafetensors({ w: { dtype: 'F32', shape: [2, 2] } })

  it('picks the reader by extension, case-insensitively', async () => {
    assert.equal((await readFormatMetadata(await write('model.onnx', buildAddOnnx())))?.format, 'onnx')
    assert.equal((await readFormatMetadata(await write('MODEL.ONNX', buildAddOnnx())))?.format, 'onnx')
    assert.equal((await readFormatMetadata(await write('model.safetensors', safetensors)))?.format, 'safetensors')
    const meta = await readFormatMetadata(await write('model.gguf', gguf))
    assert.equal(meta?.format, 'gguf')
    assert.equal(meta.parameterCount, 16)
  })

  it('recognises GGUF by its magic bytes whatever the extension', async () => {
    const meta = await readFormatMetadata(await write('model.bin', gguf))
    assert.equal(meta?.format, 'gguf')
    assert.deepEqual(meta.metadata, { 'general.architecture': 'llama' })
    assert.equal((await readFormatMetadata(await write('no-extension', gguf)))?.format, 'gguf')
  })

  it('returns undefined for files in no known format', async () => {
    assert.equal(await readFormatMetadata(await write('README.md', '# model\n')), undefined)
    assert.equal(await readFormatMetadata(await write('tokenizer.json', '{"vocab": {}}')), undefined)
    assert.equal(await readFormatMetadata(await write('GG', 'GG')), undefined)
    assert.equal(await readFormatMetadata(await write('empty.txt', '')), undefined)
    // safetensors has no magic: without its extension it is opaque.
    assert.equal(await readFormatMetadata(await write('weights.bin', safetensors)), undefined)
  })

  it('rejects an empty file with a model extension', async () => {
    for (const name of ['empty.onnx', 'empty.safetensors', 'empty.gguf']) {
      const path = await write(name, '')
      await assert.rejects(readFormatMetadata(path), (err: unknown) => {
        assert.ok(err instanceof InvalidModelFileError)
        assert.equal(err.shortMessage, `${path}: file is empty`)
        return true
      })
    }
  })

  it('rejects a file whose bytes do not match its extension', async () => {
    await assert.rejects(readFormatMetadata(await write('wrong.gguf', safetensors)), /not a GGUF file/)
    await assert.rejects(readFormatMetadata(await write('wrong.safetensors', gguf)), /safetensors header length \d+ is larger than/)
  })

  it('lets file system errors through', async () => {
    await assert.rejects(readFormatMetadata(join(dir, 'missing.onnx')), { code: 'ENOENT' })
    await assert.rejects(readFormatMetadata(join(dir, 'missing.bin')), { code: 'ENOENT' })
  })

  it('stops when the signal is aborted', async () => {
    const path = await write('abort.bin', gguf)
    await assert.rejects(readFormatMetadata(path, { signal: AbortSignal.abort() }), { name: 'AbortError' })
  })
})
