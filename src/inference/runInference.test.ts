import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BaseError, NotFoundError } from '../errors.ts'
import { readOnnxMetadata as readMetadata } from '../manifest/formats/onnx.ts'
import { buildAddOnnx, buildMlpOnnx, buildOnnxModel, mlpForward, type MlpSpec, type OnnxModelSpec } from '../../test/fixtures/onnx.ts'
import { decodeJsonTensors, encodeJsonTensors } from './codecs/json.ts'
import { decodeNpy, encodeNpy } from './codecs/npy.ts'
import { decodeOipRequest, encodeOipResponse } from './codecs/oip.ts'
import { InferenceFailedError, ModelLoadError, NotOnnxModelError } from './errors.ts'
import { runInference, type InferenceComponents, type ModelFileInfo, type ResolvedModel } from './runInference.ts'
import { SessionCache } from './sessionCache.ts'
import { floatToHalf, halfToFloat, type Tensor } from './tensor.ts'
import type { OnnxMetadata } from '../manifest/formats/types.ts'

/** The manifest's metadata of an ONNX file, read by the reader `myc publish` uses. */
async function readOnnxMetadata (name: string, bytes: Uint8Array): Promise<OnnxMetadata> {
  return await readMetadata({ name, source: { size: bytes.length, read: async (offset, length) => bytes.subarray(offset, offset + length) } })
}

const MLP: MlpSpec = { inputSize: 16, hidden: 32, outputSize: 10, seed: 5 }

/** A store of versions in memory: what the node's registry provides, without a node. */
class Versions {
  readonly models = new Map<string, { model: ResolvedModel, bytes: Map<string, Uint8Array> }>()
  reads = 0

  async add (ref: string, files: Record<string, Uint8Array>, options: { metadataOf?: Record<string, Uint8Array> } = {}): Promise<void> {
    const infos: ModelFileInfo[] = []
    for (const [path, bytes] of Object.entries(files)) {
      const info: ModelFileInfo = { path, size: bytes.length }
      if (path.endsWith('.onnx')) info.format = await readOnnxMetadata(path, options.metadataOf?.[path] ?? bytes)
      infos.push(info)
    }
    const [name, version] = ref.split('@')
    this.models.set(ref, { model: { cid: `bafy-${ref}`, name, version, files: infos }, bytes: new Map(Object.entries(files)) })
  }

  components (sessions: SessionCache): InferenceComponents {
    return {
      sessions,
      resolveModel: async (ref) => {
        const entry = this.models.get(ref)
        if (entry === undefined) throw new NotFoundError(`unknown model ${ref}`)
        return entry.model
      },
      readModelFile: async (model, file) => {
        this.reads++
        return this.models.get(`${model.name}@${model.version}`)!.bytes.get(file.path)!
      }
    }
  }
}

function identityModel (opType: string, dtype: NonNullable<OnnxModelSpec['inputs'][number]['elemType']>, outDtype = dtype, attributes?: OnnxModelSpec['nodes'][number]['attributes']): Uint8Array {
  return buildOnnxModel({
    nodes: [{ opType, inputs: opType === 'Add' ? ['x', 'x'] : ['x'], outputs: ['y'], ...(attributes !== undefined ? { attributes } : {}) }],
    inputs: [{ name: 'x', elemType: dtype, shape: ['n'] }],
    outputs: [{ name: 'y', elemType: outDtype, shape: ['n'] }]
  })
}

