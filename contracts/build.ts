/**
 * `npm run build:contracts`: compiles `contracts/*.sol` (and the test-only `contracts/test/*.sol`) with
 * solc-js, in process, and writes one typed artifact per contract to `src/ledger/artifacts/` (test
 * contracts to `src/ledger/artifacts/test/`):
 *
 *   export const marketplaceAbi = [...] as const
 *   export const marketplaceBytecode = '0x…' as const
 *
 * so viem infers every function, event and error type. The artifacts are checked in;
 * `contracts/artifacts.test.ts` recompiles and fails when they are stale.
 */
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const require = createRequire(import.meta.url)
// solc-js is CommonJS without ESM typings worth the name; `compile` takes and returns JSON strings.
const solc = require('solc') as { version: () => string, compile: (input: string, callbacks: { import: (path: string) => { contents: string } | { error: string } }) => string }

export const ROOT = path.resolve(import.meta.dirname, '..')
export const CONTRACTS_DIR = path.join(ROOT, 'contracts')
export const ARTIFACTS_DIR = path.join(ROOT, 'src', 'ledger', 'artifacts')
const TEST_SUBDIR = 'test'

/** Pinned so the bytecode (and its metadata hash) is the same on every machine. */
export const COMPILER_SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // Cancun (transient storage, MCOPY, PUSH0) runs on the embedded chain and on every current EVM chain.
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } }
} as const

export interface CompiledContract {
  name: string
  /** Source unit name, e.g. `contracts/Marketplace.sol`. */
  source: string
  abi: unknown[]
  bytecode: `0x${string}`
  /** Where its artifact lives, relative to the repository root. */
  artifactPath: string
}

interface SolcOutput {
  errors?: Array<{ severity: 'error' | 'warning' | 'info', formattedMessage: string }>
  contracts?: Record<string, Record<string, { abi: unknown[], evm: { bytecode: { object: string } } }>>
}

/** Every `.sol` file of ours, as solc source unit names relative to the repository root. */
export function listSources (): string[] {
  const sources: string[] = []
  for (const dir of [CONTRACTS_DIR, path.join(CONTRACTS_DIR, TEST_SUBDIR)]) {
    if (!fs.existsSync(dir)) continue
    for (const file of fs.readdirSync(dir).sort()) {
      if (file.endsWith('.sol')) sources.push(path.relative(ROOT, path.join(dir, file)).split(path.sep).join('/'))
    }
  }
  return sources
}

/** Resolves `@openzeppelin/...` (and any other package import) from node_modules. */
function findImport (importPath: string): { contents: string } | { error: string } {
  try {
    const local = path.join(ROOT, importPath)
    if (fs.existsSync(local)) return { contents: fs.readFileSync(local, 'utf8') }
    return { contents: fs.readFileSync(require.resolve(importPath), 'utf8') }
  } catch (err: any) {
    return { error: `Cannot find ${importPath}: ${err?.message ?? err}` }
  }
}

/** Compiles every source; throws with solc's messages on any error. Warnings are returned. */
export function compileContracts (): { contracts: CompiledContract[], warnings: string[], solcVersion: string } {
  const sourceNames = listSources()
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(sourceNames.map(name => [name, { content: fs.readFileSync(path.join(ROOT, name), 'utf8') }])),
    settings: COMPILER_SETTINGS
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport })) as SolcOutput
  const errors = (output.errors ?? []).filter(error => error.severity === 'error')
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map(error => error.formattedMessage).join('\n')}`)
  // Warnings about our own sources only: OpenZeppelin's (e.g. on transient storage) are known and reviewed upstream.
  const warnings = (output.errors ?? [])
    .filter(error => error.severity === 'warning' && sourceNames.some(name => error.formattedMessage.includes(`--> ${name}:`)))
    .map(error => error.formattedMessage)

  const contracts: CompiledContract[] = []
  for (const source of sourceNames) {
    for (const [name, contract] of Object.entries(output.contracts?.[source] ?? {})) {
      // Interfaces and abstract contracts have no bytecode and need no artifact.
      if (contract.evm.bytecode.object === '') continue
      const isTest = source.startsWith(`contracts/${TEST_SUBDIR}/`)
      const artifactPath = path.relative(ROOT, path.join(ARTIFACTS_DIR, ...(isTest ? [TEST_SUBDIR] : []), `${name}.ts`)).split(path.sep).join('/')
      contracts.push({ name, source, abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}`, artifactPath })
    }
  }
  return { contracts, warnings, solcVersion: solc.version() }
}

/** `ModelRegistry` → `modelRegistry`. */
export function exportPrefix (contractName: string): string {
  return contractName[0].toLowerCase() + contractName.slice(1)
}

export function renderArtifact (contract: CompiledContract, solcVersion: string): string {
  const prefix = exportPrefix(contract.name)
  return [
    `// Generated by contracts/build.ts from ${contract.source} with solc ${solcVersion}`,
    `// (optimizer ${COMPILER_SETTINGS.optimizer.runs} runs, EVM ${COMPILER_SETTINGS.evmVersion}). Do not edit: run \`npm run build:contracts\`.`,
    '',
    `export const ${prefix}Abi = ${JSON.stringify(contract.abi, null, 2)} as const`,
    '',
    `export const ${prefix}Bytecode = '${contract.bytecode}' as const`,
    ''
  ].join('\n')
}

export function writeArtifacts (): CompiledContract[] {
  const { contracts, warnings, solcVersion } = compileContracts()
  for (const warning of warnings) console.error(warning)
  for (const dir of [ARTIFACTS_DIR, path.join(ARTIFACTS_DIR, TEST_SUBDIR)]) {
    fs.mkdirSync(dir, { recursive: true })
    // Artifacts of contracts that no longer exist must not linger.
    for (const file of fs.readdirSync(dir)) {
      if (file.endsWith('.ts') && !contracts.some(contract => path.join(ROOT, contract.artifactPath) === path.join(dir, file))) fs.rmSync(path.join(dir, file))
    }
  }
  for (const contract of contracts) {
    fs.writeFileSync(path.join(ROOT, contract.artifactPath), renderArtifact(contract, solcVersion))
  }
  return contracts
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = performance.now()
  const contracts = writeArtifacts()
  console.log(`compiled ${contracts.length} contracts in ${Math.round(performance.now() - started)} ms:`)
  for (const contract of contracts) console.log(`  ${contract.artifactPath}  (${(contract.bytecode.length - 2) / 2} bytes)`)
}
