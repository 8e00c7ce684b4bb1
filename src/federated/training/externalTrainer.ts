/**
 * The external-trainer protocol (`myc fl join JOB --trainer "CMD"`): any program — PyTorch, JAX,
 * numpy, a shell script — trains a round instead of the built-in tfjs trainer.
 *
 * Protocol `mycelium.trainer/1` (documented for trainer authors in examples/external-trainer/README.md):
 * 1. The node makes a work dir holding `global.safetensors` (the round's global weights, F32) and
 *    `config.json` (round, epochs, learningRate, batchSize, optimizer, proximalMu, seed, dataDir,
 *    the tensor list, the architecture when known, and the absolute paths below).
 * 2. It runs CMD (through the shell; `{config}` and `{workdir}` in CMD are replaced by the quoted
 *    paths) with the environment variables MYC_TRAINER_CONFIG, MYC_TRAINER_WORKDIR,
 *    MYC_GLOBAL_WEIGHTS, MYC_UPDATE_WEIGHTS, MYC_METRICS, MYC_DATA_DIR and MYC_ROUND.
 * 3. The program writes `update.safetensors` — the locally trained weights (not a delta): the same
 *    tensor names and shapes as the global weights, F32, finite — and `metrics.json`
 *    `{ "numExamples": N, "loss"?: x, "accuracy"?: y }`, then exits 0.
 * 4. The node validates both files (clear errors naming the problem) and kills the program's
 *    whole process group if it outlives the timeout or the round is aborted.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { BaseError, InvalidInputError, type BaseErrorParameters } from '../../errors.ts'
import { describeIncompatibility, decodeSafetensors, encodeSafetensors, validateWeights, type ModelWeights } from '../tensors.ts'
import type { ArchitectureSpec, Architecture } from './architecture.ts'
import { validateArchitecture } from './architecture.ts'

export const TRAINER_PROTOCOL = 'mycelium.trainer/1'
export const GLOBAL_WEIGHTS_FILE = 'global.safetensors'
export const CONFIG_FILE = 'config.json'
export const UPDATE_WEIGHTS_FILE = 'update.safetensors'
export const METRICS_FILE = 'metrics.json'
/** Default time limit for one round of external training. */
export const DEFAULT_TRAINER_TIMEOUT_MS = 30 * 60 * 1000
/** Between SIGTERM and SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 5000
const MAX_METRICS_BYTES = 1024 * 1024
/** Room allowed for the safetensors header (names, shapes, metadata) beyond the tensor data. */
const MAX_UPDATE_HEADER_BYTES = 16 * 1024 * 1024
const OUTPUT_TAIL_BYTES = 64 * 1024

export interface ExternalTrainerConfig {
  round: number
  epochs: number
  learningRate: number
  /** Default 32. */
  batchSize?: number
  /** Default 'sgd'. A hint: the program may use what it likes. */
  optimizer?: string
  /** FedProx μ (default 0). */
  proximalMu?: number
  /** Default 0. */
  seed?: number
  /** The node's local data (made absolute). */
  dataDir: string
  /** The job's architecture, when the job has one (a trainer may also ignore it). */
  architecture?: ArchitectureSpec | Architecture
  /** Job-specific settings passed through verbatim (JSON). */
  extra?: Record<string, unknown>
}

/** What config.json holds. */
export interface TrainerConfigFile {
  protocol: typeof TRAINER_PROTOCOL
  round: number
  epochs: number
  learningRate: number
  batchSize: number
  optimizer: string
  proximalMu: number
  seed: number
  dataDir: string
  workDir: string
  globalWeights: string
  outputWeights: string
  outputMetrics: string
  tensors: Array<{ name: string, shape: number[] }>
  architecture: ArchitectureSpec | null
  extra: Record<string, unknown>
}

export interface RunExternalTrainerOptions {
  /**
   * A command line run by the shell (`/bin/sh -c`, cmd.exe on Windows), or an argv array run
   * without a shell. `{config}` and `{workdir}` are replaced by the paths (shell-quoted in a
   * command line).
   */
  command: string | string[]
  globalWeights: ModelWeights
  config: ExternalTrainerConfig
  /** Work directory (created if needed; old outputs removed). Default: a new temporary directory. */
  workDir?: string
  /** Keep a temporary work dir after the run (for debugging). A given `workDir` is always kept. */
  keepWorkDir?: boolean
  /** The program's working directory; default: this process's. */
  cwd?: string
  /** Default 30 minutes. */
  timeoutMs?: number
  /** Default 5 s. */
  killGraceMs?: number
  signal?: AbortSignal
  /** Extra environment variables (the program inherits this process's environment, minus MYC_*). */
  env?: Record<string, string>
  /** Live output of the program. */
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void
}

