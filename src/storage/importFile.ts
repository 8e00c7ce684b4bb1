import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import { Worker } from 'node:worker_threads'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidInputError } from '../errors.ts'
import type { BlockStore } from './blockstore.ts'
import type { AbortOptions } from '@libp2p/interface'

const SHA2_256 = 0x12

/** IPIP-499's unixfs-v1-2025 profile: CIDv1, raw leaves, 1 MiB chunks, balanced DAG of 1024 links per node. */
export const UNIXFS_V1_2025 = { chunkBytes: 1024 * 1024, maxChildren: 1024 }
/** Chunks hashed and written concurrently; their buffers are reused, so memory stays flat. */
const BLOCKS_IN_FLIGHT = 8

export interface ImportFileParameters extends AbortOptions {
  /** A byte stream (an upload), or a file on this machine, read straight into whole chunks. */
  source: AsyncIterable<Uint8Array> | { path: string }
  onBytes?: (bytesSoFar: number) => void
  /** Layout parameters; tests shrink them to build deep trees from small inputs. */
  layout?: { chunkBytes: number, maxChildren: number }
}

export interface ImportFileReturnType {
  cid: CID
  size: number
  sha256: string
}

interface DagNode {
  cid: CID
  /** Bytes of file data below this node. */
  fileSize: number
  /** Serialized bytes of this node and everything below it (dag-pb Tsize). */
  tsize: number
}

/**
 * Streams bytes into a UnixFS DAG with the same CIDs as `ipfs add` under the unixfs-v1-2025 profile.
 * Chunks are cut into a small pool of reused buffers, hashed and written while the next ones fill,
 * so memory and page faults do not grow with the file; the whole-file SHA-256 is computed alongside
 * (on a worker thread for local files, so both hashes run on separate cores).
 */
export async function importFile (store: Pick<BlockStore, 'put'>, { source, onBytes, signal, layout = UNIXFS_V1_2025 }: ImportFileParameters): Promise<ImportFileReturnType> {
  const writer = new LeafWriter(store, layout.chunkBytes, signal)
  if ('path' in source) {
    const handle = await fs.open(source.path, 'r')
    try {
      const { size } = await handle.stat()
      const wholeFile = hashFileInWorker(source.path, signal)
      wholeFile.catch(() => {})
      let offset = 0
      while (offset < size) {
        signal?.throwIfAborted()
        const chunk = await writer.buffer()
        const length = Math.min(layout.chunkBytes, size - offset)
        const { bytesRead } = await handle.read(chunk, 0, length, offset)
        if (bytesRead !== length) throw new InvalidInputError(`${source.path} changed while it was being published.`)
        offset += length
        writer.write(chunk, length)
        onBytes?.(offset)
      }
      const leaves = await writer.finish()
      const digest = await wholeFile
      if (digest.size !== size) throw new InvalidInputError(`${source.path} changed while it was being published.`)
      return { cid: await buildFileDag(store, leaves, layout.maxChildren), size, sha256: digest.sha256 }
    } finally {
      await handle.close()
    }
  }

  const hash = createHash('sha256')
  let size = 0
  let chunk = await writer.buffer()
  let filled = 0
  for await (const piece of source) {
    signal?.throwIfAborted()
    hash.update(piece)
    size += piece.byteLength
    let consumed = 0
    while (consumed < piece.byteLength) {
      const take = Math.min(piece.byteLength - consumed, layout.chunkBytes - filled)
      chunk.set(piece.subarray(consumed, consumed + take), filled)
      filled += take
      consumed += take
      if (filled === layout.chunkBytes) {
        writer.write(chunk, filled)
        chunk = await writer.buffer()
        filled = 0
      }
    }
    onBytes?.(size)
  }
  if (filled > 0 || size === 0) writer.write(chunk, filled)
  else writer.release(chunk)
  const leaves = await writer.finish()
  return { cid: await buildFileDag(store, leaves, layout.maxChildren), size, sha256: hash.digest('hex') }
}

/** Hashes and stores raw leaves from a fixed pool of buffers, keeping their order. */
class LeafWriter {
  private readonly store: Pick<BlockStore, 'put'>
  private readonly free: Buffer[] = []
  private readonly waiting: Array<(buffer: Buffer) => void> = []
  private readonly writes: Array<Promise<void>> = []
  private readonly leaves: DagNode[] = []
  private readonly signal: AbortSignal | undefined
  private failure: unknown

