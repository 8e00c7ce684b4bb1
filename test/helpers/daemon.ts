import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const CLI = path.join(REPO_ROOT, 'src/cli/bin.ts')

export interface RunResult { code: number, stdout: string, stderr: string }

export async function makeTempDir (prefix = 'myc-test-'): Promise<string> {
  return await fs.mkdtemp(path.join(os.tmpdir(), prefix))
}

/** Runs the real `myc` CLI in its own process. */
export async function runCli (args: string[], options: { home?: string, env?: Record<string, string>, input?: string, cwd?: string } = {}): Promise<RunResult> {
  const child = spawn(process.execPath, [CLI, ...(options.home != null ? ['--home', options.home] : []), ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, MYC_HOME: '', MYC_API: '', MYC_PASSPHRASE: '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => { stdout += chunk })
  child.stderr.on('data', chunk => { stderr += chunk })
  child.stdin.end(options.input ?? '')
  const [code] = await once(child, 'close') as [number | null]
  return { code: code ?? 1, stdout, stderr }
}

export async function runJson<T = any> (args: string[], options: Parameters<typeof runCli>[1] = {}): Promise<T> {
  const result = await runCli([...args, '--json'], options)
  if (result.code !== 0) throw new Error(`myc ${args.join(' ')} exited ${result.code}: ${result.stdout}${result.stderr}`)
  return JSON.parse(result.stdout) as T
}

export interface TestDaemon {
  home: string
  apiUrl: string
  peerId: string
  address: string
  multiaddrs: string[]
  process: ChildProcess
  stderr: () => string
  cli: (args: string[], options?: Parameters<typeof runCli>[1]) => Promise<RunResult>
  json: <T = any>(args: string[]) => Promise<T>
  token: () => Promise<string>
  /** SIGTERM and wait; resolves with the exit code. */
  stop: () => Promise<number | null>
  kill: () => Promise<void>
  /** Removes the home (after stopping). */
  cleanup: () => Promise<void>
}

export interface StartDaemonOptions {
  home?: string
  args?: string[]
  env?: Record<string, string>
  /**
   * Join this daemon's embedded chain (through its /rpc) instead of running a chain of its own.
   */
  chainFrom?: TestDaemon
  /**
   * Meet on the network of the ledger and enforce its registry. Without it, daemons meet on the
   * network "test" and accept versions their ledger does not hold — tests of the network alone.
   */
  ledgerNetwork?: boolean
}

/** Starts a real `myc start` process on free ports with a temp home. */
export async function startTestDaemon (options: StartDaemonOptions = {}): Promise<TestDaemon> {
  const home = options.home ?? await makeTempDir()
  const ledgerArgs = [
    ...(options.chainFrom != null ? ['--chain-rpc', `${options.chainFrom.apiUrl}/rpc`] : []),
    ...(options.ledgerNetwork === true ? [] : ['--network', 'test', '--allow-unregistered'])
  ]
  const child = spawn(process.execPath, [CLI, '--home', home, '--json', 'start', '--api', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', ...ledgerArgs, ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, MYC_HOME: '', MYC_API: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', chunk => { stderr += chunk })
  const lines = createInterface({ input: child.stdout })
  const info = await new Promise<any>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`daemon did not start in time: ${stderr}`)) }, 60_000)
    lines.once('line', line => {
      clearTimeout(timer)
      try { resolve(JSON.parse(line)) } catch { reject(new Error(`unexpected daemon output: ${line}\n${stderr}`)) }
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`daemon exited with ${code}: ${stderr}`)) })
  })
  const daemon: TestDaemon = {
    home,
    apiUrl: info.apiUrl,
    peerId: info.peerId,
    address: info.address,
    multiaddrs: info.multiaddrs,
    process: child,
    stderr: () => stderr,
    cli: async (args, runOptions) => await runCli(args, { home, ...runOptions }),
    json: async (args) => await runJson(args, { home }),
    token: async () => (await fs.readFile(path.join(home, 'api-token'), 'utf8')).trim(),
    async stop () {
      if (child.exitCode != null || child.signalCode != null) return child.exitCode
      child.kill('SIGTERM')
      const [code, signal] = await once(child, 'exit') as [number | null, string | null]
      if (signal != null) throw new Error(`daemon died of ${signal} while stopping: ${stderr}`)
      return code
    },
    async kill () {
      if (child.exitCode != null || child.signalCode != null) return
      child.kill('SIGKILL')
      await once(child, 'exit')
    },
    async cleanup () {
      await daemon.kill()
      // A daemon killed mid-round leaves its external trainer (its own process group) running.
      await killProcessesMentioning(home)
      await fs.rm(home, { recursive: true, force: true })
    }
  }
  return daemon
}

/** Kills every process whose command line names `text` (Linux; elsewhere nothing to scan). */
async function killProcessesMentioning (text: string): Promise<void> {
  const entries = await fs.readdir('/proc').catch(() => [] as string[])
  await Promise.all(entries.filter(entry => /^\d+$/.test(entry) && Number(entry) !== process.pid).map(async entry => {
    const commandLine = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    if (!commandLine.includes(text)) return
    try {
      process.kill(Number(entry), 'SIGKILL')
    } catch {
      // Gone meanwhile.
    }
  }))
}