export interface ExternalTrainerMetrics {
  numExamples: number
  loss?: number
  accuracy?: number
}

export interface ExternalTrainerResult {
  /** The update, in the global weights' tensor order. */
  weights: ModelWeights
  numExamples: number
  metrics: { loss?: number, accuracy?: number }
  /** metrics.json as written (other keys included). */
  rawMetrics: Record<string, unknown>
  durationMs: number
  /** The last 64 KiB of each stream. */
  stdout: string
  stderr: string
  workDir: string
}

/** The program could not run, exited non-zero, was killed, or timed out. */
export class ExternalTrainerError extends BaseError {
  override name = 'ExternalTrainerError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'TRAINER_FAILED', status: 502, ...parameters })
  }
}

/** The program exited 0 but its update or metrics are missing or invalid. */
export class TrainerOutputError extends InvalidInputError {
  override name = 'TrainerOutputError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, {
      code: 'INVALID_TRAINER_OUTPUT',
      hint: 'See examples/external-trainer/README.md: write update.safetensors (F32, the global tensors\' names and shapes) and metrics.json ({"numExamples": N}).',
      ...parameters
    })
  }
}

/** Runs one round of external training and returns the validated update. */
export async function runExternalTrainer (options: RunExternalTrainerOptions): Promise<ExternalTrainerResult> {
  const { command, globalWeights, config } = options
  if (typeof command === 'string' ? command.trim() === '' : !Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string')) {
    throw new InvalidInputError('the trainer command is empty', { hint: 'Pass --trainer "python3 train.py" (any program implementing the mycelium.trainer/1 protocol).' })
  }
  validateWeights(globalWeights, 'the global weights')
  const timeoutMs = options.timeoutMs ?? DEFAULT_TRAINER_TIMEOUT_MS
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS
  if (!(timeoutMs > 0)) throw new InvalidInputError(`trainer timeout must be positive, got ${String(timeoutMs)}`)
  const configFile = buildConfigFile(config)
  options.signal?.throwIfAborted()

  const temporary = options.workDir === undefined
  const workDir = path.resolve(options.workDir ?? await mkdtemp(path.join(os.tmpdir(), 'myc-trainer-')))
  const files = {
    config: path.join(workDir, CONFIG_FILE),
    global: path.join(workDir, GLOBAL_WEIGHTS_FILE),
    update: path.join(workDir, UPDATE_WEIGHTS_FILE),
    metrics: path.join(workDir, METRICS_FILE)
  }
  try {
    await mkdir(workDir, { recursive: true })
    await rm(files.update, { force: true })
    await rm(files.metrics, { force: true })
    await writeFile(files.global, encodeSafetensors(globalWeights))
    const fileContent: TrainerConfigFile = {
      ...configFile,
      workDir,
      globalWeights: files.global,
      outputWeights: files.update,
      outputMetrics: files.metrics,
      tensors: globalWeights.map((tensor) => ({ name: tensor.name, shape: [...tensor.shape] }))
    }
    await writeFile(files.config, JSON.stringify(fileContent, null, 2) + '\n')

    const env: NodeJS.ProcessEnv = {}
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('MYC_')) env[key] = value
    Object.assign(env, options.env, {
      MYC_TRAINER_PROTOCOL: TRAINER_PROTOCOL,
      MYC_TRAINER_CONFIG: files.config,
      MYC_TRAINER_WORKDIR: workDir,
      MYC_GLOBAL_WEIGHTS: files.global,
      MYC_UPDATE_WEIGHTS: files.update,
      MYC_METRICS: files.metrics,
      MYC_DATA_DIR: configFile.dataDir,
      MYC_ROUND: String(configFile.round)
    })
    const started = performance.now()
    const run = await runProcess(command, { config: files.config, workdir: workDir }, { env, cwd: options.cwd, timeoutMs, killGraceMs, signal: options.signal, onOutput: options.onOutput })
    const label = typeof command === 'string' ? command : command.join(' ')
    const details = run.stderr.trim() !== '' ? `stderr (last lines):\n${lastLines(run.stderr, 20)}` : undefined
    if (run.outcome === 'aborted') throw options.signal?.reason ?? new DOMException('The operation was aborted', 'AbortError')
    if (run.outcome === 'timeout') {
      throw new ExternalTrainerError(`trainer timed out after ${formatMs(timeoutMs)} and was killed: ${label}`, { code: 'TRAINER_TIMEOUT', details, hint: 'Raise the trainer timeout or train fewer epochs per round.' })
    }
    if (run.outcome === 'spawn-error') {
      throw new ExternalTrainerError(`trainer could not be started: ${label}`, { cause: run.error, details: run.error?.message })
    }
    if (run.exitCode !== 0) {
      const how = run.exitCode === null ? `was killed by ${run.signal ?? 'a signal'}` : `exited with code ${run.exitCode}`
      throw new ExternalTrainerError(`trainer ${how}: ${label}`, { details, hint: 'Run the command by hand with the same config.json (keep the work dir) to debug it.' })
    }

    const metrics = await readMetrics(files.metrics)
    const weights = await readUpdate(files.update, globalWeights)
    return {
      weights,
      numExamples: metrics.numExamples,
      metrics: {
        ...(metrics.loss !== undefined ? { loss: metrics.loss } : {}),
        ...(metrics.accuracy !== undefined ? { accuracy: metrics.accuracy } : {})
      },
      rawMetrics: metrics.raw,
      durationMs: performance.now() - started,
      stdout: run.stdout,
      stderr: run.stderr,
      workDir
    }
  } finally {
    if (temporary && options.keepWorkDir !== true) await rm(workDir, { recursive: true, force: true })
  }
}