  constructor (store: Pick<BlockStore, 'put'>, chunkBytes: number, signal?: AbortSignal) {
    this.store = store
    this.signal = signal
    for (let i = 0; i < BLOCKS_IN_FLIGHT; i++) this.free.push(Buffer.allocUnsafeSlow(chunkBytes))
  }

  async buffer (): Promise<Buffer> {
    if (this.failure != null) throw this.failure
    const free = this.free.pop()
    if (free != null) return free
    return await new Promise(resolve => this.waiting.push(resolve))
  }

  release (buffer: Buffer): void {
    const next = this.waiting.shift()
    if (next != null) next(buffer)
    else this.free.push(buffer)
  }

  write (buffer: Buffer, length: number): void {
    const block = buffer.subarray(0, length)
    const cid = CID.createV1(raw.code, Digest.create(SHA2_256, createHash('sha256').update(block).digest()))
    this.leaves.push({ cid, fileSize: length, tsize: length })
    this.writes.push(this.store.put(cid, block, { signal: this.signal }).then(() => { this.release(buffer) }, err => {
      this.failure ??= err
      this.release(buffer)
    }))
  }

  async finish (): Promise<DagNode[]> {
    await Promise.all(this.writes)
    if (this.failure != null) throw this.failure
    return this.leaves
  }
}

/** The balanced layout of ipfs-unixfs-importer, bit for bit: a lone chunk is its own root. */
async function buildFileDag (store: Pick<BlockStore, 'put'>, leaves: DagNode[], maxChildren: number): Promise<CID> {
  if (leaves.length === 1) return leaves[0].cid
  let level = leaves
  do {
    const parents: DagNode[] = []
    for (let i = 0; i < level.length; i += maxChildren) parents.push(await storeParent(store, level.slice(i, i + maxChildren)))
    level = parents
  } while (level.length > 1)
  return level[0].cid
}

async function storeParent (store: Pick<BlockStore, 'put'>, children: DagNode[]): Promise<DagNode> {
  const unixfs = new UnixFS({ type: 'file' })
  for (const child of children) unixfs.addBlockSize(BigInt(child.fileSize))
  const links = children.filter(child => child.fileSize > 0).map(child => ({ Name: '', Tsize: child.tsize, Hash: child.cid }))
  const block = dagPb.encode(dagPb.prepare({ Data: unixfs.marshal(), Links: links }))
  const cid = CID.createV1(dagPb.code, Digest.create(SHA2_256, createHash('sha256').update(block).digest()))
  await store.put(cid, block)
  return { cid, fileSize: children.reduce((sum, child) => sum + child.fileSize, 0), tsize: block.length + links.reduce((sum, link) => sum + link.Tsize, 0) }
}

const HASH_WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const fs = require('node:fs')
// One reused buffer and synchronous reads: this thread does nothing else.
const hash = createHash('sha256')
const buffer = Buffer.allocUnsafeSlow(4 * 1024 * 1024)
let size = 0
try {
  const fd = fs.openSync(workerData.path, 'r')
  try {
    let read
    while ((read = fs.readSync(fd, buffer, 0, buffer.length, size)) > 0) {
      hash.update(buffer.subarray(0, read))
      size += read
    }
  } finally {
    fs.closeSync(fd)
  }
  parentPort.postMessage({ sha256: hash.digest('hex'), size })
} catch (err) {
  parentPort.postMessage({ error: err.message })
}
`

async function hashFileInWorker (path: string, signal?: AbortSignal): Promise<{ sha256: string, size: number }> {
  const worker = new Worker(HASH_WORKER, { eval: true, workerData: { path } })
  const onAbort = (): void => { void worker.terminate() }
  signal?.addEventListener('abort', onAbort)
  try {
    return await new Promise((resolve, reject) => {
      worker.once('message', (message: { sha256: string, size: number } | { error: string }) => {
        if ('error' in message) reject(new InvalidInputError(`Cannot read ${path}: ${message.error}`))
        else resolve(message)
      })
      worker.once('error', reject)
      worker.once('exit', code => { reject(new Error(`hash worker exited with code ${code}`)) })
    })
  } finally {
    signal?.removeEventListener('abort', onAbort)
    void worker.terminate()
  }
}
