import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BaseError } from '../errors.ts'
import { validateInputs } from './validateInputs.ts'
import type { Tensor, TensorSpec } from './tensor.ts'

const MLP: TensorSpec[] = [{ name: 'input', dtype: 'float32', shape: ['batch', 8] }]
const ADD: TensorSpec[] = [{ name: 'a', dtype: 'float32', shape: ['batch', 3] }, { name: 'b', dtype: 'float32', shape: ['batch', 3] }]

function f32 (name: string, shape: number[], length = shape.reduce((a, b) => a * b, 1)): Tensor {
  return { name, dtype: 'float32', shape, data: new Float32Array(length) }
}

function rejects (tensors: Tensor[], inputs: TensorSpec[], message: string, status = 400, options = {}): void {
  assert.throws(() => validateInputs(tensors, inputs, options), (err: unknown) => {
    assert.ok(err instanceof BaseError, `expected a BaseError, got ${String(err)}`)
    assert.equal(err.shortMessage, message)
    assert.equal(err.status, status)
    return true
  })
}

describe('validateInputs', () => {
  it('accepts matching inputs and reports the sizes symbolic dims took', () => {
    assert.deepEqual(validateInputs([f32('input', [2, 8])], MLP), { dims: { batch: 2 }, bytes: 64 })
    assert.deepEqual(validateInputs([f32('b', [4, 3]), f32('a', [4, 3])], ADD), { dims: { batch: 4 }, bytes: 96 })
    // '?' dims and dtype, and an unrecorded shape, take anything.
    assert.deepEqual(validateInputs([f32('x', [5, 2])], [{ name: 'x', dtype: '?', shape: ['?', 2] }]).dims, {})
    validateInputs([f32('x', [5, 2, 1])], [{ name: 'x', dtype: 'float32', shape: [] }])
  })

  it('missing input', () => {
    rejects([f32('a', [2, 3])], ADD, 'missing input "b": expected float32[batch, 3]')
  })

  it('unknown input', () => {
    rejects([f32('a', [2, 3]), f32('b', [2, 3]), f32('c', [2, 3])], ADD, 'unknown input "c": the model\'s inputs are a: float32[batch, 3], b: float32[batch, 3]')
  })

  it('an input given twice', () => {
    rejects([f32('input', [2, 8]), f32('input', [2, 8])], MLP, 'input "input" is given twice')
  })

  it('wrong dtype', () => {
    rejects([{ name: 'input', dtype: 'int64', shape: [2, 8], data: new BigInt64Array(16) }], MLP, 'input "input": expected float32[batch, 8], got int64[2, 8]')
  })

  it('wrong rank', () => {
    rejects([f32('input', [2, 8, 1])], MLP, 'input "input": expected float32[batch, 8], got float32[2, 8, 1]')
    rejects([f32('input', [8])], MLP, 'input "input": expected float32[batch, 8], got float32[8]')
  })

  it('a fixed dim that differs', () => {
    rejects([f32('input', [2, 7])], MLP, 'input "input": expected float32[batch, 8], got float32[2, 7]')
  })

  it('a symbolic dim bound to different sizes across inputs, and within one', () => {
    rejects([f32('a', [2, 3]), f32('b', [3, 3])], ADD, 'input "b": expected float32[batch, 3] with batch = 2 (from dim 0 of input "a"), got float32[3, 3]')
    rejects([f32('m', [2, 3])], [{ name: 'm', dtype: 'float32', shape: ['n', 'n'] }], 'input "m": expected float32[n, n] with n = 2 (from dim 0 of input "m"), got float32[2, 3]')
  })

  it('data length differing from the product of the shape', () => {
    rejects([f32('input', [2, 8], 15)], MLP, 'input "input": shape [2, 8] needs 16 elements, got 15')
  })

  it('data of the wrong array type, and bad shapes', () => {
    rejects([{ name: 'input', dtype: 'float32', shape: [2, 8], data: new Float64Array(16) } as unknown as Tensor], MLP, 'input "input": float32 data must be a Float32Array, got Float64Array')
    rejects([{ name: 'input', dtype: 'float16', shape: [1, 8], data: new Float32Array(8) } as unknown as Tensor], [{ name: 'input', dtype: 'float16', shape: [1, 8] }],
      'input "input": float16 data must be a Uint16Array of IEEE half bits, got Float32Array')
    rejects([f32('input', [2, -8], 0)], MLP, 'input "input": invalid shape [2, -8]: dims must be non-negative integers')
  })

  it('refuses inputs over the size limit with 413', () => {
    rejects([f32('input', [1024, 8])], MLP, 'inputs are too large: 32768 bytes, over the limit of 16384 bytes', 413, { maxBytes: 16384 })
    rejects([f32('input', [2 ** 16, 8])], MLP, 'inputs are too large: 2097152 bytes, over the limit of 1048576 bytes (1 MiB)', 413, { maxBytes: 2 ** 20 })
  })

  it('refuses a model input that is not a tensor with 422', () => {
    rejects([f32('s', [1])], [{ name: 's', dtype: 'sequence', shape: [] }], 'input "s" of the model is sequence[], which inference cannot feed', 422)
    rejects([f32('s', [1])], [{ name: 's', dtype: 'bfloat16', shape: [1] }], 'input "s" of the model is bfloat16[1], which inference cannot feed', 422)
  })
})
