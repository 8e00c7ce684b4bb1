import os from 'node:os'
import path from 'node:path'

/** Every default of the node and the CLI, in one place. */
export const DEFAULT_HOME = path.join(os.homedir(), '.mycelium')
export const HOME_ENV = 'MYC_HOME'
export const PASSPHRASE_ENV = 'MYC_PASSPHRASE'
export const API_URL_ENV = 'MYC_API'

export const DEFAULT_API_HOST = '127.0.0.1'
/** Fixed so that `myc` finds a node without configuration; documented in README.md. */
export const DEFAULT_API_PORT = 7710
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/7711', '/ip4/0.0.0.0/tcp/7712/ws']
export const DEFAULT_MDNS = true


export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
export const MAX_FILES_PER_VERSION = 10_000
export const SHUTDOWN_GRACE_MS = 10_000

/** An environment variable, with an empty value treated as unset. */
export function envValue (name: string): string | undefined {
  const value = process.env[name]
  return value != null && value !== '' ? value : undefined
}
