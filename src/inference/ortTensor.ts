/**
 * Conversions between the neutral tensor and onnxruntime's, without copying data: an ort.Tensor
 * wraps the neutral tensor's typed array, and an output's typed array becomes the neutral data.
 */
import * as ort from 'onnxruntime-node'
import { UnsupportedModelError } from './errors.ts'
import { isDType, type Tensor, type TypedTensor } from './tensor.ts'

/**
 * float16 inputs: onnxruntime-common turns a Uint16Array into a Float16Array view whenever the
 * runtime has Float16Array (Node ≥ 24), but the native binding of onnxruntime-node 1.30 reads a
 * Float16Array's byte length as 0 and fails with "not enough space: expected N, got 0"
 * (microsoft/onnxruntime#26791, fix pending in #32323). The binding does take the Uint16Array, so
 * it is put back in place of the view. Remove once the binding reads Float16Array.
 */
function float16Tensor (data: Uint16Array, dims: readonly number[]): ort.Tensor {
  const tensor = new ort.Tensor('float16', data, dims)
  if (!(tensor.data instanceof Uint16Array)) {
    const internal = tensor as unknown as { cpuData?: unknown }
    if (!('cpuData' in internal)) throw new Error('onnxruntime-common changed: float16 tensors cannot be fed as Uint16Array')
    internal.cpuData = data
  }
  return tensor
}

export function toOrtTensor (tensor: Tensor): ort.Tensor {
  switch (tensor.dtype) {
    case 'float16': return float16Tensor(tensor.data, tensor.shape)
    case 'string': return new ort.Tensor('string', tensor.data, tensor.shape)
    case 'bool': return new ort.Tensor('bool', tensor.data, tensor.shape)
    case 'int64': return new ort.Tensor('int64', tensor.data, tensor.shape)
    case 'uint64': return new ort.Tensor('uint64', tensor.data, tensor.shape)
    default: return new ort.Tensor(tensor.dtype, tensor.data as any, tensor.shape)
  }
}

/** An output of `session.run` as a neutral tensor; float16 comes back as Uint16 bits (a view, not a copy). */
export function fromOrtTensor (name: string, value: ort.OnnxValue): Tensor {
  const type = value.type
  if (!isDType(type)) throw new UnsupportedModelError(`output "${name}" of the model is ${type ?? 'not a tensor'}, which inference cannot return`)
  let data: unknown = value.data
  if (type === 'float16' && !(data instanceof Uint16Array)) {
    const view = data as ArrayBufferView & { length: number }
    data = new Uint16Array(view.buffer, view.byteOffset, view.length)
  }
  return { name, dtype: type, shape: [...value.dims], data } as TypedTensor<typeof type> as Tensor
}
