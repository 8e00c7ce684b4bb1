import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import { MiB } from './units.ts'

/** Generating 1 GiB with randomBytes directly is slow; one random block reused is not. */
const BLOCK_BYTES = 16 * MiB
/**
 * Each copy of the block gets its index stamped every 4 KiB. Identical chunks would be stored once
 * (content addressing dedupes them) and flatter the publish figure; 4 KiB is far below any chunk
 * size the store might use, so every chunk of every copy is unique.
 */
const STAMP_STRIDE = 4096

/** Writes `size` bytes of incompressible, non-repeating data to `file` and flushes them to disk. */
export async function writeRandomFile (file: string, size: number): Promise<void> {
  const block = randomBytes(BLOCK_BYTES)
  const handle = await fs.open(file, 'w')
  try {
    for (let offset = 0, index = 0; offset < size; offset += BLOCK_BYTES, index++) {
      stamp(block, index)
      const length = Math.min(BLOCK_BYTES, size - offset)
      await handle.write(block, 0, length, offset)
    }
    // Flushed now so the writeback of this file does not compete with the measured runs for the disk.
    await handle.datasync()
  } finally {
    await handle.close()
  }
}

function stamp (block: Buffer, index: number): void {
  for (let offset = 0; offset + 4 <= block.length; offset += STAMP_STRIDE) block.writeUInt32LE(index, offset)
}
