import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BaseError } from '../../errors.ts'
import { decodeJsonTensors, decodeJsonText, encodeJsonTensors } from './json.ts'
import type { TensorSpec } from '../tensor.ts'

const INPUTS: TensorSpec[] = [
  { name: 'image', dtype: 'float32', shape: ['batch', 2, 2] },
  { name: 'ids', dtype: 'int64', shape: ['batch', '?'] },
  { name: 'mask', dtype: 'bool', shape: ['batch', '?'] },
  { name: 'half', dtype: 'float16', shape: [2] }
]

function rejects (body: unknown, message: string, status = 400): void {
  assert.throws(() => decodeJsonTensors(body, INPUTS), (err: unknown) => {
    assert.ok(err instanceof BaseError, String(err))
    assert.equal(err.shortMessage, message)
    assert.equal(err.status, status)
    return true
  })
}

describe('JSON tensors', () => {
  it('decodes {dims, data} with flat or nested data, and bare nested arrays, with the model\'s dtypes', () => {
    const tensors = decodeJsonTensors({
      image: { dims: [1, 2, 2], data: [1, 2, 3, 4] },
      ids: [[1, '9007199254740993']],
      mask: { dims: [1, 2], data: [[true, false]] },
      half: [1.5, -2]
    }, INPUTS)
    assert.deepEqual(tensors, [
      { name: 'image', dtype: 'float32', shape: [1, 2, 2], data: Float32Array.from([1, 2, 3, 4]) },
      { name: 'ids', dtype: 'int64', shape: [1, 2], data: BigInt64Array.from([1n, 9007199254740993n]) },
      { name: 'mask', dtype: 'bool', shape: [1, 2], data: Uint8Array.from([1, 0]) },
      { name: 'half', dtype: 'float16', shape: [2], data: Uint16Array.from([0x3e00, 0xc000]) }
    ])
  })

  it('takes "shape" for "dims", "dtype" overrides, and data without dims', () => {
    assert.deepEqual(decodeJsonTensors({ image: { shape: [1, 1, 2], data: [1, 2] } }, INPUTS)[0].shape, [1, 1, 2])
    assert.deepEqual(decodeJsonTensors({ image: { data: [[[1, 2]]] } }, INPUTS)[0].shape, [1, 1, 2])
    assert.equal(decodeJsonTensors({ image: { dtype: 'float64', dims: [1], data: [1] } }, INPUTS)[0].dtype, 'float64')
  })

  it('reports bad files precisely', () => {
    rejects([1, 2], 'JSON inputs must be an object: {"name": {"dims": [...], "data": [...]}} or {"name": nested arrays}')
    rejects({ label: [1] }, 'unknown input "label": the model\'s inputs are image: float32[batch, 2, 2], ids: int64[batch, ?], mask: bool[batch, ?], half: float16[2]')
    rejects({ image: [[[1, 2], [3, 4]], [[5, 6], [7]]] }, 'input "image": ragged array: image[1][1] has 1 elements but image[0][0] has 2')
    rejects({ image: { dims: [1, 2, 2], data: [[1, 2], [3, 4]] } }, 'input "image": data is nested as [2, 2] but the shape is [1, 2, 2]')
    rejects({ image: { dims: [1, -2], data: [] } }, 'input "image": "dims" must be an array of non-negative integers')
    rejects({ image: { dims: [1] } }, 'input "image": expected {"dims": [...], "data": [...]} or nested arrays')
    rejects({ image: { dtype: 'float8', data: [1] } }, 'input "image": unknown dtype "float8"')
    rejects({ ids: [[1.5]] }, 'input "ids": ids[0][0] is 1.5, expected an integer')
    rejects({ mask: [['yes']] }, 'input "mask": mask[0][0] is "yes", expected true or false')
    assert.throws(() => decodeJsonTensors({ x: [1] }, [{ name: 'x', dtype: '?' }]), /the model does not record its dtype/)
    assert.throws(() => decodeJsonText('{"image": [1,', INPUTS), (err: unknown) => err instanceof BaseError && err.shortMessage === 'the input is not valid JSON')
  })

  it('encodes outputs flat (default) or nested, and decodes what it encodes', () => {
    const tensors = decodeJsonTensors({ image: [[[1, 2], [3, 4]]], ids: [['-9223372036854775808', 5]], mask: [[true]], half: [0.5, 65504] }, INPUTS)
    const flat = encodeJsonTensors(tensors)
    assert.deepEqual(flat.image, { dtype: 'float32', dims: [1, 2, 2], data: [1, 2, 3, 4] })
    assert.deepEqual(flat.ids, { dtype: 'int64', dims: [1, 2], data: ['-9223372036854775808', 5] })
    assert.deepEqual(flat.mask, { dtype: 'bool', dims: [1, 1], data: [true] })
    assert.deepEqual(flat.half, { dtype: 'float16', dims: [2], data: [0.5, 65504] })
    assert.deepEqual(encodeJsonTensors(tensors, { nested: true }).image.data, [[[1, 2], [3, 4]]])
    assert.deepEqual(decodeJsonTensors(JSON.parse(JSON.stringify(flat)), INPUTS), tensors)
    assert.deepEqual(decodeJsonTensors(JSON.parse(JSON.stringify(encodeJsonTensors(tensors, { nested: true }))), INPUTS), tensors)
  })
})
