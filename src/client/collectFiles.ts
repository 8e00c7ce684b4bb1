import fs from 'node:fs/promises'
import path from 'node:path'
import { InvalidInputError } from '../errors.ts'
import type { MultipartFile } from './multipart.ts'

/** Directories that are never part of a model package. */
const SKIPPED = new Set(['.git', '.hg', '.svn', 'node_modules', '__pycache__', '.DS_Store'])

export interface CollectedFiles {
  files: Array<MultipartFile & { size: number }>
  totalBytes: number
}

/** The files to publish from a file or directory path, with package paths relative to it. */
export async function collectFiles (target: string, card?: string): Promise<CollectedFiles> {
  const absolute = path.resolve(target)
  let stat
  try {
    stat = await fs.stat(absolute)
  } catch (err: any) {
    throw new InvalidInputError(`${target}: no such file or directory.`, { code: 'NO_SUCH_PATH', cause: err, hint: 'Check the path you passed to `myc publish`.' })
  }
  const files: CollectedFiles['files'] = []
  if (stat.isFile()) {
    files.push({ path: path.basename(absolute), source: absolute, size: stat.size })
  } else if (stat.isDirectory()) {
    for (const entry of await fs.readdir(absolute, { recursive: true, withFileTypes: true })) {
      const full = path.join(entry.parentPath, entry.name)
      const relative = path.relative(absolute, full).split(path.sep).join('/')
      if (relative.split('/').some(segment => SKIPPED.has(segment)) || !entry.isFile()) continue
      files.push({ path: relative, source: full, size: (await fs.stat(full)).size })
    }
    if (files.length === 0) throw new InvalidInputError(`${target}: the directory has no files to publish.`)
  } else {
    throw new InvalidInputError(`${target}: not a regular file or directory.`)
  }
  if (card != null) {
    const cardPath = path.resolve(card)
    const cardStat = await fs.stat(cardPath).catch(() => undefined)
    if (cardStat?.isFile() !== true) throw new InvalidInputError(`Model card ${card}: no such file.`, { code: 'NO_SUCH_PATH' })
    if (!files.some(file => file.source === cardPath)) files.push({ path: 'README.md', source: cardPath, size: cardStat.size })
  }
  for (const file of files) {
    if (file.size === 0) {
      throw new InvalidInputError(`${path.relative(process.cwd(), file.source) || file.source}: file is empty.`, {
        code: 'EMPTY_FILE',
        hint: 'Remove the empty file from the package, or check that it was written completely.'
      })
    }
  }
  files.sort((a, b) => a.path < b.path ? -1 : 1)
  return { files, totalBytes: files.reduce((sum, file) => sum + file.size, 0) }
}

/** The package path the card ends up at, given what `collectFiles` did with it. */
export function cardPathOf (collected: CollectedFiles, card: string | undefined): string | undefined {
  if (card == null) return undefined
  const cardPath = path.resolve(card)
  return collected.files.find(file => file.source === cardPath)?.path
}
