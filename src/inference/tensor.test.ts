import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidInputError } from '../errors.ts'
import { dataToValues, floatToHalf, halfToFloat, nestValues, readJsonData, valuesToData, type Tensor } from './tensor.ts'

const context = { tensor: 'input "x"', path: 'data' }

function throwsMessage (fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidInputError, `expected InvalidInputError, got ${String(err)}`)
    assert.equal(err.shortMessage, message)
    assert.equal(err.status, 400)
    return true
  })
}

describe('float16', () => {
  it('rounds doubles to the nearest half like Float16Array (ties to even, overflow to infinity, subnormals)', () => {
    const F16 = (globalThis as any).Float16Array
    const specials = [0, -0, 1, -1, 0.1, 1 / 3, 65504, 65519.99, 65520, 65536, 1e10, -1e10, 2 ** -14, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -26,
      6.103515625e-5, 6.097555160522461e-5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049, 2051, Infinity, -Infinity, Number.MIN_VALUE]
    let seed = 7
    const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    const values = [...specials, ...Array.from({ length: 20_000 }, () => (random() - 0.5) * 2 ** (random() * 40 - 26))]
    for (const value of values) {
      const expected = F16 !== undefined ? new Uint16Array(new F16([value]).buffer)[0] : undefined
      const bits = floatToHalf(value)
      if (expected !== undefined) assert.equal(bits, expected, `floatToHalf(${value})`)
    }
    assert.equal(floatToHalf(NaN) & 0x7c00, 0x7c00)
    assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))))
    assert.equal(floatToHalf(1), 0x3c00)
    assert.equal(floatToHalf(-2), 0xc000)
    assert.equal(floatToHalf(65520), 0x7c00)
    assert.ok(Object.is(halfToFloat(floatToHalf(-0)), -0))
  })

  it('decodes every finite half exactly, and re-encodes it to the same bits', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = halfToFloat(bits)
      if (Number.isNaN(value)) continue
      assert.equal(floatToHalf(value), bits)
    }
  })
})

describe('valuesToData', () => {
  it('converts numbers, special floats, int64 strings and bools', () => {
    assert.deepEqual(valuesToData('float32', [1, 'NaN', 'Infinity', '-Infinity'], context), Float32Array.from([1, NaN, Infinity, -Infinity]))
    assert.deepEqual(valuesToData('int64', [1, '-9223372036854775808', '9223372036854775807'], context), BigInt64Array.from([1n, -(2n ** 63n), 2n ** 63n - 1n]))
    assert.deepEqual(valuesToData('uint64', ['18446744073709551615'], context), BigUint64Array.from([2n ** 64n - 1n]))
    assert.deepEqual(valuesToData('bool', [true, false, 1, 0], context), Uint8Array.from([1, 0, 1, 0]))
    assert.deepEqual(valuesToData('float16', [1, -2], context), Uint16Array.from([0x3c00, 0xc000]))
    assert.deepEqual(valuesToData('string', ['a', 'é'], context), ['a', 'é'])
  })

  it('names the first bad element and why', () => {
    throwsMessage(() => valuesToData('float32', [1, 'x'], context), 'input "x": data[1] is "x", expected a number')
    throwsMessage(() => valuesToData('float32', [1, 2, 3, null], context, [2, 2]), 'input "x": data[1][1] is null, expected a number')
    throwsMessage(() => valuesToData('uint8', [256], context), 'input "x": data[0] is 256, outside the uint8 range [0, 255]')
    throwsMessage(() => valuesToData('int32', [1.5], context), 'input "x": data[0] is 1.5, expected an integer')
    throwsMessage(() => valuesToData('int64', [2 ** 60], context), 'input "x": data[0] is 1152921504606847000, beyond 2^53 where JSON numbers lose precision; send it as a decimal string')
    throwsMessage(() => valuesToData('int64', ['9223372036854775808'], context), 'input "x": data[0] is 9223372036854775808, outside the int64 range [-9223372036854775808, 9223372036854775807]')
    throwsMessage(() => valuesToData('uint64', [-1], context), 'input "x": data[0] is -1, outside the uint64 range [0, 18446744073709551615]')
    throwsMessage(() => valuesToData('bool', ['yes'], context), 'input "x": data[0] is "yes", expected true or false')
    throwsMessage(() => valuesToData('string', [3], context), 'input "x": data[0] is 3, expected a string')
  })
})

