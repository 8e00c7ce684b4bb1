/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0, as numpy.lib.format writes them):
 *
 *   "\x93NUMPY" major minor  header-length (uint16 LE for 1.0, uint32 LE for 2.0/3.0)
 *   header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 *           padded with spaces and ended by '\n' so the data starts at a multiple of 64
 *   data:   the elements in C (row-major) order, in the byte order of `descr`
 *
 * Element types: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, little- or big-endian ('<', '>', '|', '=').
 * Fortran-order arrays, structured, string, object, complex and datetime dtypes are refused with a
 * message saying how to convert. `.npz` archives are not read: they are zip files of several arrays
 * (an input per file is what `--input name=file.npy` gives), and reading them would need a zip and
 * deflate decoder for little benefit.
 *
 * A little-endian array whose data is aligned in the given bytes is returned as a view (no copy);
 * big-endian data is copied and byte-swapped.
 */
import { endianness } from 'node:os'
import { InvalidInputError } from '../../errors.ts'
import { BYTES_PER_ELEMENT, TYPED_ARRAYS, elementCount, type NumericDType, type Tensor } from '../tensor.ts'

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // \x93NUMPY
/** numpy.lib.format.ARRAY_ALIGN */
const ARRAY_ALIGN = 64
const MAX_HEADER_BYTES = 1024 * 1024

const KINDS: Record<string, NumericDType> = {
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  i1: 'int8',
  i2: 'int16',
  i4: 'int32',
  i8: 'int64',
  u1: 'uint8',
  u2: 'uint16',
  u4: 'uint32',
  u8: 'uint64',
  b1: 'bool'
}

const DESCR: Record<NumericDType, string> = Object.fromEntries(Object.entries(KINDS).map(([kind, dtype]) => [dtype, kind])) as Record<NumericDType, string>

const SUPPORTED = 'float16/32/64 (f2 f4 f8), int8/16/32/64 (i1 i2 i4 i8), uint8/16/32/64 (u1 u2 u4 u8) and bool (b1)'

const HOST_LITTLE_ENDIAN = endianness() === 'LE'

export class InvalidNpyError extends InvalidInputError {
  override name = 'InvalidNpyError'
  constructor (shortMessage: string, hint?: string) {
    super(`not a valid .npy file: ${shortMessage}`, { code: 'INVALID_NPY', hint })
  }
}

export function isNpy (bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((byte, i) => bytes[i] === byte)
}

interface NpyHeader {
  dtype: NumericDType
  littleEndian: boolean
  shape: number[]
  dataOffset: number
}

/** Decodes a .npy file as the tensor `name`. */
export function decodeNpy (bytes: Uint8Array, name: string): Tensor {
  const header = readHeader(bytes)
  const { dtype, littleEndian, shape, dataOffset } = header
  const size = BYTES_PER_ELEMENT[dtype]
  const count = elementCount(shape)
  const byteLength = count * size
  const available = bytes.length - dataOffset
  if (available < byteLength) {
    throw new InvalidNpyError(`the header promises ${formatTuple(shape)} × ${size} bytes = ${byteLength} bytes of data, the file has ${available}`, 'The file was probably cut short; write it again with numpy.save.')
  }
  if (available > byteLength) {
    throw new InvalidNpyError(`${available - byteLength} bytes follow the ${byteLength} bytes of data of a ${formatTuple(shape)} array`, 'A .npy input holds exactly one array: save each input in its own file.')
  }
  const Typed = TYPED_ARRAYS[dtype]
  const start = bytes.byteOffset + dataOffset
  let data: any
  if (size === 1 || littleEndian === HOST_LITTLE_ENDIAN) {
    data = start % size === 0
      ? new Typed(bytes.buffer as ArrayBuffer, start, count)
      : new Typed(Uint8Array.prototype.slice.call(bytes, dataOffset, dataOffset + byteLength).buffer, 0, count)
  } else {
    const swapped = new Uint8Array(byteLength)
    for (let i = 0; i < byteLength; i += size) {
      for (let j = 0; j < size; j++) swapped[i + j] = bytes[dataOffset + i + size - 1 - j]
    }
    data = new Typed(swapped.buffer, 0, count)
  }
  return { name, dtype, shape, data } as Tensor
}

