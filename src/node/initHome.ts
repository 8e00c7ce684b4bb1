import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import { createKeyFile, loadKeyFile } from '../identity/keyFile.ts'
import { exists, homePaths, writeFileAtomic } from './home.ts'
import type { Identity } from '../identity/identity.ts'

export interface InitHomeParameters {
  home: string
  passphrase?: string
}

export interface InitHomeReturnType {
  home: string
  identity: Identity
  created: boolean
}

/** Creates a node home (key, API token, folders). Never replaces an existing key. */
export async function initHome ({ home, passphrase }: InitHomeParameters): Promise<InitHomeReturnType> {
  const paths = homePaths(home)
  await fs.mkdir(paths.root, { recursive: true, mode: 0o700 })
  const identity = await createKeyFile({ file: paths.keyFile, passphrase })
  await ensureApiToken(paths.apiTokenFile)
  await fs.mkdir(paths.blocks, { recursive: true })
  return { home: paths.root, identity, created: true }
}

/** Loads the node key, creating the home first when there is none at all (`npm start` on a fresh machine). */
export async function openHome ({ home, passphrase }: InitHomeParameters): Promise<InitHomeReturnType> {
  const paths = homePaths(home)
  if (!(await exists(paths.keyFile))) return await initHome({ home, passphrase })
  const identity = await loadKeyFile(paths.keyFile, passphrase)
  await ensureApiToken(paths.apiTokenFile)
  await fs.mkdir(paths.blocks, { recursive: true })
  return { home: paths.root, identity, created: false }
}

async function ensureApiToken (file: string): Promise<string> {
  if (await exists(file)) return (await fs.readFile(file, 'utf8')).trim()
  const token = randomBytes(32).toString('hex')
  await writeFileAtomic(file, token + '\n', 0o600)
  return token
}

export async function readApiToken (home: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(homePaths(home).apiTokenFile, 'utf8')).trim()
  } catch {
    return undefined
  }
}
