/**
 * `npm run bench [-- NAME...]`: runs every `bench/NAME.bench.ts` (or only the named ones) in
 * sequence, prints one table and writes the rows to bench/.last-results.json. Benchmarks run one
 * at a time because they measure throughput and memory, which concurrent runs would distort.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { tuneRuntimeForBulkData } from '../src/node/runtimeTuning.ts'
import type { Benchmark, BenchContext, BenchRow } from './types.ts'

// The baselines that run in this process (raw TCP, Helia bitswap, direct onnxruntime) get the same
// V8 settings as the daemons they are compared with.
tuneRuntimeForBulkData()

const BENCH_DIR = import.meta.dirname
const BENCH_SUFFIX = '.bench.ts'
const RESULTS_FILE = path.join(BENCH_DIR, '.last-results.json')
/** Exit code of a process ended by SIGINT, by shell convention. */
const INTERRUPTED_EXIT_CODE = 130
/** A bad invocation (unknown benchmark name), as distinct from a benchmark that failed (1). */
const USAGE_EXIT_CODE = 2

interface BenchOutcome {
  name: string
  durationMs: number
  rows: BenchRow[]
  error?: string
}

async function main (filter: string[]): Promise<number> {
  const names = selectBenchmarks(await listBenchmarks(), filter)
  const outcomes: BenchOutcome[] = []
  for (const name of names) {
    const outcome = await runBenchmark(name)
    // An interrupted run's figures are meaningless; the signal handler exits once cleanup is done.
    if (interrupted) return INTERRUPTED_EXIT_CODE
    outcomes.push(outcome)
  }
  printTable(outcomes)
  await writeResults(outcomes, filter)
  return outcomes.some(outcome => outcome.error != null) ? 1 : 0
}

async function listBenchmarks (): Promise<string[]> {
  const files = await fs.readdir(BENCH_DIR)
  return files.filter(file => file.endsWith(BENCH_SUFFIX)).map(file => file.slice(0, -BENCH_SUFFIX.length)).sort()
}

function selectBenchmarks (available: string[], filter: string[]): string[] {
  const unknown = filter.filter(name => !available.includes(name))
  if (unknown.length > 0) throw new Error(`Unknown benchmark(s): ${unknown.join(', ')}. Available: ${available.join(', ')}.`)
  return filter.length === 0 ? available : available.filter(name => filter.includes(name))
}

/** Cleanups of the benchmark now running; the signal handlers run them too. */
let pendingCleanups: Array<() => unknown> = []
let interrupted = false

async function runCleanups (): Promise<void> {
  const cleanups = pendingCleanups.reverse()
  pendingCleanups = []
  for (const cleanup of cleanups) {
    try {
      await cleanup()
    } catch (err: any) {
      console.error(`bench: cleanup failed: ${err?.message ?? err}`)
    }
  }
}

async function runBenchmark (name: string): Promise<BenchOutcome> {
  const context: BenchContext = {
    defer: cleanup => { pendingCleanups.push(cleanup) },
    log: message => { console.error(`[${name}] ${message}`) }
  }
  const start = performance.now()
  try {
    const module = await import(pathToFileURL(path.join(BENCH_DIR, name + BENCH_SUFFIX)).href) as { default?: Benchmark }
    if (typeof module.default !== 'function') throw new Error(`${name}${BENCH_SUFFIX} must export a benchmark function as its default export.`)
    const rows = await module.default(context)
    return { name, durationMs: performance.now() - start, rows }
  } catch (err: any) {
    if (!interrupted) console.error(`[${name}] failed: ${err?.stack ?? err}`)
    return { name, durationMs: performance.now() - start, rows: [], error: String(err?.message ?? err) }
  } finally {
    await runCleanups()
  }
}

function printTable (outcomes: BenchOutcome[]): void {
  const lines = outcomes.flatMap(outcome => outcome.error != null
    ? [[outcome.name, 'FAILED', '', '', firstLine(outcome.error)]]
    : outcome.rows.map(row => [outcome.name, row.name, formatValue(row.value), row.unit, row.goal == null ? '' : `${row.goal} ${row.ok === true ? '✓' : '✗'}`]))
  const table = [['bench', 'metric', 'value', 'unit', 'goal'], ...lines]
  const widths = table[0].map((_, column) => Math.max(...table.map(line => line[column].length)))
  const rightAligned = new Set([2])
  const render = (line: string[]): string => line.map((cell, column) => rightAligned.has(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column])).join('  ').trimEnd()
  console.log(['', render(table[0]), widths.map(width => '-'.repeat(width)).join('  '), ...lines.map(render)].join('\n'))
  const missed = outcomes.flatMap(outcome => outcome.rows.filter(row => row.ok === false))
  if (missed.length > 0) console.log(`\n${missed.length} goal(s) missed: ${missed.map(row => row.name).join(', ')}`)
}

function firstLine (text: string): string {
  return text.split('\n', 1)[0]
}

function formatValue (value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2)
}

async function writeResults (outcomes: BenchOutcome[], filter: string[]): Promise<void> {
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    filter,
    benchmarks: outcomes
  }
  await fs.writeFile(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n')
  console.log(`\nresults written to ${path.relative(process.cwd(), RESULTS_FILE)}`)
}

/** Ctrl-C mid-benchmark must still kill the daemon and delete gigabytes of temp files. */
function exitOnSignal (signal: NodeJS.Signals): void {
  process.once(signal, () => {
    interrupted = true
    console.error(`\nbench: ${signal}, cleaning up…`)
    void runCleanups().finally(() => process.exit(INTERRUPTED_EXIT_CODE))
  })
}

exitOnSignal('SIGINT')
exitOnSignal('SIGTERM')
try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err: any) {
  console.error(`bench: ${err?.message ?? err}`)
  process.exitCode = USAGE_EXIT_CODE
}
