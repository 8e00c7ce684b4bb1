/**
 * A neutral tensor: the form every codec produces and consumes, independent of onnxruntime (the
 * conversions to and from `ort.Tensor` are in ortTensor.ts, so the codecs load no native code and
 * the CLI and the SDK can use them).
 *
 * Data is row-major (C order), one typed array per element type: float16 as its IEEE-754 binary16
 * bits in a Uint16Array, bool as 0/1 bytes in a Uint8Array, int64/uint64 as BigInt64Array /
 * BigUint64Array, string as a plain array.
 *
 * JSON values (for the JSON and OIP codecs): floats are numbers, plus the strings "NaN",
 * "Infinity" and "-Infinity", which JSON has no number for; integers are numbers, and int64/uint64
 * also take decimal strings for values beyond 2^53; bools are true/false (or 0/1); float16 is
 * taken as a number and rounded to the nearest half (ties to even). Out of range or fractional
 * integers are refused, never wrapped or truncated.
 */
import { InvalidInputError } from '../errors.ts'

export const DTYPES = ['float32', 'float64', 'float16', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string'] as const

export type DType = typeof DTYPES[number]
export type NumericDType = Exclude<DType, 'string'>

export interface TensorDataMap {
  float32: Float32Array
  float64: Float64Array
  float16: Uint16Array
  int8: Int8Array
  int16: Int16Array
  int32: Int32Array
  int64: BigInt64Array
  uint8: Uint8Array
  uint16: Uint16Array
  uint32: Uint32Array
  uint64: BigUint64Array
  bool: Uint8Array
  string: string[]
}

export interface TypedTensor<T extends DType> {
  name: string
  dtype: T
  /** Non-negative integers; [] is a scalar. */
  shape: number[]
  /** Row-major; its length is the product of `shape`. */
  data: TensorDataMap[T]
}

/** A tensor of any element type, discriminated by `dtype`. */
export type Tensor = { [T in DType]: TypedTensor<T> }[DType]

export type TensorData = TensorDataMap[DType]

/** What a model's metadata (or an OIP metadata response) says about a tensor. */
export interface TensorSpec {
  name: string
  dtype: string
  shape: ReadonlyArray<number | string>
}

export const BYTES_PER_ELEMENT: Record<NumericDType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  bool: 1
}

type TypedArrayConstructor = Float32ArrayConstructor | Float64ArrayConstructor | Uint16ArrayConstructor | Int8ArrayConstructor | Int16ArrayConstructor | Int32ArrayConstructor |
  BigInt64ArrayConstructor | Uint8ArrayConstructor | Uint32ArrayConstructor | BigUint64ArrayConstructor

export const TYPED_ARRAYS: Record<NumericDType, TypedArrayConstructor> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array
}

const DTYPE_SET: ReadonlySet<string> = new Set(DTYPES)

export function isDType (value: unknown): value is DType {
  return typeof value === 'string' && DTYPE_SET.has(value)
}

/** Product of the dims; 1 for a scalar. */
export function elementCount (shape: readonly number[]): number {
  let count = 1
  for (const dim of shape) count *= dim
  return count
}

/** Bytes of a tensor's data: elements × element size; for strings, the sum of their UTF-16 lengths. */
export function tensorByteLength (tensor: Tensor): number {
  if (tensor.dtype === 'string') {
    let bytes = 0
    for (const value of tensor.data) bytes += typeof value === 'string' ? value.length : 0
    return bytes
  }
  return tensor.data.byteLength
}

/** True when `data` is the array type the neutral tensor uses for `dtype`. */
export function isTensorData (dtype: DType, data: unknown): boolean {
  if (dtype === 'string') return Array.isArray(data)
  return data instanceof TYPED_ARRAYS[dtype]
}

/** `[batch, 8]`; a scalar is `[]`. */
export function formatShape (shape: ReadonlyArray<number | string>): string {
  return `[${shape.join(', ')}]`
}

/** `float32[batch, 8]`, the form every shape error uses. */
export function formatSignature (dtype: string, shape: ReadonlyArray<number | string>): string {
  return `${dtype}${formatShape(shape)}`
}

