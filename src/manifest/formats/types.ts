/**
 * Metadata read from a model file's own bytes. Every value is plain JSON-ish data (no undefined,
 * no bigint, no NaN) because it is stored in a DAG-CBOR manifest.
 */

/** One tensor's name, element type and shape; a string dim is symbolic (e.g. 'batch'), '?' is unknown. */
export interface TensorInfo { name: string, dtype: string, shape: Array<number | string> }

export interface OnnxMetadata {
  format: 'onnx'
  irVersion: number
  producerName: string
  producerVersion: string
  opset: Array<{ domain: string, version: number }>
  inputs: TensorInfo[]
  outputs: TensorInfo[]
  /** Sum over graph initializers of the product of their dims. */
  parameterCount: number
  graphName: string
  /** True when some initializer keeps its bytes in a separate file (the model is not self-contained). */
  usesExternalData: boolean
}

export interface SafetensorsMetadata {
  format: 'safetensors'
  tensors: TensorInfo[]
  parameterCount: number
  metadata: Record<string, string>
}

export interface GgufMetadata {
  format: 'gguf'
  version: number
  tensorCount: number
  parameterCount: number
  metadata: Record<string, GgufValue>
}

/** Long arrays (> 64 items, e.g. a tokenizer vocabulary) are summarized as {type, length}. */
export type GgufValue = string | number | boolean | GgufValue[] | { type: string, length: number }

export type FormatMetadata = OnnxMetadata | SafetensorsMetadata | GgufMetadata

export interface ReadFormatOptions {
  signal?: AbortSignal
}
