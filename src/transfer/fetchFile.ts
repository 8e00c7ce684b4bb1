import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import * as raw from 'multiformats/codecs/raw'
import { InvalidInputError } from '../errors.ts'
import { DISCOVERY_PATIENCE_MS } from '../net/constants.ts'
import { BlockFetcher } from './blockFetcher.ts'
import { fetchFileLevels, type FetchVersionComponents } from './fetchVersion.ts'
import type { DiscoveryRound } from './findProviders.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface FetchFileParameters extends AbortOptions {
  /** Root of a UnixFS file DAG (dag-pb), or a raw block for a one-chunk file. */
  root: CID
  findProviders: DiscoveryRound
  /** How long the transfer may go without any progress before it fails. */
  timeoutMs: number
  /** Refuse files larger than this, before fetching their data (the root block declares the size). */
  maxBytes: number
}

export class FileTooLargeError extends InvalidInputError {
  override name = 'FileTooLargeError'
  constructor (cid: CID, size: number, maxBytes: number) {
    super(`The file ${cid.toString()} declares ${size} bytes, more than the ${maxBytes} allowed here.`, {
      code: 'FILE_TOO_LARGE',
      status: 413,
      hint: 'Nothing beyond its root block was fetched.'
    })
  }
}

/**
 * Fetches one content-addressed file (not a model version: e.g. a federated update) from all its
 * providers in parallel, every block verified before it is stored. Blocks already stored are not
 * fetched again. Resolves with the file's size.
 */
export async function fetchFile (components: FetchVersionComponents, { root, findProviders, timeoutMs, maxBytes, signal }: FetchFileParameters): Promise<number> {
  const controller = new AbortController()
  const linked = signal != null ? AbortSignal.any([signal, controller.signal]) : controller.signal
  const fetcher = new BlockFetcher(components, { signal: linked })
  fetcher.discover(findProviders, Math.min(timeoutMs, DISCOVERY_PATIENCE_MS))
  try {
    await fetcher.fetch([{ cid: root }], timeoutMs)
    const bytes = await components.store.getVerified(root)
    if (root.code === raw.code) {
      if (bytes.byteLength > maxBytes) throw new FileTooLargeError(root, bytes.byteLength, maxBytes)
      return bytes.byteLength
    }
    if (root.code !== dagPb.code) throw new InvalidInputError(`${root.toString()} is not a file (codec 0x${root.code.toString(16)}).`, { code: 'NOT_A_FILE', hint: 'Expected a UnixFS file (dag-pb) or a raw block.' })
    const node = dagPb.decode(bytes)
    const unixfs = node.Data != null ? UnixFS.unmarshal(node.Data) : undefined
    if (unixfs == null || (unixfs.type !== 'file' && unixfs.type !== 'raw')) {
      throw new InvalidInputError(`${root.toString()} is not a UnixFS file.`, { code: 'NOT_A_FILE', hint: 'Expected a UnixFS file (dag-pb) or a raw block.' })
    }
    const size = Number(unixfs.fileSize())
    if (size > maxBytes) throw new FileTooLargeError(root, size, maxBytes)
    await fetchFileLevels(components, fetcher, [{ cid: root }], timeoutMs)
    return size
  } finally {
    fetcher.finished = true
    controller.abort()
  }
}