export function allocate<T extends DType> (dtype: T, count: number): TensorDataMap[T] {
  if (dtype === 'string') return new Array<string>(count).fill('') as TensorDataMap[T]
  return new TYPED_ARRAYS[dtype as NumericDType](count) as TensorDataMap[T]
}

// --- float16 -------------------------------------------------------------------------------------

function roundHalfEven (value: number): number {
  const floor = Math.floor(value)
  const fraction = value - floor
  if (fraction > 0.5) return floor + 1
  if (fraction < 0.5) return floor
  return floor % 2 === 0 ? floor : floor + 1
}

/**
 * IEEE-754 binary16 bits of the half nearest to `value` (ties to even), computed from the double
 * directly (no detour through float32, which could round twice). Every step scales by a power of
 * two, so it is exact until the final rounding.
 */
export function floatToHalf (value: number): number {
  if (Number.isNaN(value)) return 0x7e00
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0
  const magnitude = Math.abs(value)
  // 65504 is the largest half; halfway to 65536 (65520) ties to the even neighbour, infinity.
  if (magnitude >= 65520) return sign | 0x7c00
  if (magnitude < 2 ** -14) {
    // Subnormal: magnitude = m × 2^-24; m = 1024 rounds up into the smallest normal, which is also 0x0400.
    return sign | roundHalfEven(magnitude * 2 ** 24)
  }
  let exponent = Math.floor(Math.log2(magnitude))
  if (2 ** exponent > magnitude) exponent--
  else if (2 ** (exponent + 1) <= magnitude) exponent++
  const mantissa = roundHalfEven((magnitude / 2 ** exponent - 1) * 1024)
  // A mantissa of 1024 carries into the exponent, which is exactly what the addition does.
  const bits = ((exponent + 15) << 10) + mantissa
  return sign | Math.min(bits, 0x7c00)
}

export function halfToFloat (bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >> 10) & 0x1f
  const mantissa = bits & 0x3ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}

// --- JSON values -> typed data -------------------------------------------------------------------

/** Thrown by element converters; the caller adds where the element is. */
class ElementError extends Error {}

type Converter = (value: unknown) => number | bigint | string

const INTEGER_RANGES: Record<'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32', [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295]
}

const BIGINT_RANGES: Record<'int64' | 'uint64', [bigint, bigint]> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n]
}

function describeValue (value: unknown): string {
  if (value === undefined) return 'missing'
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'bigint') return `${value}n`
  return JSON.stringify(value) ?? String(value)
}

function float (value: unknown): number {
  if (typeof value === 'number') return value
  if (value === 'NaN') return NaN
  if (value === 'Infinity') return Infinity
  if (value === '-Infinity') return -Infinity
  throw new ElementError(`is ${describeValue(value)}, expected a number`)
}

function integer (dtype: keyof typeof INTEGER_RANGES): Converter {
  const [min, max] = INTEGER_RANGES[dtype]
  return (value) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new ElementError(`is ${describeValue(value)}, expected an integer`)
    if (value < min || value > max) throw new ElementError(`is ${value}, outside the ${dtype} range [${min}, ${max}]`)
    return value
  }
}

const DECIMAL = /^-?\d{1,20}$/

function bigInteger (dtype: 'int64' | 'uint64'): Converter {
  const [min, max] = BIGINT_RANGES[dtype]
  return (value) => {
    let result: bigint
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) {
        throw new ElementError(Number.isInteger(value)
          ? `is ${value}, beyond 2^53 where JSON numbers lose precision; send it as a decimal string`
          : `is ${describeValue(value)}, expected an integer`)
      }
      result = BigInt(value)
    } else if (typeof value === 'string' && DECIMAL.test(value)) {
      result = BigInt(value)
    } else if (typeof value === 'bigint') {
      result = value
    } else {
      throw new ElementError(`is ${describeValue(value)}, expected an integer (a number, or a decimal string)`)
    }
    if (result < min || result > max) throw new ElementError(`is ${result}, outside the ${dtype} range [${min}, ${max}]`)
    return result
  }
}

function bool (value: unknown): number {
  if (value === true || value === 1) return 1
  if (value === false || value === 0) return 0
  throw new ElementError(`is ${describeValue(value)}, expected true or false`)
}