describe('readJsonData', () => {
  it('infers the shape of nested arrays', () => {
    assert.deepEqual(readJsonData('float32', [[1, 2, 3], [4, 5, 6]], context), { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) })
    assert.deepEqual(readJsonData('float32', [[[1], [2]]], context), { shape: [1, 2, 1], data: Float32Array.from([1, 2]) })
    assert.deepEqual(readJsonData('int32', [1, 2], context), { shape: [2], data: Int32Array.from([1, 2]) })
    assert.deepEqual(readJsonData('int32', 7, context), { shape: [], data: Int32Array.from([7]) })
    assert.deepEqual(readJsonData('int32', [], context), { shape: [0], data: new Int32Array(0) })
    assert.deepEqual(readJsonData('int32', [[], []], context), { shape: [2, 0], data: new Int32Array(0) })
  })

  it('takes flat data with a declared shape, and nested data that matches it', () => {
    assert.deepEqual(readJsonData('float32', [1, 2, 3, 4], context, [2, 2]), { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) })
    assert.deepEqual(readJsonData('float32', [[1, 2], [3, 4]], context, [2, 2]), { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) })
    throwsMessage(() => readJsonData('float32', [[1, 2, 3, 4]], context, [2, 2]), 'input "x": data is nested as [1, 4] but the shape is [2, 2]')
  })

  it('rejects ragged arrays with the path of the first mismatch', () => {
    throwsMessage(() => readJsonData('float32', [[1, 2, 3], [4, 5]], context), 'input "x": ragged array: data[1] has 2 elements but data[0] has 3')
    throwsMessage(() => readJsonData('float32', [[[1, 2], [3, 4]], [[5, 6], [7]]], context), 'input "x": ragged array: data[1][1] has 1 elements but data[0][0] has 2')
    throwsMessage(() => readJsonData('float32', [[1, 2], 3], context), 'input "x": ragged array: data[1] is 3, expected an array of 2 like data[0]')
    throwsMessage(() => readJsonData('float32', [[1, 2], [3, [4]]], context), 'input "x": ragged array: data[1][1] is an array but data[0][0] is not')
    throwsMessage(() => readJsonData('float32', [[1, 2], [3, 'a']], context), 'input "x": data[1][1] is "a", expected a number')
  })
})

describe('dataToValues', () => {
  it('writes JSON-safe values', () => {
    const tensor = (t: Tensor): ReturnType<typeof dataToValues> => dataToValues(t)
    assert.deepEqual(tensor({ name: 'a', dtype: 'float32', shape: [3], data: Float32Array.from([1.5, NaN, -Infinity]) }), [1.5, 'NaN', '-Infinity'])
    assert.deepEqual(tensor({ name: 'a', dtype: 'int64', shape: [3], data: BigInt64Array.from([1n, -(2n ** 60n), 2n ** 53n - 1n]) }), [1, '-1152921504606846976', 9007199254740991])
    assert.deepEqual(tensor({ name: 'a', dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) }), [true, false])
    assert.deepEqual(tensor({ name: 'a', dtype: 'float16', shape: [2], data: Uint16Array.from([0x3c00, 0x7c00]) }), [1, 'Infinity'])
    assert.deepEqual(tensor({ name: 'a', dtype: 'uint8', shape: [1], data: Uint8Array.from([255]) }), [255])
    assert.deepEqual(nestValues([1, 2, 3, 4, 5, 6], [2, 3]), [[1, 2, 3], [4, 5, 6]])
    assert.equal(nestValues([5], []), 5)
  })
})