function buildConfigFile (config: ExternalTrainerConfig): Omit<TrainerConfigFile, 'workDir' | 'globalWeights' | 'outputWeights' | 'outputMetrics' | 'tensors'> {
  if (typeof config !== 'object' || config === null) throw new InvalidInputError('trainer config is missing')
  const integer = (key: string, value: unknown, min: number): number => {
    if (!Number.isSafeInteger(value) || (value as number) < min) throw new InvalidInputError(`trainer config: ${key} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`)
    return value as number
  }
  const finite = (key: string, value: unknown, min: number): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new InvalidInputError(`trainer config: ${key} must be a finite number ≥ ${min}, got ${JSON.stringify(value)}`)
    return value
  }
  if (typeof config.dataDir !== 'string' || config.dataDir === '') throw new InvalidInputError('trainer config: dataDir is required', { hint: 'Pass --data DIR: the local data the trainer reads.' })
  if (config.extra !== undefined && (typeof config.extra !== 'object' || config.extra === null || Array.isArray(config.extra))) throw new InvalidInputError('trainer config: extra must be an object')
  return {
    protocol: TRAINER_PROTOCOL,
    round: integer('round', config.round, 0),
    epochs: integer('epochs', config.epochs, 1),
    learningRate: finite('learningRate', config.learningRate, 0),
    batchSize: integer('batchSize', config.batchSize ?? 32, 1),
    optimizer: String(config.optimizer ?? 'sgd'),
    proximalMu: finite('proximalMu', config.proximalMu ?? 0, 0),
    seed: integer('seed', config.seed ?? 0, 0),
    dataDir: path.resolve(config.dataDir),
    architecture: config.architecture !== undefined ? validateArchitecture(config.architecture).spec : null,
    extra: config.extra ?? {}
  }
}