function string (value: unknown): string {
  if (typeof value === 'string') return value
  throw new ElementError(`is ${describeValue(value)}, expected a string`)
}

const CONVERTERS: Record<DType, Converter> = {
  float32: float,
  float64: float,
  float16: (value) => floatToHalf(float(value)),
  int8: integer('int8'),
  int16: integer('int16'),
  int32: integer('int32'),
  uint8: integer('uint8'),
  uint16: integer('uint16'),
  uint32: integer('uint32'),
  int64: bigInteger('int64'),
  uint64: bigInteger('uint64'),
  bool,
  string
}

/** Where a tensor's values came from, for error messages: `input "x"` and the name of its data (`data`). */
export interface ValueContext {
  /** e.g. `input "x"` */
  tensor: string
  /** The JSON path of the data, e.g. `data`. */
  path: string
}

function elementError (context: ValueContext, path: string, err: unknown): never {
  if (err instanceof ElementError) throw new InvalidInputError(`${context.tensor}: ${path} ${err.message}`)
  throw err
}

/** `data[1][2]` for flat index 5 of shape [2, 3]. */
function elementPath (base: string, index: number, shape: readonly number[]): string {
  if (shape.length === 0) return base
  if (shape.length === 1) return `${base}[${index}]`
  const parts: number[] = []
  let rest = index
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    parts.unshift(rest % shape[axis])
    rest = Math.floor(rest / shape[axis])
  }
  return base + parts.map((part) => `[${part}]`).join('')
}

/** Converts flat JSON values to the typed data of `dtype`, naming the first bad element. */
export function valuesToData<T extends DType> (dtype: T, values: ArrayLike<unknown>, context: ValueContext, shape: readonly number[] = [values.length]): TensorDataMap[T] {
  const out = allocate(dtype, values.length) as any
  const convert = CONVERTERS[dtype]
  let i = 0
  try {
    if (dtype === 'float32' || dtype === 'float64') {
      // The hot path of JSON requests: no call per element unless a value is not a number.
      for (; i < values.length; i++) {
        const value = values[i]
        out[i] = typeof value === 'number' ? value : float(value)
      }
    } else {
      for (; i < values.length; i++) out[i] = convert(values[i])
    }
  } catch (err) {
    elementError(context, elementPath(context.path, i, elementCount(shape) === values.length ? shape : [values.length]), err)
  }
  return out
}

/**
 * Reads JSON tensor data, flat or nested. A nested array gives its own shape, checked to be
 * rectangular (the first mismatch is named) and, when `shape` is given, to equal it. Flat data takes
 * `shape` as is (its length is checked against the shape by validateInputs), or is 1-D without
 * one. A bare value is a scalar.
 */
