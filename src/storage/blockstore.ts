import { createHash } from 'node:crypto'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast } from 'blockstore-fs/sharding'
import { CID } from 'multiformats/cid'
import { Uint8ArrayList } from 'uint8arraylist'
import { IntegrityError, NotFoundError } from '../errors.ts'
import type { AbortOptions } from '@libp2p/interface'

const SHA2_256 = 0x12
const IDENTITY = 0x00

export class BlockCorruptError extends IntegrityError {
  override name = 'BlockCorruptError'
  readonly cid: CID
  constructor (cid: CID) {
    super(`Block ${cid.toString()} is corrupt: its bytes no longer hash to its CID.`, {
      code: 'BLOCK_CORRUPT',
      hint: 'Run `myc verify REF` to see which files are affected; remove and re-fetch or re-import them.'
    })
    this.cid = cid
  }
}

export class BlockNotFoundError extends NotFoundError {
  override name = 'BlockNotFoundError'
  readonly cid: CID
  constructor (cid: CID) {
    super(`Block ${cid.toString()} is not in the local store.`, { code: 'BLOCK_NOT_FOUND', hint: 'The content is incomplete; re-import or pull it.' })
    this.cid = cid
  }
}

/**
 * A block as it came off the network: one buffer, or the pieces it arrived in (a list), which are
 * hashed and written as they lie rather than joined into one more copy.
 */
export type BlockBytes = Uint8Array | Uint8ArrayList

/** Whether `bytes` hash to `cid`. Only sha2-256 and identity multihashes are accepted. */
export function blockMatches (cid: CID, bytes: BlockBytes): boolean {
  const { code, digest } = cid.multihash
  if (code === IDENTITY) return Buffer.from(digest).equals(bytes instanceof Uint8Array ? bytes : bytes.subarray())
  if (code !== SHA2_256) return false
  const hash = createHash('sha256')
  if (bytes instanceof Uint8Array) hash.update(bytes)
  else for (const piece of bytes) hash.update(piece)
  return hash.digest().equals(digest)
}

/**
 * The node's on-disk block store (Helia's `blockstore-fs`, standard CIDs). Every read is verified
 * against its CID, so tampered bytes never leave the store unnoticed.
 */
export class BlockStore {
  readonly root: string
  private readonly fs: FsBlockstore
  private readonly sharding = new NextToLast()
  private readonly dirs = new Set<string>()
  private tempCounter = 0

  constructor (root: string) {
    this.root = root
    this.fs = new FsBlockstore(root, { shardingStrategy: this.sharding })
  }

  async open (): Promise<void> { await this.fs.open() }
  async close (): Promise<void> { await this.fs.close() }

  /** Written to a temp file then renamed (a crash never leaves half a block); shard folders are made once. */
  async put (cid: CID, bytes: BlockBytes, options?: AbortOptions): Promise<CID> {
    options?.signal?.throwIfAborted()
    const file = this.blockPath(cid)
    const dir = path.dirname(file)
    if (!this.dirs.has(dir)) {
      await fsp.mkdir(dir, { recursive: true })
      this.dirs.add(dir)
    }
    const temp = `${file}.${process.pid}.${(this.tempCounter++).toString(36)}.tmp`
    if (bytes instanceof Uint8Array) await fsp.writeFile(temp, bytes)
    else await writePieces(temp, bytes)
    await fsp.rename(temp, file)
    return cid
  }

  async has (cid: CID, options?: AbortOptions): Promise<boolean> {
    return await this.fs.has(cid, options)
  }

  /** The raw bytes as stored, unverified: for `verify`, which reports rather than throws. */
  async getUnverified (cid: CID, options?: AbortOptions): Promise<Uint8Array> {
    try {
      // One read of the whole block (blocks are at most a few MiB), not a stream of 64 KiB pieces.
      return await fsp.readFile(this.blockPath(cid), { signal: options?.signal })
    } catch (err: any) {
      if (err.code === 'ENOENT') throw new BlockNotFoundError(cid)
      throw err
    }
  }

  async getVerified (cid: CID, options?: AbortOptions): Promise<Uint8Array> {
    const bytes = await this.getUnverified(cid, options)
    if (!blockMatches(cid, bytes)) throw new BlockCorruptError(cid)
    return bytes
  }

  /** Blockstore-interface shape used by the UnixFS exporter and Helia: one verified buffer. */
  async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    yield await this.getVerified(cid, options)
  }

  async delete (cid: CID, options?: AbortOptions): Promise<void> {
    await this.fs.delete(cid, options)
  }

  async * cids (options?: AbortOptions): AsyncGenerator<CID> {
    for await (const pair of this.fs.getAll(options)) yield pair.cid
  }

  /** Where a block lives on disk (tests tamper with it; operators inspect it). */
  blockPath (cid: CID): string {
    const { dir, file } = this.sharding.encode(cid)
    return path.join(this.root, dir, file)
  }

  /** The raw blockstore, for libraries that need the full interface. */
  get backing (): FsBlockstore { return this.fs }
}

/** The pieces of a list in one `writev` (a file write may be short: the rest follows). */
async function writePieces (file: string, bytes: Uint8ArrayList): Promise<void> {
  const handle = await fsp.open(file, 'w')
  try {
    let pieces = [...bytes].filter(piece => piece.byteLength > 0)
    while (pieces.length > 0) {
      const { bytesWritten } = await handle.writev(pieces)
      if (bytesWritten === 0) throw new Error(`cannot write ${file}`)
      pieces = [...new Uint8ArrayList(...pieces).sublist(bytesWritten)]
    }
  } finally {
    await handle.close()
  }
}

export function parseCid (value: string): CID | undefined {
  try {
    return CID.parse(value)
  } catch {
    return undefined
  }
}