async function readMetrics (file: string): Promise<ExternalTrainerMetrics & { raw: Record<string, unknown> }> {
  const size = await fileSize(file, METRICS_FILE)
  if (size > MAX_METRICS_BYTES) throw new TrainerOutputError(`trainer output ${METRICS_FILE} is ${size} bytes (limit ${MAX_METRICS_BYTES})`)
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    throw new TrainerOutputError(`trainer output ${METRICS_FILE} is not valid JSON (${(err as Error).message})`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TrainerOutputError(`trainer output ${METRICS_FILE} must be a JSON object like {"numExamples": 600, "loss": 0.4}`)
  const record = raw as Record<string, unknown>
  const numExamples = record.numExamples
  if (!Number.isSafeInteger(numExamples) || (numExamples as number) <= 0) {
    throw new TrainerOutputError(`trainer output ${METRICS_FILE}: numExamples must be a positive integer, got ${JSON.stringify(numExamples)}`, {
      hint: 'numExamples is the number of local training samples; it weighs the update in FedAvg and the rewards.'
    })
  }
  const out: ExternalTrainerMetrics & { raw: Record<string, unknown> } = { numExamples: numExamples as number, raw: record }
  if (record.loss !== undefined && record.loss !== null) {
    if (typeof record.loss !== 'number' || !Number.isFinite(record.loss)) throw new TrainerOutputError(`trainer output ${METRICS_FILE}: loss must be a finite number, got ${JSON.stringify(record.loss)}`)
    out.loss = record.loss
  }
  if (record.accuracy !== undefined && record.accuracy !== null) {
    if (typeof record.accuracy !== 'number' || !(record.accuracy >= 0 && record.accuracy <= 1)) throw new TrainerOutputError(`trainer output ${METRICS_FILE}: accuracy must be a number in [0, 1], got ${JSON.stringify(record.accuracy)}`)
    out.accuracy = record.accuracy
  }
  return out
}

async function readUpdate (file: string, globalWeights: ModelWeights): Promise<ModelWeights> {
  const size = await fileSize(file, UPDATE_WEIGHTS_FILE)
  const expected = globalWeights.reduce((sum, tensor) => sum + tensor.data.length * 4, 0)
  if (size > expected + MAX_UPDATE_HEADER_BYTES) {
    throw new TrainerOutputError(`trainer output ${UPDATE_WEIGHTS_FILE} is ${size} bytes; the global weights' F32 data is only ${expected} bytes`)
  }
  let update: ModelWeights
  try {
    // A plain Uint8Array copy: decodeSafetensors must not see a pooled Node Buffer (see report).
    update = decodeSafetensors(new Uint8Array(await readFile(file)), { source: UPDATE_WEIGHTS_FILE })
  } catch (err) {
    throw new TrainerOutputError(`trainer output ${(err as Error & { shortMessage?: string }).shortMessage ?? (err as Error).message}`, {
      cause: err,
      ...((err as BaseError).hint !== undefined ? { hint: (err as BaseError).hint } : {})
    })
  }
  // Writers order tensors their own way (Python's safetensors sorts them): match by name.
  const byName = new Map(update.map((tensor) => [tensor.name, tensor]))
  const ordered = byName.size === update.length && globalWeights.every((tensor) => byName.has(tensor.name)) && update.length === globalWeights.length
    ? globalWeights.map((tensor) => byName.get(tensor.name)!)
    : update
  const problem = describeIncompatibility(globalWeights, ordered)
  if (problem !== undefined) throw new TrainerOutputError(`trainer output ${UPDATE_WEIGHTS_FILE} does not match the global weights: ${problem}`)
  return ordered
}

async function fileSize (file: string, label: string): Promise<number> {
  try {
    const info = await stat(file)
    if (!info.isFile()) throw new TrainerOutputError(`trainer output ${label} is not a regular file`)
    return info.size
  } catch (err) {
    if (err instanceof TrainerOutputError) throw err
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TrainerOutputError(`the trainer exited 0 but did not write ${label}`)
    throw new TrainerOutputError(`cannot read trainer output ${label}: ${(err as Error).message}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Process management

interface ProcessOutcome {
  outcome: 'exited' | 'timeout' | 'aborted' | 'spawn-error'
  exitCode: number | null
  signal: NodeJS.Signals | null
  error?: Error
  stdout: string
  stderr: string
}

interface ProcessOptions {
  env: NodeJS.ProcessEnv
  cwd: string | undefined
  timeoutMs: number
  killGraceMs: number
  signal: AbortSignal | undefined
  onOutput: ((stream: 'stdout' | 'stderr', text: string) => void) | undefined
}

async function runProcess (command: string | string[], placeholders: Record<string, string>, options: ProcessOptions): Promise<ProcessOutcome> {
  const isWindows = process.platform === 'win32'
  let child: ChildProcess
  const spawnOptions = { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] as Array<'ignore' | 'pipe'>, detached: !isWindows, windowsHide: true }
  if (typeof command === 'string') {
    const line = command.replace(/\{(config|workdir)\}/g, (_, key: string) => shellQuote(placeholders[key], isWindows))
    child = spawn(line, { ...spawnOptions, shell: true })
  } else {
    const argv = command.map((arg) => arg.replace(/\{(config|workdir)\}/g, (_, key: string) => placeholders[key]))
    child = spawn(argv[0], argv.slice(1), { ...spawnOptions, shell: false })
  }
  if (!isWindows && child.pid !== undefined) trackGroup(child.pid)
  const stdout = new OutputTail()
  const stderr = new OutputTail()
  child.stdout?.setEncoding('utf8').on('data', (text: string) => { stdout.push(text); options.onOutput?.('stdout', text) })
  child.stderr?.setEncoding('utf8').on('data', (text: string) => { stderr.push(text); options.onOutput?.('stderr', text) })

  return await new Promise<ProcessOutcome>((resolve) => {
    let outcome: ProcessOutcome['outcome'] = 'exited'
    let spawnError: Error | undefined
    let killTimer: NodeJS.Timeout | undefined
    let exited = false
    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return
      try {
        // detached: the child leads its own process group; a negative pid signals the whole group,
        // so a shell's children (python, …) die with it.
        if (!isWindows) process.kill(-child.pid, signal)
        else child.kill(signal)
      } catch {
        // already gone
      }
    }
    const stop = (why: 'timeout' | 'aborted'): void => {
      if (outcome !== 'exited') return
      outcome = why
      killGroup('SIGTERM')
      killTimer = setTimeout(() => killGroup('SIGKILL'), options.killGraceMs)
      killTimer.unref()
    }
    const timer = setTimeout(() => stop('timeout'), options.timeoutMs)
    const onAbort = (): void => stop('aborted')
    options.signal?.addEventListener('abort', onAbort, { once: true })
    if (options.signal?.aborted === true) onAbort()
    child.on('error', (err) => {
      spawnError = err
      if (child.pid === undefined) finish(null, null)
    })
    child.on('exit', () => {
      exited = true
      // Grandchildren still holding stdout/stderr open would delay 'close': end them too.
      setTimeout(() => { if (!closed) killGroup('SIGKILL') }, options.killGraceMs).unref()
    })
    let closed = false
    child.on('close', (code, signal) => finish(code, signal))
    function finish (code: number | null, signal: NodeJS.Signals | null): void {
      if (closed) return
      closed = true
      clearTimeout(timer)
      if (killTimer !== undefined) clearTimeout(killTimer)
      if (child.pid !== undefined) runningGroups.delete(child.pid)
      options.signal?.removeEventListener('abort', onAbort)
      // Anything the program left running in its group goes with it.
      if (exited || outcome !== 'exited') killGroup('SIGKILL')
      resolve({
        outcome: spawnError !== undefined && child.pid === undefined ? 'spawn-error' : outcome,
        exitCode: code,
        signal,
        error: spawnError,
        stdout: stdout.text(),
        stderr: stderr.text()
      })
    }
  })
}

/**
 * Trainers run in their own process group (detached), so they would outlive a node that exits
 * mid-round; the groups still running are killed when this process exits.
 */
const runningGroups = new Set<number>()
let exitHookInstalled = false

function trackGroup (pid: number): void {
  runningGroups.add(pid)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const group of runningGroups) {
      try {
        process.kill(-group, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  })
}

/**
 * Kills the trainers a previous run of this node left behind: a node killed outright (SIGKILL, a
 * crash, power loss) cannot kill its trainers' groups, and a trainer that never finishes would run
 * for ever. Called before the node starts any trainer of its own, so every process whose
 * MYC_TRAINER_WORKDIR lies under `workRoot` is such an orphan. Linux only (it reads /proc); elsewhere
 * nothing is done. Returns the pids it killed.
 */
export async function reapOrphanedTrainers (workRoot: string): Promise<number[]> {
  if (process.platform !== 'linux') return []
  const root = path.resolve(workRoot) + path.sep
  const marker = 'MYC_TRAINER_WORKDIR='
  const killed: number[] = []
  const entries = await readdir('/proc').catch(() => [] as string[])
  await Promise.all(entries.filter(entry => /^\d+$/.test(entry) && Number(entry) !== process.pid).map(async entry => {
    const environment = await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '')
    const variable = environment.split('\0').find(line => line.startsWith(marker))
    if (variable == null || !(path.resolve(variable.slice(marker.length)) + path.sep).startsWith(root)) return
    try {
      process.kill(Number(entry), 'SIGKILL')
      killed.push(Number(entry))
    } catch {
      // Gone meanwhile.
    }
  }))
  return killed
}

class OutputTail {
  private chunks: string[] = []
  private size = 0
  push (text: string): void {
    this.chunks.push(text)
    this.size += text.length
    while (this.size > OUTPUT_TAIL_BYTES && this.chunks.length > 1) this.size -= this.chunks.shift()!.length
  }

  text (): string {
    const all = this.chunks.join('')
    return all.length > OUTPUT_TAIL_BYTES ? all.slice(-OUTPUT_TAIL_BYTES) : all
  }
}

function shellQuote (value: string, windows: boolean): string {
  if (windows) return `"${value.replace(/"/g, '""')}"`
  return `'${value.replace(/'/g, '\'\\\'\'')}'`
}

function lastLines (text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n')
}

function formatMs (ms: number): string {
  return ms >= 60000 ? `${(ms / 60000).toFixed(1)} min` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`
}
