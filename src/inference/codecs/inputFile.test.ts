import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidInputError } from '../../errors.ts'
import { decodeInputFile } from './inputFile.ts'
import { encodeNpy } from './npy.ts'

const ONE = [{ name: 'input', dtype: 'float32', shape: ['batch', 2] }]
const TWO = [{ name: 'a', dtype: 'float32', shape: ['batch', 2] }, { name: 'ids', dtype: 'int64', shape: ['batch'] }]
const text = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))

describe('decodeInputFile', () => {
  const npy = encodeNpy({ name: 'x', dtype: 'float32', shape: [1, 2], data: Float32Array.from([1, 2]) })

  it('reads .npy by its magic bytes: the only input, or the named one', () => {
    assert.deepEqual(decodeInputFile(npy, { fileName: 'in.bin', inputs: ONE }), [{ name: 'input', dtype: 'float32', shape: [1, 2], data: Float32Array.from([1, 2]) }])
    assert.equal(decodeInputFile(npy, { fileName: 'a.npy', inputs: TWO, inputName: 'a' })[0].name, 'a')
    assert.throws(() => decodeInputFile(npy, { fileName: 'a.npy', inputs: TWO }), /a\.npy does not say which input it is for: the model has 2 inputs \(a, ids\)/)
  })

  it('reads JSON: a file of named tensors, or one tensor for NAME=FILE', () => {
    const both = decodeInputFile(text({ a: [[1, 2]], ids: { dims: [1], data: ['5'] } }), { fileName: 'in.json', inputs: TWO })
    assert.deepEqual(both.map((t) => [t.name, t.dtype, t.shape]), [['a', 'float32', [1, 2]], ['ids', 'int64', [1]]])
    assert.deepEqual(decodeInputFile(text([7, 8]), { fileName: 'ids.json', inputs: TWO, inputName: 'ids' }), [{ name: 'ids', dtype: 'int64', shape: [2], data: BigInt64Array.from([7n, 8n]) }])
  })

  it('refuses .npz and files that are neither', () => {
    assert.throws(() => decodeInputFile(Uint8Array.from([0x50, 0x4b, 3, 4]), { fileName: 'in.npz', inputs: ONE }), (err: unknown) =>
      err instanceof InvalidInputError && err.shortMessage === 'in.npz: .npz archives are not supported')
    assert.throws(() => decodeInputFile(text('x').subarray(0, 2), { fileName: 'in.txt', inputs: ONE }), (err: unknown) =>
      err instanceof InvalidInputError && err.shortMessage === 'in.txt is neither a .npy file nor valid JSON')
  })
})
