import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidModelFileError } from '../../errors.ts'
import { buildSafetensors, buildSafetensorsWithHeader } from '../../../test/fixtures/safetensors.ts'
import { readSafetensorsMetadata } from './safetensors.ts'

describe('readSafetensorsMetadata', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'mycelium-safetensors-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  async function write (name: string, bytes: Uint8Array): Promise<string> {
    const path = join(dir, name)
    await writeFile(path, bytes)
    return path
  }

  async function rejectsWith (path: string, pattern: RegExp): Promise<void> {
    await assert.rejects(readSafetensorsMetadata(path), (err: unknown) => {
      assert.ok(err instanceof InvalidModelFileError, `expected InvalidModelFileError, got ${String(err)}`)
      assert.match(err.shortMessage, pattern)
      return true
    })
  }

  /** Overwrites the 8-byte header length. */
  function withHeaderLength (bytes: Uint8Array, length: bigint): Uint8Array {
    const copy = bytes.slice()
    new DataView(copy.buffer).setBigUint64(0, length, true)
    return copy
  }

  it('reads tensors, dtypes, shapes, metadata and the parameter count', async () => {
    const path = await write('model.safetensors', buildSafetensors({
      'embed.weight': { dtype: 'F16', shape: [10, 4] },
      'fc.weight': { dtype: 'F32', shape: [3, 4], data: new Float32Array(12).fill(0.5) },
      'fc.bias': { dtype: 'BF16', shape: [3] },
      step: { dtype: 'I64', shape: [] }
    }, { format: 'pt', note: 'tiny' }))
    assert.deepEqual(await readSafetensorsMetadata(path), {
      format: 'safetensors',
      tensors: [
        { name: 'embed.weight', dtype: 'F16', shape: [10, 4] },
        { name: 'fc.weight', dtype: 'F32', shape: [3, 4] },
        { name: 'fc.bias', dtype: 'BF16', shape: [3] },
        { name: 'step', dtype: 'I64', shape: [] }
      ],
      parameterCount: 40 + 12 + 3 + 1,
      metadata: { format: 'pt', note: 'tiny' }
    })
  })

  it('lists tensors in file order even when JSON would reorder their names', async () => {
    // JSON objects put integer-like keys first ('10' before 'b'); the data section order is what matters.
    const meta = await readSafetensorsMetadata(await write('order.safetensors', buildSafetensors({
      b: { dtype: 'U8', shape: [2], dataOffsets: [0, 2] },
      10: { dtype: 'U8', shape: [1], dataOffsets: [2, 3] },
      a: { dtype: 'U8', shape: [0], dataOffsets: [3, 3] }
    })))
    assert.deepEqual(meta.tensors.map((t) => t.name), ['b', '10', 'a'])
    assert.deepEqual(meta.metadata, {})
    assert.equal(meta.parameterCount, 3)
  })

  it('rejects a header length larger than the file', async () => {
    const bytes = withHeaderLength(buildSafetensors({ w: { dtype: 'F32', shape: [2] } }), 5000n)
    await rejectsWith(await write('long-header.safetensors', bytes), new RegExp(`safetensors header length 5000 runs past end of file \\(size ${bytes.length}\\)`))
  })

  it('rejects an absurd header length', async () => {
    const bytes = withHeaderLength(buildSafetensors({ w: { dtype: 'F32', shape: [2] } }), 2n ** 40n)
    await rejectsWith(await write('absurd.safetensors', bytes), /safetensors header length 1099511627776 is larger than the 100000000-byte limit/)
  })

  it('rejects a file too short to hold the header length', async () => {
    await rejectsWith(await write('tiny.safetensors', new Uint8Array([1, 2, 3])), /truncated safetensors file: the 8-byte header length at offset 0 runs past end of file \(size 3\)/)
  })

  it('rejects a header that is not valid JSON', async () => {
    await rejectsWith(await write('badjson.safetensors', buildSafetensorsWithHeader('{"w": {"dtype": "F32",')), /safetensors header is not valid JSON/)
    await rejectsWith(await write('array.safetensors', buildSafetensorsWithHeader('[1, 2]')), /safetensors header is not a JSON object/)
  })

  it('rejects data_offsets outside the data section', async () => {
    const bytes = buildSafetensors({ w: { dtype: 'F32', shape: [2], dataOffsets: [0, 64] } })
    await rejectsWith(await write('outside.safetensors', bytes), /safetensors tensor 'w' data_offsets \[0, 64\] fall outside the data section \(8 bytes\)/)
  })

  it('rejects a truncated data section', async () => {
    const bytes = buildSafetensors({ a: { dtype: 'F32', shape: [4] }, b: { dtype: 'F32', shape: [4] } })
    await rejectsWith(await write('cut.safetensors', bytes.subarray(0, bytes.length - 4)), /safetensors tensor 'b' data_offsets \[16, 32\] fall outside the data section \(28 bytes\)/)
  })

  it('rejects data_offsets that do not match dtype × shape', async () => {
    const bytes = buildSafetensors({ w: { dtype: 'F32', shape: [2, 3], data: new Uint8Array(20) } })
    await rejectsWith(await write('mismatch.safetensors', bytes), /safetensors tensor 'w' has 20 bytes of data, but F32 \[2,3\] needs 24/)
  })

  it('rejects malformed tensor entries and metadata', async () => {
    await rejectsWith(await write('noshape.safetensors', buildSafetensorsWithHeader('{"w":{"dtype":"F32","data_offsets":[0,0]}}')), /tensor 'w' has an invalid shape/)
    await rejectsWith(await write('badoffsets.safetensors', buildSafetensorsWithHeader('{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}')), /tensor 'w' has invalid data_offsets \[4,0\]/)
    await rejectsWith(await write('badmeta.safetensors', buildSafetensorsWithHeader('{"__metadata__":{"epochs":3}}')), /__metadata__ value for 'epochs' is not a string/)
  })

  it('rejects an empty file', async () => {
    await rejectsWith(await write('empty.safetensors', new Uint8Array(0)), /file is empty/)
  })
})
