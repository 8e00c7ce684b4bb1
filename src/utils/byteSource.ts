import fs from 'node:fs/promises'
import type { AbortOptions } from '@libp2p/interface'

/** Random access to bytes that may live in a file or in a content-addressed DAG. */
export interface ByteSource {
  size: number
  read: (offset: number, length: number, options?: AbortOptions) => Promise<Uint8Array>
  close?: () => Promise<void>
}

export async function fileByteSource (path: string): Promise<ByteSource> {
  const handle = await fs.open(path, 'r')
  try {
    const { size } = await handle.stat()
    return {
      size,
      async read (offset, length) {
        const buffer = new Uint8Array(Math.max(0, Math.min(length, size - offset)))
        let filled = 0
        while (filled < buffer.length) {
          const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, offset + filled)
          if (bytesRead === 0) break
          filled += bytesRead
        }
        return buffer.subarray(0, filled)
      },
      async close () { await handle.close() }
    }
  } catch (err) {
    await handle.close()
    throw err
  }
}