async function rejects (promise: Promise<unknown>, type: new (...args: any[]) => BaseError, message: string | RegExp, status: number): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`)
    if (typeof message === 'string') assert.equal(err.shortMessage, message)
    else assert.match(err.shortMessage, message)
    assert.equal(err.status, status)
    return true
  })
}

describe('runInference', async () => {
  const sessions = new SessionCache()
  const versions = new Versions()
  const components = versions.components(sessions)
  after(async () => { await sessions.stop() })

  await versions.add('acme/mlp@1.0.0', { 'model.onnx': buildMlpOnnx(MLP), 'README.md': new TextEncoder().encode('# MLP') })
  await versions.add('acme/add@1.0.0', { 'add.onnx': buildAddOnnx() })
  await versions.add('acme/weights@1.0.0', { 'model.safetensors': new Uint8Array(8), 'README.md': new Uint8Array(1) })
  await versions.add('acme/two@1.0.0', { 'encoder.onnx': buildAddOnnx(), 'decoder.onnx': buildMlpOnnx(MLP), 'README.md': new Uint8Array(1) })

  it('runs the MLP at batch 64: outputs equal mlpForward within 1e-5, the second call from the cache', async () => {
    const batch = 64
    const input = Float32Array.from({ length: batch * MLP.inputSize }, (_, i) => Math.sin(i) * 2)
    const expected = mlpForward(MLP, input)
    const readsBefore = versions.reads
    const first = await runInference(components, { ref: 'acme/mlp@1.0.0', inputs: [{ name: 'input', dtype: 'float32', shape: [batch, MLP.inputSize], data: input }] })
    assert.deepEqual(first.model, { cid: 'bafy-acme/mlp@1.0.0', name: 'acme/mlp', version: '1.0.0', file: 'model.onnx' })
    assert.equal(first.cached, false)
    assert.equal(first.outputs.length, 1)
    const [logits] = first.outputs
    assert.equal(logits.name, 'logits')
    assert.equal(logits.dtype, 'float32')
    assert.deepEqual(logits.shape, [batch, MLP.outputSize])
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs((logits.data as Float32Array)[i] - expected[i]) <= 1e-5, `logit ${i}: ${logits.data[i]} vs ${expected[i]}`)

    const second = await runInference(components, { ref: 'acme/mlp@1.0.0', inputs: [{ name: 'input', dtype: 'float32', shape: [batch, MLP.inputSize], data: input }] })
    assert.equal(second.cached, true)
    assert.equal(versions.reads, readsBefore + 1)
    assert.deepEqual(second.outputs, first.outputs)
    for (const key of ['prepareMs', 'loadMs', 'runMs', 'totalMs'] as const) assert.ok(second.timing[key] >= 0)
  })

  it('runs the Add model at batch 2', async () => {
    const { outputs } = await runInference(components, {
      ref: 'acme/add@1.0.0',
      inputs: [
        { name: 'a', dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
        { name: 'b', dtype: 'float32', shape: [2, 3], data: Float32Array.from([10, 20, 30, 40, 50, 60]) }
      ]
    })
    assert.deepEqual(outputs, [{ name: 'sum', dtype: 'float32', shape: [2, 3], data: Float32Array.from([11, 22, 33, 44, 55, 66]) }])
  })

  it('feeds int64, bool, float16, uint64 and string inputs, and casts', async () => {
    await versions.add('t/int64@1.0.0', { 'm.onnx': identityModel('Add', 'int64') })
    await versions.add('t/bool@1.0.0', { 'm.onnx': identityModel('Not', 'bool') })
    await versions.add('t/half@1.0.0', { 'm.onnx': identityModel('Add', 'float16') })
    await versions.add('t/halfid@1.0.0', { 'm.onnx': identityModel('Identity', 'float16') })
    await versions.add('t/uint64@1.0.0', { 'm.onnx': identityModel('Identity', 'uint64') })
    await versions.add('t/string@1.0.0', { 'm.onnx': identityModel('Identity', 'string') })
    await versions.add('t/cast@1.0.0', { 'm.onnx': identityModel('Cast', 'int32', 'float64', { to: { type: 'int', value: 11 } }) })
    const run = async (ref: string, tensor: Tensor): Promise<Tensor> => (await runInference(components, { ref, inputs: [tensor] })).outputs[0]

    const big = 2n ** 61n + 1n
    assert.deepEqual((await run('t/int64@1.0.0', { name: 'x', dtype: 'int64', shape: [3], data: BigInt64Array.from([1n, -3n, big]) })).data, BigInt64Array.from([2n, -6n, 2n * big]))
    assert.deepEqual((await run('t/bool@1.0.0', { name: 'x', dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) })).data, Uint8Array.from([0, 1, 0]))
    const halves = Uint16Array.from([1.5, -2, 1000, 0.1].map(floatToHalf))
    const doubled = await run('t/half@1.0.0', { name: 'x', dtype: 'float16', shape: [4], data: halves })
    assert.equal(doubled.dtype, 'float16')
    assert.ok(doubled.data instanceof Uint16Array)
    assert.deepEqual([...doubled.data].map(halfToFloat), [3, -4, 2000, halfToFloat(floatToHalf(0.1)) * 2])
    assert.deepEqual((await run('t/halfid@1.0.0', { name: 'x', dtype: 'float16', shape: [2], data: Uint16Array.from([0x7c00, 0x0001]) })).data, Uint16Array.from([0x7c00, 0x0001]))
    assert.deepEqual((await run('t/uint64@1.0.0', { name: 'x', dtype: 'uint64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) })).data, BigUint64Array.from([2n ** 64n - 1n]))
    assert.deepEqual((await run('t/string@1.0.0', { name: 'x', dtype: 'string', shape: [2], data: ['a', 'héllo'] })).data, ['a', 'héllo'])
    assert.deepEqual(await run('t/cast@1.0.0', { name: 'x', dtype: 'int32', shape: [2], data: Int32Array.from([7, -1]) }), { name: 'y', dtype: 'float64', shape: [2], data: Float64Array.from([7, -1]) })
  })

  it('validates inputs against the manifest before loading anything', async () => {
    await versions.add('acme/mlp2@1.0.0', { 'model.onnx': buildMlpOnnx({ inputSize: 8, hidden: 4, outputSize: 2 }) })
    const readsBefore = versions.reads
    const ref = 'acme/mlp2@1.0.0'
    await rejects(runInference(components, { ref, inputs: [{ name: 'input', dtype: 'float32', shape: [2, 7], data: new Float32Array(14) }] }),
      BaseError, 'input "input": expected float32[batch, 8], got float32[2, 7]', 400)
    await rejects(runInference(components, { ref, inputs: [] }), BaseError, 'missing input "input": expected float32[batch, 8]', 400)
    await rejects(runInference(components, { ref, inputs: [{ name: 'image', dtype: 'float32', shape: [1, 8], data: new Float32Array(8) }] }),
      BaseError, 'unknown input "image": the model\'s inputs are input: float32[batch, 8]', 400)
    await rejects(runInference(components, { ref, inputs: [{ name: 'input', dtype: 'float64', shape: [1, 8], data: new Float64Array(8) }] }),
      BaseError, 'input "input": expected float32[batch, 8], got float64[1, 8]', 400)
    await rejects(runInference(components, { ref, inputs: [{ name: 'input', dtype: 'float32', shape: [1024, 8], data: new Float32Array(8192) }], maxInputBytes: 1024 }),
      BaseError, 'inputs are too large: 32768 bytes, over the limit of 1024 bytes', 413)
    await rejects(runInference(components, { ref, outputs: ['probs'], inputs: [{ name: 'input', dtype: 'float32', shape: [1, 8], data: new Float32Array(8) }] }),
      BaseError, 'unknown output "probs": the model\'s outputs are logits: float32[batch, 2]', 400)
    assert.equal(versions.reads, readsBefore)
  })

  it('refuses a version without an ONNX file, and asks which one when there are several', async () => {
    await rejects(runInference(components, { ref: 'acme/weights@1.0.0', inputs: [] }), NotOnnxModelError,
      'acme/weights@1.0.0 is not an ONNX model: files are model.safetensors, README.md; inference needs a .onnx file', 400)
    await rejects(runInference(components, { ref: 'acme/two@1.0.0', inputs: [] }), NotOnnxModelError,
      'acme/two@1.0.0 has several .onnx files (encoder.onnx, decoder.onnx): choose one with the "file" parameter', 400)
    await rejects(runInference(components, { ref: 'acme/two@1.0.0', file: 'README.md', inputs: [] }), NotOnnxModelError,
      'acme/two@1.0.0: "README.md" is not an ONNX file; inference needs a .onnx file', 400)
    await rejects(runInference(components, { ref: 'acme/two@1.0.0', file: 'nope.onnx', inputs: [] }), BaseError, 'acme/two@1.0.0 has no file "nope.onnx"', 400)
    await rejects(runInference(components, { ref: 'acme/none@1.0.0', inputs: [] }), NotFoundError, 'unknown model acme/none@1.0.0', 404)
    const { outputs, model } = await runInference(components, {
      ref: 'acme/two@1.0.0',
      file: 'encoder.onnx',
      inputs: [{ name: 'a', dtype: 'float32', shape: [1, 3], data: Float32Array.from([1, 2, 3]) }, { name: 'b', dtype: 'float32', shape: [1, 3], data: Float32Array.from([1, 1, 1]) }]
    })
    assert.equal(model.file, 'encoder.onnx')
    assert.deepEqual(outputs[0].data, Float32Array.from([2, 3, 4]))
  })

  it('computes only the outputs asked for', async () => {
    await versions.add('t/two-outputs@1.0.0', {
      'm.onnx': buildOnnxModel({
        nodes: [{ opType: 'Neg', inputs: ['x'], outputs: ['neg'] }, { opType: 'Abs', inputs: ['x'], outputs: ['abs'] }],
        inputs: [{ name: 'x', shape: ['n'] }],
        outputs: [{ name: 'neg', shape: ['n'] }, { name: 'abs', shape: ['n'] }]
      })
    })
    const x: Tensor = { name: 'x', dtype: 'float32', shape: [2], data: Float32Array.from([-1, 2]) }
    assert.deepEqual((await runInference(components, { ref: 't/two-outputs@1.0.0', inputs: [x] })).outputs.map((t) => t.name), ['neg', 'abs'])
    const { outputs } = await runInference(components, { ref: 't/two-outputs@1.0.0', inputs: [x], outputs: ['abs'] })
    assert.deepEqual(outputs, [{ name: 'abs', dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) }])
  })

  it('reports a graph that fails on valid-looking inputs as InferenceFailedError (422), and an unloadable file as ModelLoadError (422)', async () => {
    await versions.add('t/reshape@1.0.0', {
      'm.onnx': buildOnnxModel({
        nodes: [{ opType: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
        initializers: [{ name: 'shape', dims: [2], dataType: 'int64', data: new Uint8Array(BigInt64Array.from([-1n, 4n]).buffer) }],
        inputs: [{ name: 'x', shape: ['n'] }],
        outputs: [{ name: 'y', shape: ['?', 4] }]
      })
    })
    const ok = await runInference(components, { ref: 't/reshape@1.0.0', inputs: [{ name: 'x', dtype: 'float32', shape: [8], data: new Float32Array(8) }] })
    assert.deepEqual(ok.outputs[0].shape, [2, 4])
    await rejects(runInference(components, { ref: 't/reshape@1.0.0', inputs: [{ name: 'x', dtype: 'float32', shape: [6], data: new Float32Array(6) }] }),
      InferenceFailedError, /^onnxruntime could not run t\/reshape@1\.0\.0 on these inputs: /, 422)

    // The manifest's metadata says ONNX, but the stored bytes are not a model onnxruntime can load.
    await versions.add('t/broken@1.0.0', { 'm.onnx': new Uint8Array([8, 1, 1, 2, 3]) }, { metadataOf: { 'm.onnx': buildAddOnnx() } })
    await rejects(runInference(components, {
      ref: 't/broken@1.0.0',
      inputs: [{ name: 'a', dtype: 'float32', shape: [1, 3], data: new Float32Array(3) }, { name: 'b', dtype: 'float32', shape: [1, 3], data: new Float32Array(3) }]
    }), ModelLoadError, /^onnxruntime cannot load the model: /, 422)
  })

  it('stops before loading or running when the signal is aborted', async () => {
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(runInference(components, { ref: 'acme/add@1.0.0', inputs: [], signal: controller.signal }), { name: 'AbortError' })
  })

  it('runs end to end from the codecs: JSON file, .npy file, OIP request → OIP response', async () => {
    const ref = 'acme/mlp@1.0.0'
    const metadata = versions.models.get(ref)!.model.files[0].format as { inputs: any[] }
    const rows = [Array.from({ length: 16 }, (_, i) => i / 16), Array.from({ length: 16 }, (_, i) => -i / 8)]
    const expected = mlpForward(MLP, rows.flat())

    const fromJson = await runInference(components, { ref, inputs: decodeJsonTensors({ input: rows }, metadata.inputs) })
    const json = encodeJsonTensors(fromJson.outputs)
    assert.deepEqual(json.logits.dims, [2, 10])
    json.logits.data.forEach((value, i) => assert.ok(Math.abs((value as number) - expected[i]) <= 1e-5))

    const npy = encodeNpy({ name: 'input', dtype: 'float32', shape: [2, 16], data: Float32Array.from(rows.flat()) })
    const fromNpy = await runInference(components, { ref, inputs: [decodeNpy(npy, 'input')] })
    assert.deepEqual(fromNpy.outputs, fromJson.outputs)

    const request = decodeOipRequest({ id: '7', inputs: [{ name: 'input', shape: [2, 16], datatype: 'FP32', data: rows }], outputs: [{ name: 'logits' }] })
    const result = await runInference(components, { ref, inputs: request.inputs, outputs: request.outputs })
    const response = encodeOipResponse({ modelName: result.model.name, modelVersion: result.model.version, id: request.id, outputs: result.outputs })
    assert.equal(response.json.id, '7')
    assert.equal(response.json.model_name, 'acme/mlp')
    assert.deepEqual(response.json.outputs[0].shape, [2, 10])
    assert.equal(response.json.outputs[0].datatype, 'FP32')
    response.json.outputs[0].data!.forEach((value, i) => assert.ok(Math.abs((value as number) - expected[i]) <= 1e-5))
  })
})
