import fs from 'node:fs/promises'
import path from 'node:path'
import { InvalidInputError } from '../errors.ts'
import { decodeInputFile } from '../inference/codecs/inputFile.ts'
import { binaryRequestBody, decodeOipResponse, encodeOipRequest } from '../inference/codecs/oip.ts'
import { selectOnnxFile } from '../inference/runInference.ts'
import { showOrPull } from './downloadModel.ts'
import type { MyceliumClient } from './createClient.ts'
import type { Tensor } from '../inference/tensor.ts'

export interface InferModelParameters {
  ref: string
  /** `FILE` or `NAME=FILE` (JSON or .npy). */
  inputs: string[]
  /** Which .onnx file of the version, when it has several. */
  file?: string
  signal?: AbortSignal
  /** Run on a provider on the network instead of this node. */
  remote?: boolean
  peer?: string
}

export interface InferModelReturnType {
  model: { cid: string, name: string, version: string }
  outputs: Tensor[]
  /** The PeerId that ran a remote call. */
  provider?: string
  /** The hash of the receipt both sides signed for a remote call. */
  receipt?: string
}

/** Reads input files, runs the model on the node through its OIP endpoint, decodes the outputs. */
export async function inferModel (client: MyceliumClient, { ref, inputs, file, signal, remote, peer }: InferModelParameters): Promise<InferModelReturnType> {
  if (inputs.length === 0) throw new InvalidInputError('No input given.', { hint: 'Pass --input FILE (JSON or .npy), or --input NAME=FILE per input.' })
  // A remote call needs the manifest (for the input metadata), never the weights.
  const detail = remote === true || peer != null ? await client.manifest(ref) : await showOrPull(client, ref)
  const model = { cid: detail.cid, name: detail.manifest.name, version: detail.manifest.version }
  const onnx = selectOnnxFile({ ...model, files: detail.manifest.files as any }, file)
  const tensors: Tensor[] = []
  for (const input of inputs) {
    const match = /^([^=/\\]+)=(.+)$/.exec(input)
    const [inputName, filePath] = match != null ? [match[1], match[2]] : [undefined, input]
    let bytes: Uint8Array
    try {
      bytes = await fs.readFile(filePath)
    } catch (err: any) {
      throw new InvalidInputError(`${filePath}: cannot read the input file (${err.code ?? err.message}).`)
    }
    tensors.push(...decodeInputFile(bytes, { fileName: path.basename(filePath), inputs: onnx.format.inputs, ...(inputName != null ? { inputName } : {}) }))
  }
  // Binary tensor data avoids printing and parsing every float as decimal text.
  const encoded = encodeOipRequest(tensors, { binary: true, ...(file != null ? { parameters: { file } } : {}) })
  const response = await client.infer(detail.cid, undefined, binaryRequestBody(encoded), { signal, remote, peer })
  return { model, outputs: decodeOipResponse(response.json, response.binary).outputs, ...(response.provider != null ? { provider: response.provider } : {}), ...(response.receipt != null ? { receipt: response.receipt } : {}) }
}
