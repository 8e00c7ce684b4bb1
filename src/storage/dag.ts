import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { BlockCorruptError, blockMatches, BlockNotFoundError, type BlockStore } from './blockstore.ts'
import type { ByteSource } from '../utils/byteSource.ts'
import type { AbortOptions } from '@libp2p/interface'

/** Every CID a decoded IPLD value links to (DAG-CBOR manifests, DAG-PB nodes). */
export function linksOf (cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code === dagPb.code) return dagPb.decode(bytes).Links.map(link => link.Hash)
  if (cid.code === dagCbor.code) {
    const links: CID[] = []
    const visit = (value: unknown): void => {
      const asCid = CID.asCID(value)
      if (asCid != null) links.push(asCid)
      else if (Array.isArray(value)) value.forEach(visit)
      else if (value != null && typeof value === 'object' && !(value instanceof Uint8Array)) Object.values(value).forEach(visit)
    }
    visit(dagCbor.decode(bytes))
    return links
  }
  return []
}

/**
 * Walks a DAG depth-first in link order — the order of a file's bytes and of a CAR stream.
 * Raw leaves are yielded without reading them unless `withRawLeaves` is set.
 */
export async function * walkDag (store: BlockStore, root: CID, options: AbortOptions & { withRawLeaves?: boolean } = {}): AsyncGenerator<{ cid: CID, bytes?: Uint8Array }> {
  const stack: CID[] = [root]
  while (stack.length > 0) {
    options.signal?.throwIfAborted()
    const cid = stack.pop()!
    if (cid.code === raw.code && options.withRawLeaves !== true) {
      yield { cid }
      continue
    }
    const bytes = await store.getVerified(cid, options)
    yield { cid, bytes }
    const links = linksOf(cid, bytes)
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i])
  }
}

export type ChunkStatus = 'ok' | 'corrupt' | 'missing'

export interface ChunkReport {
  index: number
  cid: string
  offset: number
  size: number
  status: ChunkStatus
}

/**
 * Re-hashes every block of one UnixFS file and reports each data chunk (by index and byte offset)
 * instead of stopping at the first bad one.
 */
export async function * verifyFileDag (store: BlockStore, root: CID, options: AbortOptions = {}): AsyncGenerator<ChunkReport> {
  let index = 0
  let offset = 0
  async function * visit (cid: CID, expectedSize: number | undefined): AsyncGenerator<ChunkReport> {
    options.signal?.throwIfAborted()
    let bytes: Uint8Array
    try {
      bytes = await store.getUnverified(cid, options)
    } catch (err) {
      if (!(err instanceof BlockNotFoundError)) throw err
      const size = expectedSize ?? 0
      yield { index: index++, cid: cid.toString(), offset, size, status: 'missing' }
      offset += size
      return
    }
    const ok = blockMatches(cid, bytes)
    if (cid.code === raw.code || !ok) {
      const size = cid.code === raw.code ? bytes.byteLength : expectedSize ?? 0
      yield { index: index++, cid: cid.toString(), offset, size, status: ok ? 'ok' : 'corrupt' }
      offset += size
      return
    }
    const node = dagPb.decode(bytes)
    const unixfs = node.Data != null ? UnixFS.unmarshal(node.Data) : undefined
    if (node.Links.length === 0) {
      const size = unixfs?.data?.byteLength ?? 0
      yield { index: index++, cid: cid.toString(), offset, size, status: 'ok' }
      offset += size
      return
    }
    for (let i = 0; i < node.Links.length; i++) {
      yield * visit(node.Links[i].Hash, unixfs?.blockSizes[i] != null ? Number(unixfs.blockSizes[i]) : undefined)
    }
  }
  yield * visit(root, undefined)
}

/** Random access to a stored UnixFS file, for format readers that seek (ONNX, GGUF headers). */
export async function dagByteSource (store: BlockStore, root: CID, size: number): Promise<ByteSource> {
  const entry = await exporter(root, store)
  if (entry.type !== 'file' && entry.type !== 'raw') throw new BlockCorruptError(root)
  return {
    size,
    async read (offset, length, options) {
      const end = Math.min(size, offset + length)
      if (offset >= end) return new Uint8Array(0)
      const chunks: Uint8Array[] = []
      for await (const chunk of entry.content({ offset, length: end - offset, signal: options?.signal })) chunks.push(chunk)
      return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
    }
  }
}
