import fs from 'node:fs/promises'
import { InvalidInputError } from '../errors.ts'
import { DEFAULT_PULL_TIMEOUT_MS } from '../net/constants.ts'
import { DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_LISTEN, DEFAULT_MDNS, envValue, PASSPHRASE_ENV } from './defaults.ts'
import { homePaths, resolveHome } from './home.ts'

/** Everything a node can be configured with; flags override `config.json` in the home, which overrides defaults. */
export interface NodeConfig {
  home: string
  apiHost: string
  apiPort: number
  listen: string[]
  passphrase?: string
  /** Absent: the network of the node's ledger (chain id + registry address). */
  network?: string
  bootstrap: string[]
  mdns: boolean
  /** libp2p private network: every node of it holds the same swarm key. */
  swarmKeyFile?: string
  /** Upload limit for serving blocks to peers, bytes per second. */
  serveRate?: number
  /** How long a pull may go without progress before it fails. */
  pullTimeoutMs: number
  /** An external chain's JSON-RPC URL; absent: the embedded chain in the node home. */
  chainRpc?: string
  /** Where the contracts are on the external chain (written by `myc chain deploy`). */
  contractsFile?: string
  /** Accept versions that are not on the ledger. */
  allowUnregistered: boolean
}

export type NodeConfigInput = Partial<NodeConfig> & { passphraseFile?: string }

const FILE_KEYS = ['apiHost', 'apiPort', 'listen', 'network', 'bootstrap', 'mdns', 'swarmKeyFile', 'serveRate', 'pullTimeoutMs', 'chainRpc', 'contractsFile', 'allowUnregistered'] as const

export async function readPassphrase (passphraseFile: string | undefined): Promise<string | undefined> {
  if (passphraseFile == null) return envValue(PASSPHRASE_ENV)
  try {
    // A trailing newline from `echo secret > file` is not part of the passphrase.
    return (await fs.readFile(passphraseFile, 'utf8')).replace(/\r?\n$/, '')
  } catch (err: any) {
    throw new InvalidInputError(`Cannot read the passphrase file ${passphraseFile}: ${err.code ?? err.message}.`, { hint: 'Check the path given with --passphrase-file.' })
  }
}

export async function resolveConfig (input: NodeConfigInput = {}): Promise<NodeConfig> {
  const home = resolveHome(input.home)
  const fromFile = await readConfigFile(homePaths(home).configFile)
  const config: NodeConfig = {
    home,
    apiHost: input.apiHost ?? fromFile.apiHost ?? DEFAULT_API_HOST,
    apiPort: input.apiPort ?? fromFile.apiPort ?? DEFAULT_API_PORT,
    listen: input.listen ?? fromFile.listen ?? DEFAULT_LISTEN,
    passphrase: input.passphrase ?? await readPassphrase(input.passphraseFile),
    network: input.network ?? fromFile.network,
    bootstrap: input.bootstrap ?? fromFile.bootstrap ?? [],
    mdns: input.mdns ?? fromFile.mdns ?? DEFAULT_MDNS,
    swarmKeyFile: input.swarmKeyFile ?? fromFile.swarmKeyFile,
    serveRate: input.serveRate ?? fromFile.serveRate,
    pullTimeoutMs: input.pullTimeoutMs ?? fromFile.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS,
    chainRpc: input.chainRpc ?? fromFile.chainRpc,
    contractsFile: input.contractsFile ?? fromFile.contractsFile,
    allowUnregistered: input.allowUnregistered ?? fromFile.allowUnregistered ?? false
  }
  if (config.network != null && !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(config.network)) {
    throw new InvalidInputError(`Invalid network id "${config.network}".`, { hint: 'Use lowercase letters, digits, ".", "_" and "-".' })
  }
  if (!Number.isInteger(config.apiPort) || config.apiPort < 0 || config.apiPort > 65535) {
    throw new InvalidInputError(`Invalid API port ${config.apiPort}.`, { hint: 'Use a port from 0 to 65535 (0 picks a free one).' })
  }
  return config
}

async function readConfigFile (file: string): Promise<Partial<NodeConfig>> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err: any) {
    if (err.code === 'ENOENT') return {}
    throw err
  }
  let parsed: Record<string, unknown>
  try {
    parsed = JSON.parse(text)
  } catch (err: any) {
    throw new InvalidInputError(`The config file ${file} is not valid JSON: ${err.message}`, { hint: 'Fix or delete it; defaults apply without it.' })
  }
  const out: Partial<NodeConfig> = {}
  for (const key of FILE_KEYS) if (parsed[key] !== undefined) (out as any)[key] = parsed[key]
  return out
}

/** `HOST:PORT` (or `:PORT`, or `PORT`) as given to `--api`. */
export function parseHostPort (value: string): { host: string, port: number } {
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(value)
  const port = match != null ? Number(match[2]) : NaN
  if (match == null || port > 65535) {
    throw new InvalidInputError(`Invalid API address "${value}".`, { hint: 'Use HOST:PORT, e.g. 127.0.0.1:7710 (port 0 picks a free port).' })
  }
  return { host: match[1] != null && match[1] !== '' ? match[1].replace(/^\[|\]$/g, '') : DEFAULT_API_HOST, port }
}
