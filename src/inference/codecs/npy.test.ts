import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidInputError } from '../../errors.ts'
import { DTYPES, allocate, type NumericDType, type Tensor } from '../tensor.ts'
import { decodeNpy, encodeNpy, isNpy, npyInputName } from './npy.ts'

/** Bytes spelled out as numpy.save writes them: magic, version, header length, the padded header, the data. */
function handWritten (version: [number, number], dict: string, data: number[], align = 64): Uint8Array {
  const preamble = version[0] === 1 ? 10 : 12
  const padding = align - ((preamble + dict.length + 1) % align)
  const header = dict + ' '.repeat(padding) + '\n'
  const lengthBytes = version[0] === 1
    ? [header.length & 0xff, header.length >> 8]
    : [header.length & 0xff, (header.length >> 8) & 0xff, (header.length >> 16) & 0xff, header.length >>> 24]
  return Uint8Array.from([0x93, ...'NUMPY'.split('').map((c) => c.charCodeAt(0)), ...version, ...lengthBytes, ...header.split('').map((c) => c.charCodeAt(0)), ...data])
}

function rejects (bytes: Uint8Array, message: string | RegExp): void {
  assert.throws(() => decodeNpy(bytes, 'x'), (err: unknown) => {
    assert.ok(err instanceof InvalidInputError, String(err))
    if (typeof message === 'string') assert.equal(err.shortMessage, message)
    else assert.match(err.shortMessage, message)
    assert.equal(err.status, 400)
    return true
  })
}