function readHeader (bytes: Uint8Array): NpyHeader {
  if (!isNpy(bytes)) throw new InvalidNpyError('it does not start with "\\x93NUMPY"', 'Save arrays with numpy.save(path, array).')
  if (bytes.length < 10) throw new InvalidNpyError('the file ends inside its preamble')
  const major = bytes[6]
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let headerLength: number
  let headerStart: number
  if (major === 1) {
    headerLength = view.getUint16(8, true)
    headerStart = 10
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new InvalidNpyError('the file ends inside its preamble')
    headerLength = view.getUint32(8, true)
    headerStart = 12
  } else {
    throw new InvalidNpyError(`format version ${major}.${bytes[7]} is not supported (1.0, 2.0 and 3.0 are)`)
  }
  if (headerLength > MAX_HEADER_BYTES) throw new InvalidNpyError(`a ${headerLength}-byte header is over the ${MAX_HEADER_BYTES}-byte limit`)
  if (bytes.length < headerStart + headerLength) throw new InvalidNpyError('the file ends inside its header')
  const raw = bytes.subarray(headerStart, headerStart + headerLength)
  // Versions 1.0 and 2.0 write latin-1, 3.0 UTF-8; the keys and values we read are ASCII either way.
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(raw)
  const dict = parseHeaderDict(text)

  const descr = dict.descr
  const fortranOrder = dict.fortran_order
  const shape = dict.shape
  if (Array.isArray(descr)) {
    throw new InvalidInputError('.npy structured arrays (a list of fields in \'descr\') are not supported', {
      code: 'INVALID_NPY',
      hint: `Save one plain array per input, of ${SUPPORTED}.`
    })
  }
  if (typeof descr !== 'string') throw new InvalidNpyError(`'descr' is ${describeLiteral(descr)}, expected a string like '<f4'`)
  if (typeof fortranOrder !== 'boolean') throw new InvalidNpyError("the header has no boolean 'fortran_order'")
  if (!Array.isArray(shape) || !shape.every((dim) => typeof dim === 'number' && Number.isSafeInteger(dim) && dim >= 0)) {
    throw new InvalidNpyError("the header has no 'shape' tuple of non-negative integers")
  }
  if (fortranOrder) {
    throw new InvalidInputError('.npy arrays in Fortran order (fortran_order=True) are not supported: tensors are row-major', {
      code: 'INVALID_NPY',
      hint: 'Save a C-ordered copy: numpy.save(path, numpy.ascontiguousarray(array)).'
    })
  }
  const match = /^([<>|=])([a-z])(\d+)$/.exec(descr)
  const dtype = match !== null ? KINDS[`${match[2]}${match[3]}`] : undefined
  if (match === null || dtype === undefined) {
    throw new InvalidInputError(`.npy element type '${descr}' is not supported; supported: ${SUPPORTED}`, {
      code: 'INVALID_NPY',
      hint: 'Convert it first, e.g. numpy.save(path, array.astype(numpy.float32)).'
    })
  }
  const order = match[1]
  const littleEndian = order === '<' || order === '|' || (order === '=' && HOST_LITTLE_ENDIAN)
  return { dtype, littleEndian, shape: shape as number[], dataOffset: headerStart + headerLength }
}

// --- the header's Python literal ------------------------------------------------------------------

type Literal = string | number | boolean | null | Literal[] | { [key: string]: Literal }

function describeLiteral (value: Literal | undefined): string {
  if (value === undefined) return 'missing'
  return Array.isArray(value) ? 'a list' : JSON.stringify(value)
}