export function readJsonData<T extends DType> (dtype: T, data: unknown, context: ValueContext, shape?: readonly number[]): { shape: number[], data: TensorDataMap[T] } {
  if (!Array.isArray(data)) {
    if (shape !== undefined && elementCount(shape) !== 1) {
      throw new InvalidInputError(`${context.tensor}: ${context.path} must be an array (flat or nested) of ${formatShape(shape)} elements`)
    }
    return { shape: shape !== undefined ? [...shape] : [], data: valuesToData(dtype, [data], context, []) }
  }
  if (data.length === 0 || !Array.isArray(data[0])) {
    const flatShape = shape !== undefined ? [...shape] : [data.length]
    return { shape: flatShape, data: valuesToData(dtype, data, context, flatShape) }
  }
  const nestedShape = inferNestedShape(data)
  if (shape !== undefined && (shape.length !== nestedShape.length || shape.some((dim, axis) => dim !== nestedShape[axis]))) {
    throw new InvalidInputError(`${context.tensor}: ${context.path} is nested as ${formatShape(nestedShape)} but the shape is ${formatShape(shape)}`, {
      hint: 'Send the data flat (row-major) or nested exactly as the shape.'
    })
  }
  const out = allocate(dtype, elementCount(nestedShape)) as any
  const convert = CONVERTERS[dtype]
  let position = 0
  const floats = dtype === 'float32' || dtype === 'float64'
  const walk = (array: unknown[], depth: number, path: string, reference: string): void => {
    if (array.length !== nestedShape[depth]) {
      throw new InvalidInputError(`${context.tensor}: ragged array: ${path} has ${array.length} elements but ${reference} has ${nestedShape[depth]}`)
    }
    if (depth === nestedShape.length - 1) {
      // Leaves: the hot loop of nested JSON data, so no per-element path string or call for plain numbers.
      let i = 0
      try {
        for (; i < array.length; i++) {
          const item = array[i]
          if (floats && typeof item === 'number') out[position++] = item
          else if (Array.isArray(item)) throw new InvalidInputError(`${context.tensor}: ragged array: ${path}[${i}] is an array but ${reference}[0] is not`)
          else out[position++] = convert(item)
        }
      } catch (err) {
        elementError(context, `${path}[${i}]`, err)
      }
      return
    }
    for (let i = 0; i < array.length; i++) {
      const item = array[i]
      if (!Array.isArray(item)) {
        throw new InvalidInputError(`${context.tensor}: ragged array: ${path}[${i}] is ${describeValue(item)}, expected an array of ${nestedShape[depth + 1]} like ${reference}[0]`)
      }
      walk(item, depth + 1, `${path}[${i}]`, `${reference}[0]`)
    }
  }
  // At the top level the length defines the dim, so the reference only matters further down.
  walk(data, 0, context.path, context.path)
  return { shape: nestedShape, data: out }
}

/** The shape along the first elements: [[1, 2, 3], [4, 5, 6]] → [2, 3]. */
function inferNestedShape (data: unknown[]): number[] {
  const shape: number[] = []
  let current: unknown = data
  while (Array.isArray(current)) {
    shape.push(current.length)
    if (shape.length > 64) throw new InvalidInputError('nested array is more than 64 levels deep')
    current = current[0]
  }
  return shape
}

// --- typed data -> JSON values --------------------------------------------------------------------

export type JsonValue = number | string | boolean

function jsonFloat (value: number): number | string {
  return Number.isFinite(value) ? value : String(value)
}

/**
 * Flat JSON values of a tensor: non-finite floats as "NaN"/"Infinity"/"-Infinity" (JSON has no
 * number for them), int64/uint64 as numbers while exact (|v| ≤ 2^53 - 1) and as decimal strings
 * beyond, bools as true/false, float16 as the number it encodes.
 */
export function dataToValues (tensor: Tensor): JsonValue[] {
  const count = tensor.data.length
  const out = new Array<JsonValue>(count)
  switch (tensor.dtype) {
    case 'float32':
    case 'float64': {
      const data = tensor.data
      for (let i = 0; i < count; i++) {
        const value = data[i]
        out[i] = value - value === 0 ? value : jsonFloat(value)
      }
      return out
    }
    case 'float16': {
      const data = tensor.data
      for (let i = 0; i < count; i++) out[i] = jsonFloat(halfToFloat(data[i]))
      return out
    }
    case 'int64':
    case 'uint64': {
      const data = tensor.data
      for (let i = 0; i < count; i++) {
        const value = data[i]
        out[i] = value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value.toString()
      }
      return out
    }
    case 'bool': {
      const data = tensor.data
      for (let i = 0; i < count; i++) out[i] = data[i] !== 0
      return out
    }
    case 'string':
      return [...tensor.data]
    default: {
      const data = tensor.data
      for (let i = 0; i < count; i++) out[i] = data[i]
      return out
    }
  }
}

export type NestedValues = JsonValue | NestedValues[]

/** Reshapes flat values into nested arrays of `shape` (a scalar gives the bare value). */
export function nestValues (values: JsonValue[], shape: readonly number[]): NestedValues {
  if (shape.length === 0) return values[0]
  let position = 0
  const build = (depth: number): NestedValues[] => {
    const out = new Array<NestedValues>(shape[depth])
    for (let i = 0; i < shape[depth]; i++) {
      out[i] = depth === shape.length - 1 ? values[position++] : build(depth + 1)
    }
    return out
  }
  return build(0)
}
