/**
 * Runs a stored model version on tensors: resolve the version, pick its ONNX file, validate the
 * inputs against the manifest's metadata, get the (cached) session, run, return the outputs.
 *
 * Pure of the network and the store: the node supplies `resolveModel` (REF → manifest summary) and
 * `readModelFile` (called only when the session is not cached). The hot path copies no tensor
 * data: the codecs' typed arrays are fed to onnxruntime as they are, and its outputs' typed arrays
 * are returned as they are.
 *
 * onnxruntime-node runs a session synchronously on the JavaScript thread, so a run cannot be
 * interrupted: `signal` is checked before the load and before the run, not during it.
 */
import type * as ort from 'onnxruntime-node'
import { InvalidInputError } from '../errors.ts'
import { logger } from '../utils/logger.ts'
import { InferenceFailedError, NotOnnxModelError, UnsupportedModelError } from './errors.ts'
import { fromOrtTensor, toOrtTensor } from './ortTensor.ts'
import { formatSignature, type Tensor } from './tensor.ts'
import { describeInputs, validateInputs } from './validateInputs.ts'
import type { ModelSource, SessionCache } from './sessionCache.ts'
import type { FormatMetadata, OnnxMetadata } from '../manifest/formats/types.ts'
import type { AbortOptions } from '@libp2p/interface'

const log = logger('inference:run')

/** A file of a version, as in the manifest (ManifestFile with the CID as a string, or without it). */
export interface ModelFileInfo {
  path: string
  size: number
  cid?: string
  format?: FormatMetadata
}

/** What runInference needs of a resolved version. */
export interface ResolvedModel {
  /** The manifest CID: with the file path, the session cache key. */
  cid: string
  name: string
  version: string
  files: readonly ModelFileInfo[]
}

export type OnnxFileInfo = ModelFileInfo & { format: OnnxMetadata }

export interface InferenceComponents {
  sessions: SessionCache
  /** REF (CID, name@version, name) → the locally stored version; throws NotFoundError (404) for an unknown REF. */
  resolveModel: (ref: string, options: AbortOptions) => Promise<ResolvedModel>
  /**
   * The file's bytes, or the path of a file holding them (a path lets onnxruntime find external
   * data files beside it). Called only on a session cache miss.
   */
  readModelFile: (model: ResolvedModel, file: OnnxFileInfo, options: AbortOptions) => Promise<ModelSource>
}

export interface RunInferenceParameters extends AbortOptions {
  ref: string
  inputs: readonly Tensor[]
  /** Output names to compute; all outputs when absent. */
  outputs?: readonly string[]
  /** Which .onnx file of the version to run, when it has several (OIP parameter `file`). */
  file?: string
  /** Default MAX_INPUT_BYTES. */
  maxInputBytes?: number
}

export interface InferenceTiming {
  /** Resolving REF and validating the inputs. */
  prepareMs: number
  /** Getting the session: ~0 when cached, else reading and loading the model. */
  loadMs: number
  /** session.run, including the conversions to and from onnxruntime tensors. */
  runMs: number
  totalMs: number
}

export interface RunInferenceReturnType {
  model: { cid: string, name: string, version: string, file: string }
  outputs: Tensor[]
  /** True when the session was already loaded (or being loaded) by an earlier call. */
  cached: boolean
  timing: InferenceTiming
}

function isOnnxFile (file: ModelFileInfo): boolean {
  return file.format?.format === 'onnx' || file.path.toLowerCase().endsWith('.onnx')
}