/** Parses the subset of Python literals numpy writes: a dict of str keys, str/bool/None/int values, tuples and lists. */
function parseHeaderDict (text: string): Record<string, Literal> {
  let pos = 0
  const fail = (what: string): never => {
    throw new InvalidNpyError(`cannot parse the header at character ${pos}: ${what}`, `The header was: ${text.trim().slice(0, 200)}`)
  }
  const skip = (): void => { while (pos < text.length && /\s/.test(text[pos])) pos++ }
  const value = (): Literal => {
    skip()
    const char = text[pos]
    if (char === '{') {
      pos++
      const dict: Record<string, Literal> = {}
      for (;;) {
        skip()
        if (text[pos] === '}') { pos++; return dict }
        const key = value()
        if (typeof key !== 'string') fail('a dict key that is not a string')
        skip()
        if (text[pos] !== ':') fail('expected ":"')
        pos++
        dict[key as string] = value()
        skip()
        if (text[pos] === ',') pos++
        else if (text[pos] !== '}') fail('expected "," or "}"')
      }
    }
    if (char === '(' || char === '[') {
      const close = char === '(' ? ')' : ']'
      pos++
      const items: Literal[] = []
      for (;;) {
        skip()
        if (text[pos] === close) { pos++; return items }
        items.push(value())
        skip()
        if (text[pos] === ',') pos++
        else if (text[pos] !== close) fail(`expected "," or "${close}"`)
      }
    }
    if (char === "'" || char === '"') {
      const end = text.indexOf(char, pos + 1)
      if (end < 0) fail('an unterminated string')
      const result = text.slice(pos + 1, end)
      pos = end + 1
      return result
    }
    const word = /^(-?\d+)L?|^True|^False|^None/.exec(text.slice(pos, pos + 32))
    if (word === null) return fail(`unexpected ${JSON.stringify(text.slice(pos, pos + 10))}`)
    pos += word[0].length
    if (word[0] === 'True') return true
    if (word[0] === 'False') return false
    if (word[0] === 'None') return null
    return Number(word[1])
  }
  const result = value()
  skip()
  if (pos !== text.length) fail('text after the dict')
  if (result === null || typeof result !== 'object' || Array.isArray(result)) fail('the header is not a dict')
  return result as Record<string, Literal>
}

function formatTuple (shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`
}

// --- writing ---------------------------------------------------------------------------------------

export interface EncodeNpyOptions {
  /** Default 'little', as numpy writes on every common platform. */
  byteOrder?: 'little' | 'big'
}

/** Encodes a tensor as numpy.save would (version 1.0 unless the header needs 2.0), byte for byte. */
export function encodeNpy (tensor: Tensor, options: EncodeNpyOptions = {}): Uint8Array {
  if (tensor.dtype === 'string') {
    throw new InvalidInputError(`tensor "${tensor.name}" is a string tensor, which .npy output does not support`, { hint: 'Write the outputs as JSON instead.' })
  }
  const size = BYTES_PER_ELEMENT[tensor.dtype]
  const big = options.byteOrder === 'big'
  const order = size === 1 ? '|' : big ? '>' : '<'
  const dict = `{'descr': '${order}${DESCR[tensor.dtype]}', 'fortran_order': False, 'shape': ${formatTuple(tensor.shape)}, }`
  // numpy: pad with spaces so that preamble + header + '\n' is a multiple of 64 (a full 64 when already aligned).
  let preamble = 10
  let padding = ARRAY_ALIGN - ((preamble + dict.length + 1) % ARRAY_ALIGN)
  let major = 1
  if (dict.length + padding + 1 > 0xffff) {
    major = 2
    preamble = 12
    padding = ARRAY_ALIGN - ((preamble + dict.length + 1) % ARRAY_ALIGN)
  }
  const header = `${dict}${' '.repeat(padding)}\n`
  const data = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength)
  const out = new Uint8Array(preamble + header.length + data.length)
  out.set(MAGIC)
  out[6] = major
  out[7] = 0
  const view = new DataView(out.buffer)
  if (major === 1) view.setUint16(8, header.length, true)
  else view.setUint32(8, header.length, true)
  for (let i = 0; i < header.length; i++) out[preamble + i] = header.charCodeAt(i)
  const dataOffset = preamble + header.length
  if (size === 1 || big === !HOST_LITTLE_ENDIAN) {
    out.set(data, dataOffset)
  } else {
    for (let i = 0; i < data.length; i += size) {
      for (let j = 0; j < size; j++) out[dataOffset + i + j] = data[i + size - 1 - j]
    }
  }
  return out
}

/**
 * The input a bare .npy file feeds: the one input of a single-input model. A model with several
 * inputs needs each file named (`--input NAME=FILE.npy`).
 */
export function npyInputName (inputs: ReadonlyArray<{ name: string }>, fileName = 'the .npy file'): string {
  if (inputs.length === 1) return inputs[0].name
  throw new InvalidInputError(`${fileName} does not say which input it is for: the model has ${inputs.length} inputs (${inputs.map((input) => input.name).join(', ')})`, {
    hint: 'Name the input of each file: --input NAME=FILE.npy.'
  })
}
