import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidModelFileError } from '../../errors.ts'
import { buildAddOnnx, buildMlpOnnx, buildOnnxModel, mlpParameterCount } from '../../../test/fixtures/onnx.ts'
import { readOnnxMetadata } from './onnx.ts'

describe('readOnnxMetadata', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'mycelium-onnx-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  async function write (name: string, bytes: Uint8Array): Promise<string> {
    const path = join(dir, name)
    await writeFile(path, bytes)
    return path
  }

  async function rejectsWith (path: string, pattern: RegExp): Promise<void> {
    await assert.rejects(readOnnxMetadata(path), (err: unknown) => {
      assert.ok(err instanceof InvalidModelFileError, `expected InvalidModelFileError, got ${String(err)}`)
      assert.match(err.shortMessage, pattern)
      assert.equal(err.path, path)
      return true
    })
  }

  it('reads an MLP: producer, opset, symbolic input/output shapes, parameter count', async () => {
    const path = await write('mlp.onnx', buildMlpOnnx({ inputSize: 4, hidden: 8, outputSize: 3 }))
    assert.deepEqual(await readOnnxMetadata(path), {
      format: 'onnx',
      irVersion: 8,
      producerName: 'mycelium-test',
      producerVersion: '0.1.0',
      opset: [{ domain: '', version: 17 }],
      inputs: [{ name: 'input', dtype: 'float32', shape: ['batch', 4] }],
      outputs: [{ name: 'logits', dtype: 'float32', shape: ['batch', 3] }],
      // fc1.weight 8×4 + fc1.bias 8 + fc2.weight 3×8 + fc2.bias 3
      parameterCount: 32 + 8 + 24 + 3,
      graphName: 'mlp',
      usesExternalData: false
    })
    assert.equal(mlpParameterCount({ inputSize: 4, hidden: 8, outputSize: 3 }), 67)
  })

  it('reads a model with two inputs and no initializers', async () => {
    const meta = await readOnnxMetadata(await write('add.onnx', buildAddOnnx()))
    assert.deepEqual(meta.inputs, [
      { name: 'a', dtype: 'float32', shape: ['batch', 3] },
      { name: 'b', dtype: 'float32', shape: ['batch', 3] }
    ])
    assert.deepEqual(meta.outputs, [{ name: 'sum', dtype: 'float32', shape: ['batch', 3] }])
    assert.equal(meta.parameterCount, 0)
    assert.equal(meta.graphName, 'add')
  })

  it('reads dtypes, unknown dims, several opsets and packed dims', async () => {
    const path = await write('mixed.onnx', buildOnnxModel({
      irVersion: 9,
      producerName: 'pytorch',
      producerVersion: '2.5.1',
      opset: [{ domain: '', version: 18 }, { domain: 'com.microsoft', version: 1 }],
      packDims: true,
      nodes: [{ opType: 'Identity', inputs: ['ids'], outputs: ['out'] }],
      initializers: [
        { name: 'table', dims: [1000, 64] },
        { name: 'scalar', dims: [] },
        { name: 'idx', dims: [5], dataType: 'int64' }
      ],
      inputs: [{ name: 'ids', elemType: 'int64', shape: ['batch', null, 7] }],
      outputs: [{ name: 'out', elemType: 'int64', shape: [] }]
    }))
    const meta = await readOnnxMetadata(path)
    assert.equal(meta.irVersion, 9)
    assert.equal(meta.producerName, 'pytorch')
    assert.equal(meta.producerVersion, '2.5.1')
    assert.deepEqual(meta.opset, [{ domain: '', version: 18 }, { domain: 'com.microsoft', version: 1 }])
    assert.deepEqual(meta.inputs, [{ name: 'ids', dtype: 'int64', shape: ['batch', '?', 7] }])
    assert.deepEqual(meta.outputs, [{ name: 'out', dtype: 'int64', shape: [] }])
    assert.equal(meta.parameterCount, 1000 * 64 + 1 + 5)
  })

  it('leaves initializers out of the inputs (IR < 4 lists weights as graph inputs)', async () => {
    const path = await write('old.onnx', buildOnnxModel({
      irVersion: 3,
      opset: [{ domain: '', version: 8 }],
      nodes: [{ opType: 'Add', inputs: ['x', 'bias'], outputs: ['y'] }],
      initializers: [{ name: 'bias', dims: [3], data: [1, 2, 3] }],
      inputs: [{ name: 'x', shape: [3] }, { name: 'bias', shape: [3] }],
      outputs: [{ name: 'y', shape: [3] }]
    }))
    const meta = await readOnnxMetadata(path)
    assert.deepEqual(meta.inputs.map((input) => input.name), ['x'])
    assert.equal(meta.parameterCount, 3)
  })

  it('detects initializers stored as external data', async () => {
    const path = await write('external.onnx', buildOnnxModel({
      nodes: [{ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
      initializers: [{ name: 'w', dims: [16, 4], externalData: { location: 'weights.bin', offset: 0, length: 256 } }],
      inputs: [{ name: 'x', shape: ['batch', 16] }],
      outputs: [{ name: 'y', shape: ['batch', 4] }]
    }))
    const meta = await readOnnxMetadata(path)
    assert.equal(meta.usesExternalData, true)
    assert.equal(meta.parameterCount, 64)
  })

  it('skips large tensor data instead of reading it', async () => {
    // 8 MiB of weights: far more than the reader's window, so the walk must seek past raw_data.
    const path = await write('large.onnx', buildMlpOnnx({ inputSize: 1024, hidden: 2048, outputSize: 10 }))
    const meta = await readOnnxMetadata(path)
    assert.equal(meta.parameterCount, mlpParameterCount({ inputSize: 1024, hidden: 2048, outputSize: 10 }))
    assert.deepEqual(meta.outputs, [{ name: 'logits', dtype: 'float32', shape: ['batch', 10] }])
  })

  it('reports a truncated file with the field, offset and file size', async () => {
    const whole = buildMlpOnnx({ inputSize: 4, hidden: 8, outputSize: 3 })
    const half = whole.subarray(0, Math.floor(whole.length / 2))
    const path = await write('truncated.onnx', half)
    await rejectsWith(path, new RegExp(`^.*: truncated ONNX file: field ModelProto\\.graph \\(#7\\) at offset \\d+ runs past end of file \\(size ${half.length}\\)$`))
  })

  it('reports a file cut inside a field tag or length as truncated', async () => {
    const whole = buildAddOnnx()
    // ir_version (2 bytes), then producer_name's tag: cut right after that tag.
    await rejectsWith(await write('cut-tag.onnx', whole.subarray(0, 3)), /truncated ONNX file: length of ModelProto\.producer_name \(#2\) at offset 3 runs past end of file \(size 3\)/)
  })

  it('rejects bytes that are not protobuf', async () => {
    await rejectsWith(await write('wire7.onnx', new Uint8Array([0x0f, 0x01, 0x02])), /not a valid ONNX file: invalid protobuf wire type 7 at offset 0/)
    await rejectsWith(await write('field0.onnx', new Uint8Array([0x00, 0x01])), /not a valid ONNX file: protobuf field number 0 at offset 0/)
    await rejectsWith(await write('png.onnx', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])), /ONNX file/)
    await rejectsWith(await write('text.onnx', new TextEncoder().encode('this is not a model\n')), /ONNX file/)
    // ModelProto.ir_version (#1) encoded as a string: valid protobuf, wrong schema.
    await rejectsWith(await write('wrong-wire.onnx', new Uint8Array([0x0a, 0x01, 0x41])), /field ModelProto\.ir_version \(#1\) at offset 0 has protobuf wire type 2 \(length-delimited\), expected 0 \(varint\)/)
  })

  it('rejects a protobuf with no ONNX fields at all', async () => {
    // Field 15 (unknown to ModelProto), varint 1.
    await rejectsWith(await write('unknown.onnx', new Uint8Array([0x78, 0x01])), /not a valid ONNX file: it has neither an ir_version nor a graph/)
  })

  it('rejects a model with no graph', async () => {
    // ir_version = 8, opset_import { version: 17 }
    await rejectsWith(await write('nograph.onnx', new Uint8Array([0x08, 0x08, 0x42, 0x02, 0x10, 0x11])), /ONNX model has no graph/)
  })

  it('rejects a nested field that overruns its enclosing message', async () => {
    // opset_import of length 2 whose inner field claims 5 bytes (the file has room for them).
    const bytes = new Uint8Array([0x08, 0x08, 0x42, 0x02, 0x0a, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65])
    await rejectsWith(await write('overrun.onnx', bytes), /malformed ONNX file: field OperatorSetIdProto\.domain \(#1\) at offset 4 runs past the end of its enclosing OperatorSetIdProto/)
  })

  it('rejects an empty file', async () => {
    await rejectsWith(await write('empty.onnx', new Uint8Array(0)), /file is empty/)
  })

  it('stops when the signal is aborted', async () => {
    const path = await write('abort.onnx', buildAddOnnx())
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(readOnnxMetadata(path, { signal: controller.signal }), { name: 'AbortError' })
  })
})
