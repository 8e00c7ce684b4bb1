import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BaseError, InvalidInputError, NotFoundError } from '../../errors.ts'
import { InputTooLargeError } from '../errors.ts'
import {
  decodeOipModelMetadata, decodeOipRequest, decodeOipResponse, encodeOipError, encodeOipModelMetadata, encodeOipRequest, encodeOipResponse,
  binaryBodyParts, binaryRequestBody, joinBinaryBody, OIP_HEADER_LENGTH_HEADER, splitBinaryBody
} from './oip.ts'
import type { Tensor } from '../tensor.ts'

function rejects (body: unknown, message: string, binary?: Uint8Array): void {
  assert.throws(() => decodeOipRequest(body, binary), (err: unknown) => {
    assert.ok(err instanceof InvalidInputError, String(err))
    assert.equal(err.shortMessage, message)
    return true
  })
}

describe('Open Inference Protocol codec', () => {
  it('decodes the request of the spec\'s example', () => {
    const request = decodeOipRequest({
      id: '42',
      inputs: [
        { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
        { name: 'input1', shape: [3], datatype: 'BOOL', data: [true] }
      ],
      outputs: [{ name: 'output0' }]
    })
    assert.equal(request.id, '42')
    assert.deepEqual(request.outputs, ['output0'])
    assert.deepEqual(request.inputs, [
      { name: 'input0', dtype: 'uint32', shape: [2, 2], data: Uint32Array.from([1, 2, 3, 4]) },
      // The spec's example sends 1 element for shape [3]; validateInputs refuses that (data length ≠ product(shape)).
      { name: 'input1', dtype: 'bool', shape: [3], data: Uint8Array.from([1]) }
    ])
    assert.equal(request.binaryOutputs.size, 0)
  })

  it('takes data flat (row-major) or nested as the shape, for every datatype', () => {
    const flat = decodeOipRequest({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [1, 2, 4, 5] }] })
    const nested = decodeOipRequest({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [[1, 2], [4, 5]] }] })
    assert.deepEqual(flat.inputs, nested.inputs)
    const all = decodeOipRequest({
      inputs: [
        { name: 'i8', shape: [1], datatype: 'INT8', data: [-128] },
        { name: 'i16', shape: [1], datatype: 'INT16', data: [-32768] },
        { name: 'i32', shape: [1], datatype: 'INT32', data: [-5] },
        { name: 'i64', shape: [2], datatype: 'INT64', data: [-5, '-9223372036854775808'] },
        { name: 'u8', shape: [1], datatype: 'UINT8', data: [255] },
        { name: 'u16', shape: [1], datatype: 'UINT16', data: [65535] },
        { name: 'u64', shape: [1], datatype: 'UINT64', data: ['18446744073709551615'] },
        { name: 'f16', shape: [1], datatype: 'FP16', data: [0.5] },
        { name: 'f64', shape: [1], datatype: 'FP64', data: ['NaN'] },
        { name: 's', shape: [2], datatype: 'BYTES', data: ['hello', 'wörld'] }
      ]
    })
    assert.deepEqual(all.inputs.map((t) => [t.name, t.dtype, Array.from(t.data as ArrayLike<unknown>)]), [
      ['i8', 'int8', [-128]], ['i16', 'int16', [-32768]], ['i32', 'int32', [-5]], ['i64', 'int64', [-5n, -(2n ** 63n)]], ['u8', 'uint8', [255]],
      ['u16', 'uint16', [65535]], ['u64', 'uint64', [2n ** 64n - 1n]], ['f16', 'float16', [0x3800]], ['f64', 'float64', [NaN]], ['s', 'string', ['hello', 'wörld']]
    ])
  })

  it('reads the file parameter and refuses malformed requests with messages naming the field', () => {
    assert.equal(decodeOipRequest({ parameters: { file: 'b.onnx' }, inputs: [] }).file, 'b.onnx')
    rejects([], 'the inference request must be a JSON object { id?, parameters?, inputs: [...], outputs? }')
    rejects({}, '"inputs" must be an array of { name, shape, datatype, data }')
    rejects({ id: 42, inputs: [] }, '"id" must be a string')
    rejects({ inputs: [{ shape: [1], datatype: 'FP32', data: [1] }] }, 'inputs[0].name must be a non-empty string')
    rejects({ inputs: [{ name: 'x', shape: [-1], datatype: 'FP32', data: [1] }] }, 'inputs[0] ("x").shape must be an array of non-negative integers')
    rejects({ inputs: [{ name: 'x', shape: [1], datatype: 'FP8', data: [1] }] },
      'inputs[0] ("x").datatype "FP8" is not an OIP datatype; expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES')
    rejects({ inputs: [{ name: 'x', shape: [1], datatype: 'BF16', data: [1] }] }, 'inputs[0] ("x").datatype BF16 is not supported by onnxruntime-node')
    rejects({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32' }] }, 'inputs[0] ("x").data must be an array (flat or nested), or the tensor sent as binary data')
    rejects({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [[1, 2, 3, 4]] }] }, 'input "x": data is nested as [1, 4] but the shape is [2, 2]')
    rejects({ inputs: [{ name: 'x', shape: [2], datatype: 'BOOL', data: [true, 'no'] }] }, 'input "x": data[1] is "no", expected true or false')
    rejects({ inputs: [], outputs: [{ name: 'y' }, { name: 'y' }] }, '"outputs" names an output twice')
    rejects({ inputs: [], parameters: { file: 3 } }, 'parameters.file must be a string (a path in the version)')
    rejects({ inputs: [], parameters: { nested: { a: 1 } } }, 'request.parameters must be an object of string, number or boolean values')
  })

  it('encodes a response: model name and version, the request id, flat data, BOOL as true/false', () => {
    const outputs: Tensor[] = [
      { name: 'output0', dtype: 'float32', shape: [3, 2], data: Float32Array.from([1, 1.5, 2, 2.5, 3, 3.5]) },
      { name: 'flags', dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) },
      { name: 'big', dtype: 'int64', shape: [1], data: BigInt64Array.from([2n ** 62n]) }
    ]
    const { json, binary } = encodeOipResponse({ modelName: 'acme/mlp', modelVersion: '1.0.0', id: '42', outputs })
    assert.equal(binary.length, 0)
    assert.deepEqual(json, {
      model_name: 'acme/mlp',
      model_version: '1.0.0',
      id: '42',
      outputs: [
        { name: 'output0', shape: [3, 2], datatype: 'FP32', data: [1, 1.5, 2, 2.5, 3, 3.5] },
        { name: 'flags', shape: [2], datatype: 'BOOL', data: [true, false] },
        { name: 'big', shape: [1], datatype: 'INT64', data: ['4611686018427387904'] }
      ]
    })
    assert.equal('id' in encodeOipResponse({ modelName: 'm', outputs }).json, false)
    // A client reads back what the server wrote.
    assert.deepEqual(decodeOipResponse(JSON.parse(JSON.stringify(json))).outputs, outputs)
  })

  it('encodes model metadata with dynamic dims as -1, and decodes it back', () => {
    const metadata = encodeOipModelMetadata({
      name: 'acme/mlp',
      versions: ['1.0.0'],
      inputs: [{ name: 'input', dtype: 'float32', shape: ['batch', 8] }, { name: 'ids', dtype: 'int64', shape: ['?'] }],
      outputs: [{ name: 'logits', dtype: 'float16', shape: ['batch', 3] }]
    })
    assert.deepEqual(metadata, {
      name: 'acme/mlp',
      versions: ['1.0.0'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 8] }, { name: 'ids', datatype: 'INT64', shape: [-1] }],
      outputs: [{ name: 'logits', datatype: 'FP16', shape: [-1, 3] }]
    })
    assert.deepEqual(decodeOipModelMetadata(metadata).inputs, [{ name: 'input', dtype: 'float32', shape: ['?', 8] }, { name: 'ids', dtype: 'int64', shape: ['?'] }])
  })

  it('round-trips through the binary tensor data extension', () => {
    const inputs: Tensor[] = [
      { name: 'x', dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) },
      { name: 'h', dtype: 'float16', shape: [1], data: Uint16Array.from([0x3c00]) },
      { name: 'b', dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) },
      { name: 's', dtype: 'string', shape: [2], data: ['', 'héllo'] },
      { name: 'i', dtype: 'int64', shape: [1], data: BigInt64Array.from([-(2n ** 63n)]) }
    ]
    const request = joinBinaryBody(encodeOipRequest(inputs, { id: 'r1', outputs: ['y'], binary: true }))
    const split = splitBinaryBody(request.body, request.headerLength)
    const decoded = decodeOipRequest(split.json, split.binary)
    assert.deepEqual(decoded.inputs, inputs)
    assert.deepEqual([...decoded.binaryOutputs], ['y'])
    assert.deepEqual((split.json as any).inputs[0].parameters, { binary_data_size: 16 })
    assert.equal((split.json as any).inputs[0].data, undefined)

    const response = joinBinaryBody(encodeOipResponse({ modelName: 'm', outputs: inputs, binaryByDefault: true }))
    const back = splitBinaryBody(response.body, response.headerLength)
    assert.deepEqual(decodeOipResponse(back.json, back.binary).outputs, inputs)

    // In parts, the tensor data goes out as the caller's own bytes (no copy); joined, the same body.
    const float = new Float32Array([1, 2, 3, 4])
    const parts = binaryBodyParts(encodeOipRequest([{ name: 'x', dtype: 'float32', shape: [4], data: float }], { binary: true }))
    assert.equal(parts.parts[1].buffer, float.buffer)
    assert.equal(parts.byteLength, parts.headerLength + float.byteLength)
    assert.deepEqual(Buffer.concat(parts.parts), Buffer.from(joinBinaryBody(encodeOipRequest([{ name: 'x', dtype: 'float32', shape: [4], data: float }], { binary: true })).body))

    const request2 = binaryRequestBody(encodeOipRequest([{ name: 'x', dtype: 'float32', shape: [4], data: float }], { binary: true }))
    assert.deepEqual(request2.headers, { 'content-type': 'application/octet-stream', [OIP_HEADER_LENGTH_HEADER]: String(parts.headerLength) })
    assert.deepEqual(Buffer.concat(request2.body), Buffer.concat(parts.parts))

    // binary_data_output applies to outputs not listed; binary_data on one output overrides it.
    const mixed = decodeOipRequest({ parameters: { binary_data_output: true }, inputs: [], outputs: [{ name: 'a' }, { name: 'b', parameters: { binary_data: false } }] })
    assert.deepEqual([...mixed.binaryOutputs], ['a'])
    assert.equal(decodeOipRequest({ parameters: { binary_data_output: true }, inputs: [] }).binaryByDefault, true)

    rejects({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 8 } }] },
      'inputs[0] ("x").parameters.binary_data_size is 8 but only 4 bytes of binary data remain in the request', new Uint8Array(4))
    rejects({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 4 } }] },
      'input "x": shape [2] of FP32 needs 8 bytes of binary data, binary_data_size is 4', new Uint8Array(4))
    rejects({ inputs: [] }, '4 bytes of binary data in the request belong to no tensor', new Uint8Array(4))
    assert.throws(() => splitBinaryBody(new Uint8Array(4), 10), /Inference-Header-Content-Length is 10 but the body has 4 bytes/)
  })

  it('turns errors into the protocol\'s { error } body with their status', () => {
    assert.deepEqual(encodeOipError(new InvalidInputError('input "input": expected float32[batch, 8], got float32[2, 7]')),
      { status: 400, body: { error: 'input "input": expected float32[batch, 8], got float32[2, 7]' } })
    assert.deepEqual(encodeOipError(new InputTooLargeError('too big', { hint: 'Split the batch.' })), { status: 413, body: { error: 'too big Split the batch.' } })
    assert.equal(encodeOipError(new NotFoundError('no such model')).status, 404)
    assert.deepEqual(encodeOipError(new Error('boom')), { status: 500, body: { error: 'boom' } })
    assert.ok(new InputTooLargeError('x') instanceof BaseError)
  })
})

describe('binary tensor data in pooled buffers', () => {
  it('decodes unaligned data inside a Buffer (whose slice() is a view, not a copy)', async () => {
    const { encodeOipRequest, joinBinaryBody, splitBinaryBody, decodeOipRequest } = await import('./oip.ts')
    const tensor = { name: 'input', dtype: 'float32' as const, shape: [1, 4], data: new Float32Array([1, 2, 3, 4]) }
    const { body, headerLength } = joinBinaryBody(encodeOipRequest([tensor], { binary: true }))
    // Buffer.from of a small array lands in Node's shared pool, at an offset that need not be aligned.
    const { json, binary } = splitBinaryBody(Buffer.from(body), headerLength)
    assert.deepEqual(Array.from(decodeOipRequest(json, binary).inputs[0].data as Float32Array), [1, 2, 3, 4])
  })
})
