import fs from 'node:fs/promises'
import path from 'node:path'
import { DEFAULT_HOME, envValue, HOME_ENV } from './defaults.ts'

/** Where everything a node keeps lives; one place so nobody builds these paths by hand. */
export interface HomePaths {
  root: string
  keyFile: string
  apiTokenFile: string
  apiUrlFile: string
  configFile: string
  blocks: string
  indexDb: string
  tmp: string
  /** The embedded chain's journal and contracts file. */
  chain: string
  /** Signed usage receipts of what this node served, and their anchors. */
  receiptsDb: string
  /** Payment channels: opened as a client, vouchers accepted as a provider. */
  paymentsDb: string
}

export function resolveHome (home?: string): string {
  return path.resolve(home ?? envValue(HOME_ENV) ?? DEFAULT_HOME)
}

export function homePaths (home?: string): HomePaths {
  const root = resolveHome(home)
  return {
    root,
    keyFile: path.join(root, 'key.json'),
    apiTokenFile: path.join(root, 'api-token'),
    apiUrlFile: path.join(root, 'api'),
    configFile: path.join(root, 'config.json'),
    blocks: path.join(root, 'blocks'),
    indexDb: path.join(root, 'index.sqlite'),
    tmp: path.join(root, 'tmp'),
    chain: path.join(root, 'chain'),
    receiptsDb: path.join(root, 'receipts.sqlite'),
    paymentsDb: path.join(root, 'payments.sqlite')
  }
}

export async function exists (file: string): Promise<boolean> {
  try {
    await fs.access(file)
    return true
  } catch {
    return false
  }
}

/** Writes via a temp file and rename, so a crash never leaves a half-written file behind. */
export async function writeFileAtomic (file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
  await fs.writeFile(tmp, data, { mode })
  await fs.rename(tmp, file)
}
