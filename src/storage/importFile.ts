import { createHash, webcrypto } from 'node:crypto'
import { importByteStream } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import type { BlockStore } from './blockstore.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { BufferImporter } from 'ipfs-unixfs-importer'

const SHA2_256 = 0x12

export interface ImportFileParameters extends AbortOptions {
  source: AsyncIterable<Uint8Array>
  onBytes?: (bytesSoFar: number) => void
}

export interface ImportFileReturnType {
  cid: CID
  size: number
  sha256: string
}

/**
 * Chunk CIDs are hashed with WebCrypto, which runs on libuv's thread pool, so it overlaps with the
 * whole-file SHA-256 computed on the main thread — two hashes of every byte at the cost of about one.
 */
const rawLeafImporter: BufferImporter = async function * (file, blockstore) {
  for await (const block of file.content) {
    yield async () => {
      const digest = new Uint8Array(await webcrypto.subtle.digest('SHA-256', block))
      const cid = CID.createV1(raw.code, Digest.create(SHA2_256, digest))
      await blockstore.put(cid, block)
      return { cid, size: BigInt(block.byteLength), block }
    }
  }
}

/** Streams bytes into a UnixFS DAG (CIDv1, raw leaves, 1 MiB chunks) while hashing the whole file. */
export async function importFile (store: BlockStore, { source, onBytes, signal }: ImportFileParameters): Promise<ImportFileReturnType> {
  const hash = createHash('sha256')
  let size = 0
  async function * hashed (): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      signal?.throwIfAborted()
      hash.update(chunk)
      size += chunk.byteLength
      onBytes?.(size)
      yield chunk
    }
  }
  const result = await importByteStream(hashed(), store, {
    cidVersion: 1,
    rawLeaves: true,
    bufferImporter: rawLeafImporter,
    blockWriteConcurrency: 16,
    reduceSingleLeafToSelf: true,
    profile: 'unixfs-v1-2025'
  })
  return { cid: result.cid, size, sha256: hash.digest('hex') }
}
