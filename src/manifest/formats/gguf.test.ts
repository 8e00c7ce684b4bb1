import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidModelFileError } from '../../errors.ts'
import { buildGguf } from '../../../test/fixtures/gguf.ts'
import type { GgufSpec } from '../../../test/fixtures/gguf.ts'
import { readGgufMetadata } from './gguf.ts'

/** A llama-like file: token_embd 8×32 F16, one Q8_0 block row, an F32 norm. */
const TINY: GgufSpec = {
  metadata: {
    'general.architecture': 'llama',
    'general.name': 'tiny',
    'llama.context_length': 2048,
    'llama.attention.layer_norm_rms_epsilon': 0.00001,
    'tokenizer.ggml.add_bos_token': true
  },
  tensors: [
    { name: 'token_embd.weight', shape: [8, 32], type: 'F16' },
    { name: 'blk.0.attn_q.weight', shape: [32, 32], type: 'Q8_0' },
    { name: 'output_norm.weight', shape: [8], type: 'F32' }
  ]
}
const TINY_PARAMETERS = 8 * 32 + 32 * 32 + 8

describe('readGgufMetadata', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'mycelium-gguf-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  async function write (name: string, bytes: Uint8Array): Promise<string> {
    const path = join(dir, name)
    await writeFile(path, bytes)
    return path
  }

  async function rejectsWith (path: string, pattern: RegExp): Promise<void> {
    await assert.rejects(readGgufMetadata(path), (err: unknown) => {
      assert.ok(err instanceof InvalidModelFileError, `expected InvalidModelFileError, got ${String(err)}`)
      assert.match(err.shortMessage, pattern)
      return true
    })
  }

  it('reads version, metadata, tensor count and parameter count', async () => {
    const path = await write('tiny.gguf', buildGguf(TINY))
    assert.deepEqual(await readGgufMetadata(path), {
      format: 'gguf',
      version: 3,
      tensorCount: 3,
      parameterCount: TINY_PARAMETERS,
      metadata: {
        'general.architecture': 'llama',
        'general.name': 'tiny',
        'llama.context_length': 2048,
        // Stored as float32; read back as the shortest decimal, not 0.000009999999747378752.
        'llama.attention.layer_norm_rms_epsilon': 0.00001,
        'tokenizer.ggml.add_bos_token': true
      }
    })
  })

  it('reads every value type, keeps short arrays and summarizes long ones', async () => {
    const path = await write('types.gguf', buildGguf({
      metadata: {
        u8: { type: 'uint8', value: 255 },
        i8: { type: 'int8', value: -128 },
        u16: { type: 'uint16', value: 65535 },
        i16: { type: 'int16', value: -32768 },
        u32: 4294967295,
        i32: -5,
        f32: 1.5,
        f64: { type: 'float64', value: 0.1 },
        nan: { type: 'float32', value: Number.NaN },
        u64: 2n ** 40n,
        bigU64: 2n ** 63n,
        i64: -(2n ** 40n),
        bigI64: -(2n ** 62n),
        small: [1, 2, 3],
        words: ['a', 'b'],
        nested: [['x'], ['y', 'z']],
        empty: [],
        vocab: { type: 'string', value: Array.from({ length: 100 }, (_, i) => `token${i}`) },
        scores: { type: 'float32', value: Array.from({ length: 65 }, (_, i) => i / 2) },
        short64: Array.from({ length: 64 }, (_, i) => i)
      },
      tensors: []
    }))
    const meta = await readGgufMetadata(path)
    assert.deepEqual(meta.metadata, {
      u8: 255,
      i8: -128,
      u16: 65535,
      i16: -32768,
      u32: 4294967295,
      i32: -5,
      f32: 1.5,
      f64: 0.1,
      nan: 'NaN',
      u64: 2 ** 40,
      bigU64: '9223372036854775808',
      i64: -(2 ** 40),
      // Beyond Number.MAX_SAFE_INTEGER: kept exact as a decimal string.
      bigI64: '-4611686018427387904',
      small: [1, 2, 3],
      words: ['a', 'b'],
      nested: [['x'], ['y', 'z']],
      empty: [],
      vocab: { type: 'string', length: 100 },
      scores: { type: 'float32', length: 65 },
      short64: Array.from({ length: 64 }, (_, i) => i)
    })
    assert.equal(meta.tensorCount, 0)
    assert.equal(meta.parameterCount, 0)
  })

  it('accepts version 2', async () => {
    const meta = await readGgufMetadata(await write('v2.gguf', buildGguf({ ...TINY, version: 2 })))
    assert.equal(meta.version, 2)
    assert.equal(meta.parameterCount, TINY_PARAMETERS)
  })

  it('honours general.alignment', async () => {
    const spec: GgufSpec = { ...TINY, metadata: { ...TINY.metadata, 'general.alignment': 64 } }
    const meta = await readGgufMetadata(await write('aligned.gguf', buildGguf(spec)))
    assert.equal(meta.metadata['general.alignment'], 64)
    assert.equal(meta.parameterCount, TINY_PARAMETERS)
  })

  it('rejects a wrong magic', async () => {
    const bytes = buildGguf(TINY)
    bytes.set([0x67, 0x67, 0x6a, 0x74], 0) // 'ggjt', the pre-GGUF llama.cpp format
    await rejectsWith(await write('ggjt.gguf', bytes), /not a GGUF file: it starts with bytes 67 67 6a 74, expected the magic 'GGUF' \(47 47 55 46\)/)
  })

  it('rejects unsupported versions', async () => {
    await rejectsWith(await write('v1.gguf', buildGguf({ ...TINY, version: 1 })), /unsupported GGUF version 1/)
    await rejectsWith(await write('v4.gguf', buildGguf({ ...TINY, version: 4 })), /unsupported GGUF version 4/)
    await rejectsWith(await write('be.gguf', buildGguf({ ...TINY, version: 0x03000000 })), /big-endian GGUF files are not supported/)
  })

  it('rejects a file cut in half', async () => {
    const bytes = buildGguf(TINY)
    const half = bytes.subarray(0, Math.floor(bytes.length / 2))
    await rejectsWith(await write('half.gguf', half), new RegExp(`truncated GGUF file: .* runs past end of file \\(size ${half.length}\\)`))
  })

  it('rejects a file cut inside its metadata', async () => {
    await rejectsWith(await write('cut.gguf', buildGguf(TINY).subarray(0, 40)), /truncated GGUF file: key of metadata entry #0 \(20 bytes\) at offset 24 runs past end of file \(size 40\)/)
    await rejectsWith(await write('header.gguf', buildGguf(TINY).subarray(0, 10)), /truncated GGUF file: tensor_count at offset 8 runs past end of file \(size 10\)/)
  })

  it('rejects tensor data running past the end of the file', async () => {
    const bytes = buildGguf(TINY)
    // The last tensor (output_norm, 8 × F32 = 32 bytes) loses its final bytes.
    await rejectsWith(await write('nodata.gguf', bytes.subarray(0, bytes.length - 8)), /truncated GGUF file: data of tensor 'output_norm\.weight' \(F32, 32 bytes\) at offset \d+ runs past end of file/)
  })

  it('rejects a string whose length runs past the end of the file', async () => {
    const bytes = buildGguf({ metadata: { 'general.name': 'tiny' }, tensors: [] })
    // Layout: magic 4, version 4, tensor_count 8, kv_count 8, key length 8 at 24, key (12 bytes)
    // at 32, value type 4 at 44, value length 8 at 48.
    new DataView(bytes.buffer).setBigUint64(48, 1000n, true)
    await rejectsWith(await write('longstring.gguf', bytes), new RegExp(`truncated GGUF file: string value of 'general\\.name' \\(1000 bytes\\) at offset 48 runs past end of file \\(size ${bytes.length}\\)`))
  })

  it('rejects absurd counts and unknown value types', async () => {
    const bytes = buildGguf({ metadata: { 'general.name': 'tiny' }, tensors: [] })
    const counts = bytes.slice()
    new DataView(counts.buffer).setBigUint64(16, 2n ** 50n, true)
    await rejectsWith(await write('kvcount.gguf', counts), /GGUF header declares 1125899906842624 metadata entries/)
    const types = bytes.slice()
    new DataView(types.buffer).setUint32(44, 99, true)
    await rejectsWith(await write('type.gguf', types), /GGUF metadata 'general\.name' has unknown value type 99/)
  })

  it('rejects an empty file', async () => {
    await rejectsWith(await write('empty.gguf', new Uint8Array(0)), /file is empty/)
  })
})
