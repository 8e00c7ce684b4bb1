/**
 * Checks a set of tensors against a model's input metadata (OnnxMetadata.inputs, as stored in the
 * manifest) before they reach onnxruntime, so a caller learns what the model expects instead of
 * getting an onnxruntime message. Every error names the input and the model's signature for it:
 *
 *   input "input": expected float32[batch, 8], got float32[2, 7]
 *
 * Metadata conventions (src/manifest/formats/onnx.ts): a string dim is symbolic and must have the
 * same size wherever it appears, across inputs too; '?' is unknown and takes any size; dtype '?'
 * (not recorded) takes any dtype. A shape of [] is taken as "not recorded" rather than "scalar",
 * because the metadata reader cannot tell the two apart; onnxruntime still checks those inputs.
 */
import { InvalidInputError } from '../errors.ts'
import { MAX_INPUT_BYTES, MAX_TENSOR_RANK } from './constants.ts'
import { InputTooLargeError, UnsupportedModelError } from './errors.ts'
import { elementCount, formatShape, formatSignature, isDType, isTensorData, tensorByteLength, TYPED_ARRAYS, type Tensor, type TensorSpec } from './tensor.ts'

export interface ValidateInputsOptions {
  /** Default MAX_INPUT_BYTES. */
  maxBytes?: number
}

export interface ValidatedInputs {
  /** The size each symbolic dim took, e.g. { batch: 64 }. */
  dims: Record<string, number>
  /** Total bytes of the inputs' data. */
  bytes: number
}

/** `a: float32[batch, 3], b: float32[batch, 3]` */
export function describeInputs (inputs: ReadonlyArray<Pick<TensorSpec, 'name' | 'dtype'> & { shape?: TensorSpec['shape'] }>): string {
  return inputs.map((input) => `${input.name}: ${input.shape !== undefined ? formatSignature(input.dtype, input.shape) : input.dtype}`).join(', ')
}

function formatBytes (bytes: number): string {
  const MiB = 1024 * 1024
  return bytes >= MiB && bytes % MiB === 0 ? `${bytes} bytes (${bytes / MiB} MiB)` : `${bytes} bytes`
}

/** Throws InvalidInputError (400), InputTooLargeError (413) or UnsupportedModelError (422) for the first problem found. */
export function validateInputs (tensors: readonly Tensor[], inputs: readonly TensorSpec[], options: ValidateInputsOptions = {}): ValidatedInputs {
  const maxBytes = options.maxBytes ?? MAX_INPUT_BYTES
  const expected = new Map(inputs.map((input) => [input.name, input]))

  const given = new Set<string>()
  for (const tensor of tensors) {
    if (!expected.has(tensor.name)) {
      throw new InvalidInputError(`unknown input "${tensor.name}": the model's inputs are ${describeInputs(inputs)}`)
    }
    if (given.has(tensor.name)) throw new InvalidInputError(`input "${tensor.name}" is given twice`)
    given.add(tensor.name)
  }
  for (const input of inputs) {
    if (!given.has(input.name)) throw new InvalidInputError(`missing input "${input.name}": expected ${formatSignature(input.dtype, input.shape)}`)
  }

  let bytes = 0
  for (const tensor of tensors) {
    if (!isDType(tensor.dtype)) throw new InvalidInputError(`input "${tensor.name}": unknown dtype ${String(tensor.dtype)}`)
    if (!isTensorData(tensor.dtype, tensor.data)) {
      throw new InvalidInputError(`input "${tensor.name}": ${tensor.dtype} data must be ${tensor.dtype === 'string' ? 'an array of strings' : `a ${tensorDataName(tensor.dtype)}`}, got ${describeData(tensor.data)}`)
    }
    bytes += tensorByteLength(tensor)
  }
  if (bytes > maxBytes) {
    throw new InputTooLargeError(`inputs are too large: ${bytes} bytes, over the limit of ${formatBytes(maxBytes)}`, {
      hint: 'Split the batch into smaller requests.'
    })
  }

  const dims: Record<string, number> = {}
  const boundBy: Record<string, string> = {}
  for (const tensor of tensors) {
    const input = expected.get(tensor.name)!
    const signature = formatSignature(input.dtype, input.shape)
    const got = formatSignature(tensor.dtype, tensor.shape)
    const mismatch = (extra = ''): InvalidInputError => new InvalidInputError(`input "${tensor.name}": expected ${signature}${extra}, got ${got}`)

    if (input.dtype !== '?' && !isDType(input.dtype)) {
      throw new UnsupportedModelError(`input "${tensor.name}" of the model is ${signature}, which inference cannot feed`, {
        hint: 'Only tensor inputs of float16/32/64, (u)int8/16/32/64, bool and string are supported by onnxruntime-node.'
      })
    }
    if (!Array.isArray(tensor.shape) || !tensor.shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) {
      throw new InvalidInputError(`input "${tensor.name}": invalid shape ${Array.isArray(tensor.shape) ? formatShape(tensor.shape) : String(tensor.shape)}: dims must be non-negative integers`)
    }
    if (tensor.shape.length > MAX_TENSOR_RANK) throw new InvalidInputError(`input "${tensor.name}": rank ${tensor.shape.length} is over the limit of ${MAX_TENSOR_RANK}`)
    if (input.dtype !== '?' && tensor.dtype !== input.dtype) throw mismatch()

    if (input.shape.length > 0) {
      if (tensor.shape.length !== input.shape.length) throw mismatch()
      for (let axis = 0; axis < input.shape.length; axis++) {
        const want = input.shape[axis]
        const size = tensor.shape[axis]
        if (typeof want === 'number') {
          if (want >= 0 && size !== want) throw mismatch()
        } else if (want !== '?') {
          const bound = dims[want]
          if (bound === undefined) {
            dims[want] = size
            boundBy[want] = `dim ${axis} of input "${tensor.name}"`
          } else if (bound !== size) {
            throw mismatch(` with ${want} = ${bound} (from ${boundBy[want]})`)
          }
        }
      }
    }

    const count = elementCount(tensor.shape)
    if (tensor.data.length !== count) {
      throw new InvalidInputError(`input "${tensor.name}": shape ${formatShape(tensor.shape)} needs ${count} elements, got ${tensor.data.length}`)
    }
  }
  return { dims, bytes }
}

function tensorDataName (dtype: Exclude<Tensor['dtype'], 'string'>): string {
  const name = TYPED_ARRAYS[dtype].name
  return dtype === 'float16' ? `${name} of IEEE half bits` : dtype === 'bool' ? `${name} of 0/1` : name
}

function describeData (data: unknown): string {
  if (data == null) return String(data)
  if (Array.isArray(data)) return 'an array'
  return (data as object).constructor?.name ?? typeof data
}
