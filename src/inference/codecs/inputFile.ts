/**
 * Input files of `myc infer --input [NAME=]FILE`: a `.npy` file (recognized by its magic bytes,
 * whatever its extension) or JSON (see json.ts).
 *
 *   --input x.json           {"name": tensor, ...}: every input the file names
 *   --input x.npy            the only input of a single-input model
 *   --input NAME=x.npy       the input NAME
 *   --input NAME=x.json      the file is NAME's tensor alone: {"dims", "data"} or nested arrays
 *
 * `.npz` archives are refused with a hint (see npy.ts for why).
 */
import { InvalidInputError } from '../../errors.ts'
import { decodeJsonTensors, type JsonInputSpec } from './json.ts'
import { decodeNpy, isNpy, npyInputName } from './npy.ts'
import type { Tensor } from '../tensor.ts'

export interface DecodeInputFileOptions {
  /** For messages, and to recognize .npz. */
  fileName: string
  /** The model's inputs (manifest metadata, or an OIP metadata response decoded). */
  inputs: readonly JsonInputSpec[]
  /** NAME of `--input NAME=FILE`. */
  inputName?: string
}

export function decodeInputFile (bytes: Uint8Array, options: DecodeInputFileOptions): Tensor[] {
  const { fileName, inputs, inputName } = options
  if (isNpy(bytes)) return [decodeNpy(bytes, inputName ?? npyInputName(inputs, fileName))]
  if (fileName.toLowerCase().endsWith('.npz') || (bytes[0] === 0x50 && bytes[1] === 0x4b)) {
    throw new InvalidInputError(`${fileName}: .npz archives are not supported`, {
      hint: 'Save each input with numpy.save and pass it as --input NAME=FILE.npy.'
    })
  }
  let body: unknown
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err: any) {
    throw new InvalidInputError(`${fileName} is neither a .npy file nor valid JSON`, {
      details: err.message,
      hint: 'Inputs are .npy files (numpy.save) or JSON: {"name": {"dims": [...], "data": [...]}} or {"name": nested arrays}.'
    })
  }
  return decodeJsonTensors(inputName !== undefined ? { [inputName]: body } : body, inputs)
}