describe('npy', () => {
  // numpy.save(f, numpy.arange(6, dtype='<f4').reshape(2, 3)) writes exactly these 152 bytes.
  const F4 = handWritten([1, 0], "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,
    0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0xa0, 0x40
  ])

  it('reads a file written byte by byte like numpy.save (header padded to 64, ended by \\n)', () => {
    assert.equal(F4.length, 152)
    assert.equal(F4[8], 118) // header length: 128 - 10
    assert.equal(F4[127], 0x0a)
    assert.ok(isNpy(F4))
    assert.deepEqual(decodeNpy(F4, 'input'), { name: 'input', dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) })
  })

  it('writes the same bytes as numpy.save', () => {
    assert.deepEqual(encodeNpy({ name: 'x', dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) }), F4)
    // numpy.save(f, numpy.array([1, -2, 258], dtype='>i2'))
    const bigEndian = handWritten([1, 0], "{'descr': '>i2', 'fortran_order': False, 'shape': (3,), }", [0x00, 0x01, 0xff, 0xfe, 0x01, 0x02])
    assert.deepEqual(encodeNpy({ name: 'x', dtype: 'int16', shape: [3], data: Int16Array.from([1, -2, 258]) }, { byteOrder: 'big' }), bigEndian)
    // numpy.save(f, numpy.array(3.5)): a scalar, shape ()
    const scalar = handWritten([1, 0], "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", [0, 0, 0, 0, 0, 0, 0x0c, 0x40])
    assert.deepEqual(encodeNpy({ name: 'x', dtype: 'float64', shape: [], data: Float64Array.from([3.5]) }), scalar)
    // numpy.save(f, numpy.array([[True, False]])): one-byte types use '|'
    const bools = handWritten([1, 0], "{'descr': '|b1', 'fortran_order': False, 'shape': (1, 2), }", [1, 0])
    assert.deepEqual(encodeNpy({ name: 'x', dtype: 'bool', shape: [1, 2], data: Uint8Array.from([1, 0]) }), bools)
  })

  it('reads big-endian files', () => {
    const bigEndian = handWritten([1, 0], "{'descr': '>i2', 'fortran_order': False, 'shape': (3,), }", [0x00, 0x01, 0xff, 0xfe, 0x01, 0x02])
    assert.deepEqual(decodeNpy(bigEndian, 'x').data, Int16Array.from([1, -2, 258]))
    const f8 = handWritten([1, 0], "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", [0x40, 0x0c, 0, 0, 0, 0, 0, 0])
    assert.deepEqual(decodeNpy(f8, 'x').data, Float64Array.from([3.5]))
  })

  it('reads format versions 2.0 and 3.0, and Python 2 long dims', () => {
    const v2 = handWritten([2, 0], "{'descr': '<u2', 'fortran_order': False, 'shape': (2L,), }", [1, 0, 0xff, 0xff])
    assert.deepEqual(decodeNpy(v2, 'x'), { name: 'x', dtype: 'uint16', shape: [2], data: Uint16Array.from([1, 65535]) })
    const v3 = handWritten([3, 0], '{"descr": "<i1", "fortran_order": False, "shape": (1, 1)}', [0xff])
    assert.deepEqual(decodeNpy(v3, 'x'), { name: 'x', dtype: 'int8', shape: [1, 1], data: Int8Array.from([-1]) })
  })

  it('round-trips every dtype in both byte orders, including unaligned buffers', () => {
    for (const dtype of DTYPES.filter((d): d is NumericDType => d !== 'string')) {
      const data = allocate(dtype, 6) as any
      for (let i = 0; i < 6; i++) data[i] = typeof data[0] === 'bigint' ? BigInt(i * 3) : dtype === 'bool' ? i % 2 : i * 3
      const tensor = { name: 'x', dtype, shape: [3, 2], data } as Tensor
      for (const byteOrder of ['little', 'big'] as const) {
        const bytes = encodeNpy(tensor, { byteOrder })
        assert.deepEqual(decodeNpy(bytes, 'x'), tensor, `${dtype} ${byteOrder}`)
        const shifted = new Uint8Array(bytes.length + 1).subarray(1)
        shifted.set(bytes)
        assert.deepEqual(decodeNpy(shifted, 'x'), tensor, `${dtype} ${byteOrder} unaligned`)
      }
    }
  })

  it('returns a view of aligned little-endian data instead of a copy', () => {
    const tensor = decodeNpy(F4, 'x')
    assert.equal((tensor.data as Float32Array).buffer, F4.buffer)
  })

  it('refuses Fortran order, unsupported dtypes and broken files with clear messages', () => {
    rejects(handWritten([1, 0], "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }", new Array(8).fill(0)),
      '.npy arrays in Fortran order (fortran_order=True) are not supported: tensors are row-major')
    rejects(handWritten([1, 0], "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Array(8).fill(0)), /^\.npy element type '<c8' is not supported; supported: float16\/32\/64/)
    rejects(handWritten([1, 0], "{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", new Array(12).fill(0)), /^\.npy element type '<U3' is not supported/)
    rejects(handWritten([1, 0], "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }", new Array(8).fill(0)),
      ".npy structured arrays (a list of fields in 'descr') are not supported")
    rejects(F4.subarray(0, 150), 'not a valid .npy file: the header promises (2, 3) × 4 bytes = 24 bytes of data, the file has 22')
    rejects(Uint8Array.from([...F4, 0]), 'not a valid .npy file: 1 bytes follow the 24 bytes of data of a (2, 3) array')
    rejects(Uint8Array.from([1, 2, 3]), 'not a valid .npy file: it does not start with "\\x93NUMPY"')
    rejects(F4.subarray(0, 40), 'not a valid .npy file: the file ends inside its header')
    rejects(handWritten([1, 0], "{'descr': '<f4' 'shape': (1,)}", [0, 0, 0, 0]), /^not a valid \.npy file: cannot parse the header at character 16: expected "," or "}"/)
    rejects(handWritten([4, 0], '{}', []), 'not a valid .npy file: format version 4.0 is not supported (1.0, 2.0 and 3.0 are)')
  })

  it('refuses to write string tensors', () => {
    assert.throws(() => encodeNpy({ name: 's', dtype: 'string', shape: [1], data: ['a'] }), /string tensor, which \.npy output does not support/)
  })

  it('a bare .npy feeds the only input of a model; several inputs need names', () => {
    assert.equal(npyInputName([{ name: 'input' }]), 'input')
    assert.throws(() => npyInputName([{ name: 'a' }, { name: 'b' }], 'x.npy'), (err: unknown) => {
      assert.ok(err instanceof InvalidInputError)
      assert.equal(err.shortMessage, 'x.npy does not say which input it is for: the model has 2 inputs (a, b)')
      return true
    })
  })
})
