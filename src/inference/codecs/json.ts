/**
 * Tensors as a JSON object keyed by input name (input files of `myc infer`, and its `--json`
 * output). Each value is either
 *
 *   { "dims": [2, 3], "data": [1, 2, 3, 4, 5, 6] }     data flat (row-major) or nested as dims
 *   [[1, 2, 3], [4, 5, 6]]                              nested arrays: the shape is inferred
 *   7                                                   a scalar
 *
 * The dtype is the model's (from its metadata), so files need not repeat it; `"dtype"` may be given
 * to override it (a mismatch is then reported by validateInputs), and `"shape"` is accepted as an
 * alias of `"dims"`. Element values follow tensor.ts: numbers, "NaN"/"Infinity"/"-Infinity",
 * decimal strings for int64 beyond 2^53, true/false for bool.
 *
 * Outputs are written in the first form, with their dtype: { "logits": { "dtype", "dims", "data" } }.
 */
import { InvalidInputError } from '../../errors.ts'
import { UnsupportedModelError } from '../errors.ts'
import { dataToValues, isDType, nestValues, readJsonData, type DType, type NestedValues, type Tensor, type TensorSpec } from '../tensor.ts'
import { describeInputs } from '../validateInputs.ts'

export interface JsonTensor {
  dtype?: string
  dims: number[]
  data: NestedValues[]
}

export type JsonTensors = Record<string, JsonTensor | NestedValues>

/** What decoding needs to know of each model input: its name and dtype (the shape only improves messages). */
export type JsonInputSpec = Pick<TensorSpec, 'name' | 'dtype'> & { shape?: TensorSpec['shape'] }

const FORMS = '{"name": {"dims": [...], "data": [...]}} or {"name": nested arrays}'

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Parses the text of a JSON input file, then decodes it. */
export function decodeJsonText (text: string, inputs: readonly JsonInputSpec[]): Tensor[] {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (err: any) {
    throw new InvalidInputError('the input is not valid JSON', { details: err.message, hint: `Write the inputs as ${FORMS}.` })
  }
  return decodeJsonTensors(body, inputs)
}

/** Decodes `{ name: tensor }` with dtypes from the model's inputs (`inputs` of OnnxMetadata, or of an OIP metadata response). */
export function decodeJsonTensors (body: unknown, inputs: readonly JsonInputSpec[]): Tensor[] {
  if (!isPlainObject(body)) throw new InvalidInputError(`JSON inputs must be an object: ${FORMS}`)
  const specs = new Map(inputs.map((input) => [input.name, input]))
  const tensors: Tensor[] = []
  for (const [name, value] of Object.entries(body)) {
    const spec = specs.get(name)
    if (spec === undefined) {
      throw new InvalidInputError(`unknown input "${name}": the model's inputs are ${describeInputs(inputs)}`)
    }
    const where = `input "${name}"`
    if (isPlainObject(value)) {
      if (!('data' in value)) throw new InvalidInputError(`${where}: expected {"dims": [...], "data": [...]} or nested arrays`)
      const dims = value.dims ?? value.shape
      if (dims !== undefined && (!Array.isArray(dims) || !dims.every((dim) => Number.isSafeInteger(dim) && dim >= 0))) {
        throw new InvalidInputError(`${where}: "dims" must be an array of non-negative integers`)
      }
      const dtype = resolveDtype(name, value.dtype ?? spec.dtype, value.dtype !== undefined)
      const { shape, data } = readJsonData(dtype, value.data, { tensor: where, path: 'data' }, dims as number[] | undefined)
      tensors.push({ name, dtype, shape, data } as Tensor)
    } else {
      const dtype = resolveDtype(name, spec.dtype, false)
      const { shape, data } = readJsonData(dtype, value, { tensor: where, path: name })
      tensors.push({ name, dtype, shape, data } as Tensor)
    }
  }
  return tensors
}

function resolveDtype (name: string, dtype: unknown, given: boolean): DType {
  if (isDType(dtype)) return dtype
  if (given) throw new InvalidInputError(`input "${name}": unknown dtype ${JSON.stringify(dtype)}`)
  if (dtype === '?') throw new InvalidInputError(`input "${name}": the model does not record its dtype; give it as {"dtype": ..., "dims": [...], "data": [...]}`)
  throw new UnsupportedModelError(`input "${name}" of the model is ${String(dtype)}, which inference cannot feed`)
}

export interface EncodeJsonOptions {
  /** Nest `data` as the shape instead of flat row-major. Default false. */
  nested?: boolean
}

export function encodeJsonTensors (tensors: readonly Tensor[], options: EncodeJsonOptions = {}): Record<string, JsonTensor> {
  const out: Record<string, JsonTensor> = {}
  for (const tensor of tensors) {
    const values = dataToValues(tensor)
    out[tensor.name] = {
      dtype: tensor.dtype,
      dims: [...tensor.shape],
      data: options.nested === true && tensor.shape.length > 1 ? nestValues(values, tensor.shape) as NestedValues[] : values
    }
  }
  return out
}