/** The ONNX file of a version: the only one, or the one named by `file`. */
export function selectOnnxFile (model: ResolvedModel, file?: string): OnnxFileInfo {
  const label = `${model.name}@${model.version}`
  const candidates = model.files.filter(isOnnxFile)
  let chosen: ModelFileInfo | undefined
  if (file !== undefined) {
    chosen = model.files.find((entry) => entry.path === file)
    if (chosen === undefined) {
      throw new InvalidInputError(`${label} has no file "${file}"`, {
        code: 'UNKNOWN_FILE',
        hint: candidates.length > 0 ? `Its .onnx files are: ${candidates.map((entry) => entry.path).join(', ')}.` : `Its files are: ${model.files.map((entry) => entry.path).join(', ')}.`
      })
    }
    if (!isOnnxFile(chosen)) throw new NotOnnxModelError(`${label}: "${file}" is not an ONNX file; inference needs a .onnx file`)
  } else if (candidates.length === 0) {
    throw new NotOnnxModelError(`${label} is not an ONNX model: files are ${model.files.map((entry) => entry.path).join(', ')}; inference needs a .onnx file`, {
      hint: 'Export the model to ONNX (e.g. torch.onnx.export) and publish the .onnx file.'
    })
  } else if (candidates.length > 1) {
    throw new NotOnnxModelError(`${label} has several .onnx files (${candidates.map((entry) => entry.path).join(', ')}): choose one with the "file" parameter`, {
      code: 'AMBIGUOUS_ONNX_FILE'
    })
  } else {
    chosen = candidates[0]
  }
  if (chosen.format?.format !== 'onnx') {
    throw new NotOnnxModelError(`${label}: "${chosen.path}" has no ONNX metadata in its manifest, so its inputs cannot be checked`, {
      hint: 'Publish it again with a current myc: publish reads the inputs and outputs of every .onnx file.'
    })
  }
  return chosen as OnnxFileInfo
}

/** The session cache key of a version's file. */
export function sessionKey (model: Pick<ResolvedModel, 'cid'>, file: Pick<ModelFileInfo, 'path'>): string {
  return `${model.cid}/${file.path}`
}

export async function runInference (components: InferenceComponents, parameters: RunInferenceParameters): Promise<RunInferenceReturnType> {
  const { ref, inputs, outputs, signal } = parameters
  const started = performance.now()
  signal?.throwIfAborted()

  const model = await components.resolveModel(ref, { signal })
  const file = selectOnnxFile(model, parameters.file)
  const metadata = file.format
  const label = `${model.name}@${model.version}`
  if (outputs !== undefined) {
    const known = new Set(metadata.outputs.map((output) => output.name))
    for (const name of outputs) {
      if (!known.has(name)) throw new InvalidInputError(`unknown output "${name}": the model's outputs are ${describeInputs(metadata.outputs)}`)
    }
  }
  validateInputs(inputs, metadata.inputs, { maxBytes: parameters.maxInputBytes })
  const prepared = performance.now()

  signal?.throwIfAborted()
  const lease = await components.sessions.acquire(sessionKey(model, file), async () => {
    const source = await components.readModelFile(model, file, { signal })
    if (metadata.usesExternalData && typeof source !== 'string') {
      throw new UnsupportedModelError(`${label}: "${file.path}" keeps its weights in external data files, which inference cannot load from bytes`, {
        hint: 'Publish the model with its weights inside the .onnx file (onnx.save_model(..., save_as_external_data=False)).'
      })
    }
    return source
  })
  const loaded = performance.now()

  try {
    signal?.throwIfAborted()
    const feeds: Record<string, ort.Tensor> = {}
    for (const tensor of inputs) feeds[tensor.name] = toOrtTensor(tensor)
    const names = outputs !== undefined ? [...outputs] : lease.session.outputNames
    let results: ort.InferenceSession.ReturnType
    try {
      results = await lease.session.run(feeds, names)
    } catch (err: any) {
      const message = String(err?.message ?? err)
      throw new InferenceFailedError(`onnxruntime could not run ${label} on these inputs: ${message.split('\n')[0].trim()}`, {
        cause: err,
        details: message,
        hint: `The inputs match the model's declared inputs (${describeInputs(metadata.inputs)}), but the graph failed on them; the details say where.`
      })
    }
    const tensors = names.map((name) => fromOrtTensor(name, results[name]))
    const finished = performance.now()
    log('%s %s: prepare %d ms, load %d ms, run %d ms', label, lease.cached ? 'cached' : 'loaded', prepared - started, loaded - prepared, finished - loaded)
    return {
      model: { cid: model.cid, name: model.name, version: model.version, file: file.path },
      outputs: tensors,
      cached: lease.cached,
      timing: { prepareMs: prepared - started, loadMs: loaded - prepared, runMs: finished - loaded, totalMs: finished - started }
    }
  } finally {
    lease.release()
  }
}

/** `input: float32[batch, 8]`, e.g. for the CLI's usage messages. */
export function describeSignature (metadata: Pick<OnnxMetadata, 'inputs' | 'outputs'>): string {
  return `(${metadata.inputs.map((input) => `${input.name}: ${formatSignature(input.dtype, input.shape)}`).join(', ')}) -> (${metadata.outputs.map((output) => `${output.name}: ${formatSignature(output.dtype, output.shape)}`).join(', ')})`
}
