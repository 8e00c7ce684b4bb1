import { exporter } from 'ipfs-unixfs-exporter'
import { InvalidInputError, NotFoundError } from '../errors.ts'
import { resolveRef } from './resolveRef.ts'
import type { RegistryComponents } from './components.ts'
import type { ManifestFile } from '../manifest/manifest.ts'
import type { AbortOptions } from '@libp2p/interface'

export interface ReadModelFileParameters extends AbortOptions {
  ref: string
  path: string
  /** Inclusive start and exclusive end, like HTTP ranges after parsing. */
  start?: number
  end?: number
}

export interface ReadModelFileReturnType {
  file: ManifestFile
  start: number
  end: number
  /** Every block is verified against its CID as it is read; a corrupt one ends the stream with an error. */
  content: AsyncIterable<Uint8Array>
}

export class RangeNotSatisfiableError extends InvalidInputError {
  override name = 'RangeNotSatisfiableError'
  constructor (size: number) {
    super(`The requested range is outside the file (size ${size}).`, { code: 'RANGE_NOT_SATISFIABLE', status: 416 })
  }
}

export async function readModelFile (components: Pick<RegistryComponents, 'index' | 'store'>, { ref, path, start = 0, end, signal }: ReadModelFileParameters): Promise<ReadModelFileReturnType> {
  const { manifest } = await resolveRef(components, ref, { signal })
  const file = manifest.files.find(candidate => candidate.path === path)
  if (file == null) {
    throw new NotFoundError(`${manifest.name}@${manifest.version} has no file "${path}".`, {
      hint: `Its files are: ${manifest.files.map(f => f.path).join(', ')}.`
    })
  }
  const stop = Math.min(end ?? file.size, file.size)
  if (start < 0 || start >= file.size || stop <= start) throw new RangeNotSatisfiableError(file.size)
  const entry = await exporter(file.cid, components.store, { signal })
  if (entry.type !== 'file' && entry.type !== 'raw') throw new InvalidInputError(`"${path}" is not a file DAG.`)
  return { file, start, end: stop, content: entry.content({ offset: start, length: stop - start, signal }) }
}

/** A whole file of a stored version in one buffer (every block verified as it is read). For files that fit in memory: ONNX graphs, weights, specs. */
export async function readModelFileBytes (components: Pick<RegistryComponents, 'index' | 'store'>, parameters: Pick<ReadModelFileParameters, 'ref' | 'path' | 'signal'>): Promise<Uint8Array> {
  const { file, content } = await readModelFile(components, parameters)
  const bytes = new Uint8Array(file.size)
  let offset = 0
  for await (const chunk of content) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}
