/**
 * Errors of inference. Status codes, chosen for the HTTP API (and mirrored by the OIP error body):
 *   400 INVALID_INPUT        a tensor the model cannot take (name, dtype, shape, data)
 *   413 INPUT_TOO_LARGE      inputs over MAX_INPUT_BYTES
 *   400 NOT_ONNX_MODEL       the version has no runnable .onnx file (or the file choice is ambiguous/unknown).
 *                            400 rather than 422 because OIP says a failed request is "typically 400" and
 *                            its clients treat any 4xx as "fix the request"; the code tells them apart.
 *   422 MODEL_LOAD_FAILED    onnxruntime cannot load the file (unsupported opset/operator, corrupt graph)
 *   422 UNSUPPORTED_MODEL    an input onnxruntime-node cannot be fed from JavaScript (sequence, map, bfloat16…)
 *   422 INFERENCE_FAILED     the inputs passed validation but onnxruntime rejected them while running
 *                            (e.g. a Reshape that does not fit this batch): well-formed but unprocessable
 *   503 SESSIONS_STOPPED     the session cache is stopped (node shutting down)
 */
import { BaseError, InvalidInputError, type BaseErrorParameters } from '../errors.ts'

export class InputTooLargeError extends InvalidInputError {
  override name = 'InputTooLargeError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'INPUT_TOO_LARGE', status: 413, ...parameters })
  }
}

export class NotOnnxModelError extends InvalidInputError {
  override name = 'NotOnnxModelError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'NOT_ONNX_MODEL', status: 400, ...parameters })
  }
}

export class ModelLoadError extends BaseError {
  override name = 'ModelLoadError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'MODEL_LOAD_FAILED', status: 422, ...parameters })
  }
}

export class InferenceFailedError extends BaseError {
  override name = 'InferenceFailedError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'INFERENCE_FAILED', status: 422, ...parameters })
  }
}

export class SessionsStoppedError extends BaseError {
  override name = 'SessionsStoppedError'
  constructor () {
    super('Inference is not available: the session cache is stopped.', { code: 'SESSIONS_STOPPED', status: 503, hint: 'The node is shutting down or has not started; retry once it runs.' })
  }
}

/** A model onnxruntime loads but Mycelium cannot feed, e.g. a sequence or bfloat16 input. */
export class UnsupportedModelError extends BaseError {
  override name = 'UnsupportedModelError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'UNSUPPORTED_MODEL', status: 422, ...parameters })
  }
}
