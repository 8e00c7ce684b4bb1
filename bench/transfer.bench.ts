import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createClient, type MyceliumClient } from '../src/client/createClient.ts'
import { startTestDaemon, type TestDaemon } from '../test/helpers/daemon.ts'
import { startBitswapClient } from './lib/bitswapClient.ts'
import { readTotalCpuSeconds } from './lib/cpuTime.ts'
import { writeRandomFile } from './lib/randomFile.ts'
import { drainTcp, startRawTcpServer } from './lib/rawTcp.ts'
import { sampleRss } from './lib/rssSampler.ts'
import { formatBytes, MB, megabytesPerSecond, MiB } from './lib/units.ts'
import { atLeast, row, type BenchContext, type BenchRow, type Goal } from './types.ts'
import type { PullEvent } from '../src/api/routes/network.ts'

/** Size of the one-peer transfer (our protocol, bitswap, raw TCP). */
const SIZE_ENV = 'BENCH_TRANSFER_BYTES'
const DEFAULT_SIZE = 512 * MiB
/** Size of the model the swarm shares. */
const SWARM_SIZE_ENV = 'BENCH_SWARM_BYTES'
const DEFAULT_SWARM_SIZE = 256 * MiB
/** How many daemons fetch from the seeder at once (`0` skips the swarm). */
const SWARM_FETCHERS_ENV = 'BENCH_SWARM_FETCHERS'
const DEFAULT_SWARM_FETCHERS = 6
/**
 * Bytes per second every swarm node may upload (`myc start --serve-rate`); unset means unlimited.
 * On one machine all daemons share the same few cores, so an unlimited swarm measures CPU, not
 * swarming: with every node's uplink capped, as on a real network, sharing among fetchers is what
 * keeps the total time down.
 */
const SWARM_SERVE_RATE_ENV = 'BENCH_SWARM_SERVE_RATE'
/** Blocks the bitswap client asks for at once while walking the file DAG. */
const BITSWAP_CONCURRENCY_ENV = 'BENCH_BITSWAP_CONCURRENCY'
const DEFAULT_BITSWAP_CONCURRENCY = 32
/** Extra Node flags for the daemons only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them. */
const DAEMON_NODE_OPTIONS_ENV = 'BENCH_DAEMON_NODE_OPTIONS'

/** The raw pipe takes about a second and its first run is often slower: the best of a few is the baseline. */
const RAW_TCP_RUNS = 3
const BITSWAP_RATIO_GOAL = 3
const RAW_TCP_RATIO_GOAL = 0.4
const SWARM_TIME_RATIO_GOAL = 2
/** A fetch makes progress continuously; a minute without any means it is stuck, not slow. */
const PULL_TIMEOUT_MS = 60_000
const RSS_SAMPLE_INTERVAL_MS = 100
const CONNECT_ATTEMPTS = 5
const CONNECT_RETRY_MS = 1_100

const atMost = (max: number): Goal => ({ label: `≤ ${max}`, test: value => value <= max })

/**
 * Fetching one model from one peer on loopback with our protocol (`/mycelium/fetch/1.0.0`, daemon
 * to daemon, through the SDK's pull), with Helia bitswap (a plain Helia node walking the same file
 * DAG from the same daemon) and through a raw TCP pipe of the file's bytes, all in the same run;
 * then a swarm: one seeder, N fetchers connected to it and to each other, all pulling at once,
 * against one lone fetch of the same model.
 *
 * Wall-clock figures are only as good as the machine is quiet, so the load average is logged and
 * every run also reports the CPU seconds per GB its processes spent, which other load barely moves.
 */
export default async function transfer ({ defer, log }: BenchContext): Promise<BenchRow[]> {
  const size = integerFromEnv(SIZE_ENV, DEFAULT_SIZE)
  const swarmSize = integerFromEnv(SWARM_SIZE_ENV, DEFAULT_SWARM_SIZE)
  const swarmFetchers = integerFromEnv(SWARM_FETCHERS_ENV, DEFAULT_SWARM_FETCHERS, { allowZero: true })
  const bitswapConcurrency = integerFromEnv(BITSWAP_CONCURRENCY_ENV, DEFAULT_BITSWAP_CONCURRENCY)
  const serveRate = (process.env[SWARM_SERVE_RATE_ENV] ?? '') === '' ? undefined : integerFromEnv(SWARM_SERVE_RATE_ENV, 0)
  const loadAtStart = os.loadavg()[0]
  if (loadAtStart > 1) log(`warning: load average ${loadAtStart.toFixed(1)} on ${os.cpus().length} CPUs — other work will distort the wall-clock figures`)
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-bench-transfer-'))
  defer(async () => { await fs.rm(dir, { recursive: true, force: true }) })
  const daemons = new DaemonPool(dir, defer)

  const file = path.join(dir, 'model.bin')
  log(`writing ${formatBytes(size)} of pseudo-random data`)
  await writeRandomFile(file, size)

  log(`raw TCP: a sending process streams the file from disk to this one over 127.0.0.1 (best of ${RAW_TCP_RUNS})`)
  const server = await startRawTcpServer(file)
  defer(async () => { await server.stop() })
  let tcpRun: Measured<number> | undefined
  for (let i = 0; i < RAW_TCP_RUNS; i++) {
    const run = await measure([server.pid, undefined], async () => await drainTcp(server.port))
    if (run.result !== size) throw new Error(`raw TCP delivered ${run.result} bytes, expected ${size}`)
    if (tcpRun == null || run.milliseconds < tcpRun.milliseconds) tcpRun = run
  }
  await server.stop()

  log('starting daemons A (provider) and B (fetcher)')
  const [a, b] = await Promise.all([daemons.start('a'), daemons.start('b')])
  log(`A publishes ${formatBytes(size)}`)
  const published = await a.client.publish({ name: 'bench-transfer', version: '1.0.0' }, [{ path: 'model.bin', source: file }])
  const fileCid = published.manifest.files[0].cid

  log('our protocol: B connects to A and pulls')
  await connect(b, a, log)
  const sampler = sampleRss(b.daemon.process.pid!, RSS_SAMPLE_INTERVAL_MS)
  defer(async () => { await sampler.stop() })
  const logNamed = (message: string): void => { log(daemons.name(message)) }
  const oursRun = await attempt(logNamed, async () => await measure([a.pid, b.pid], async () => await pull(b.client, published.cid)))
  const peakRss = await sampler.stop()

  log(`bitswap: a Helia node in this process connects to A and walks the file DAG (blockReadConcurrency ${bitswapConcurrency})`)
  const helia = await startBitswapClient()
  defer(async () => { await helia.stop() })
  await helia.connect(a.daemon.multiaddrs[0])
  const bitswapRun = await attempt(log, async () => await measure([a.pid, undefined], async () => {
    const bytes = await helia.readFile(fileCid, { blockReadConcurrency: bitswapConcurrency, idleTimeoutMs: PULL_TIMEOUT_MS })
    if (bytes !== size) throw new Error(`bitswap delivered ${bytes} bytes, expected ${size}`)
    return bytes
  }))
  await helia.stop()

  const tcpRate = megabytesPerSecond(size, tcpRun!.milliseconds)
  const bitswapRate = bitswapRun.error == null ? megabytesPerSecond(size, bitswapRun.milliseconds) : NaN
  const oursRate = oursRun.error == null ? megabytesPerSecond(size, oursRun.milliseconds) : NaN
  log(`one peer: ours ${oursRate.toFixed(0)} MB/s, bitswap ${bitswapRate.toFixed(0)} MB/s, raw TCP ${tcpRate.toFixed(0)} MB/s`)
  const cpuPerGB = (run: { cpuSeconds?: number }): number => run.cpuSeconds != null ? run.cpuSeconds / (size / (1000 * MB)) : NaN
  const rows = [
    row(`raw TCP pipe (${formatBytes(size)})`, tcpRate, 'MB/s'),
    row(`Helia bitswap (${formatBytes(size)})${failedNote(bitswapRun)}`, bitswapRate, 'MB/s'),
    row(`ours, 1 peer (${formatBytes(size)})${failedNote(oursRun)}`, oursRate, 'MB/s'),
    row('ours / bitswap', oursRate / bitswapRate, 'x', atLeast(BITSWAP_RATIO_GOAL)),
    row('ours / raw TCP', oursRate / tcpRate, 'x', atLeast(RAW_TCP_RATIO_GOAL)),
    row('CPU per GB: raw TCP (both ends)', cpuPerGB(tcpRun!), 's'),
    row('CPU per GB: bitswap (both ends)', cpuPerGB(bitswapRun), 's'),
    row('CPU per GB: ours (both daemons)', cpuPerGB(oursRun), 's'),
    ...(peakRss > 0 ? [row('fetching daemon peak RSS', peakRss / MB, 'MB')] : [])
  ]
  // The swarm has a seeder of its own (it may be rate-limited); B stays as the lone fetcher.
  await a.daemon.stop()
  if (swarmFetchers === 0) {
    await daemons.stopAll()
    return [...rows, loadRow(loadAtStart)]
  }

  const rateNote = serveRate != null ? `, every node serving at most ${(serveRate / MB).toFixed(0)} MB/s` : ''
  log(`swarm: starting seeder S${rateNote}; S publishes ${formatBytes(swarmSize)}`)
  const swarmArgs = serveRate != null ? ['--serve-rate', String(serveRate)] : []
  const seeder = await daemons.start('s', swarmArgs)
  const swarmFile = path.join(dir, 'swarm.bin')
  await writeRandomFile(swarmFile, swarmSize)
  const swarmModel = await seeder.client.publish({ name: 'bench-swarm', version: '1.0.0' }, [{ path: 'swarm.bin', source: swarmFile }])
  await fs.rm(swarmFile)

  log('swarm baseline: B alone pulls it from S')
  await connect(b, seeder, log)
  const singleRun = await attempt(logNamed, async () => await measure([seeder.pid, b.pid], async () => await pull(b.client, swarmModel.cid)))
  await b.daemon.stop()

  log(`swarm: starting ${swarmFetchers} fetchers, connecting them to S and to each other`)
  const fetchers = await Promise.all(Array.from({ length: swarmFetchers }, async (_, i) => await daemons.start(`f${i + 1}`, swarmArgs)))
  for (const [i, fetcher] of fetchers.entries()) {
    for (const other of [seeder, ...fetchers.slice(i + 1)]) await connect(fetcher, other, log)
  }

  log(`swarm: ${swarmFetchers} fetchers pull at once`)
  const start = performance.now()
  const swarm = await measure([seeder.pid, ...fetchers.map(fetcher => fetcher.pid)], async () => await Promise.all(fetchers.map(async fetcher => {
    const run = await attempt(message => { logNamed(`${fetcher.name}: ${message}`) }, async () => await measure([], async () => await pull(fetcher.client, swarmModel.cid)))
    return { ...run, milliseconds: performance.now() - start }
  })))
  const swarmRuns = swarm.result
  const swarmFailed = swarmRuns.filter(run => run.error != null).length
  const swarmMs = swarmFailed === 0 ? swarm.milliseconds : NaN
  const singleMs = singleRun.error == null ? singleRun.milliseconds : NaN
  for (const [i, run] of swarmRuns.entries()) {
    log(`  ${fetchers[i].name} ${run.error != null ? 'FAILED' : 'done'} after ${(run.milliseconds / 1000).toFixed(1)} s, providers used: ${daemons.name((run.result ?? []).join(', '))}`)
  }
  const fromOtherFetchers = swarmRuns.filter(run => run.result?.some(peer => peer !== seeder.daemon.peerId) === true).length
  await daemons.stopAll()

  // Every fetcher still receives every block, whoever sends it: on one machine the swarm needs about
  // N times the CPU of one fetch, so CPU time over the cores bounds its wall time from below.
  const swarmCpu = swarm.cpuSeconds ?? NaN
  const cpus = os.cpus().length
  const label = serveRate != null ? ` (serve rate ${(serveRate / MB).toFixed(0)} MB/s)` : ''
  return [
    ...rows,
    row(`swarm: 1 fetch alone (${formatBytes(swarmSize)})${label}${failedNote(singleRun)}`, singleMs / 1000, 's'),
    row(`swarm: ${swarmFetchers} fetchers at once, total${swarmFailed > 0 ? ` (${swarmFailed} pulls FAILED, see log)` : ''}`, swarmMs / 1000, 's'),
    row('swarm total / 1 fetch', swarmMs / singleMs, 'x', atMost(SWARM_TIME_RATIO_GOAL)),
    row('swarm aggregate throughput', megabytesPerSecond(swarmSize * swarmFetchers, swarmMs), 'MB/s'),
    row('swarm fetchers that used another fetcher', fromOtherFetchers, `of ${swarmFetchers}`),
    row('CPU: 1 fetch alone (seeder + fetcher)', singleRun.cpuSeconds ?? NaN, 's'),
    row(`CPU: swarm (all ${swarmFetchers + 1} daemons)`, swarmCpu, 's'),
    row(`swarm CPU / ${cpus} CPUs / 1 fetch time (floor of the ratio here)`, swarmCpu / cpus / (singleMs / 1000), 'x'),
    loadRow(loadAtStart)
  ]
}

/** High values mean the wall-clock figures above were measured on a busy machine. */
function loadRow (loadAtStart: number): BenchRow {
  return row(`load average, max of start and end (${os.cpus().length} CPUs)`, Math.max(loadAtStart, os.loadavg()[0]), 'max')
}

interface BenchNode {
  name: string
  daemon: TestDaemon
  pid: number
  client: MyceliumClient
}

/** Daemons with their homes in the bench's temp dir; every one is killed by the bench's cleanup. */
class DaemonPool {
  private readonly dir: string
  private readonly defer: BenchContext['defer']
  private readonly started: TestDaemon[] = []
  private readonly names = new Map<string, string>()

  constructor (dir: string, defer: BenchContext['defer']) {
    this.dir = dir
    this.defer = defer
  }

  async start (name: string, args: string[] = []): Promise<BenchNode> {
    // The home lives in our temp dir: startTestDaemon leaves its own temp home behind if the start fails.
    const home = path.join(this.dir, `home-${name}`)
    await fs.mkdir(home)
    const nodeOptions = process.env[DAEMON_NODE_OPTIONS_ENV]
    const daemon = await startTestDaemon({ home, args, ...(nodeOptions != null ? { env: { NODE_OPTIONS: nodeOptions } } : {}) })
    this.started.push(daemon)
    this.names.set(daemon.peerId, name)
    this.defer(async () => { await daemon.cleanup() })
    return { name, daemon, pid: daemon.process.pid!, client: await createClient({ apiUrl: daemon.apiUrl, home: daemon.home }) }
  }

  /** `text` with every daemon's peer id replaced by its name, so errors say which daemon failed. */
  name (text: string): string {
    let named = text
    for (const [peerId, name] of this.names) named = named.replaceAll(peerId, `${name.toUpperCase()} (${peerId.slice(-6)})`)
    return named
  }

  /** A clean stop (not the SIGKILL of cleanup) lets --cpu-prof in BENCH_DAEMON_NODE_OPTIONS write its profiles. */
  async stopAll (): Promise<void> {
    await Promise.all(this.started.map(async daemon => await daemon.stop()))
  }
}

/**
 * libp2p accepts at most 5 inbound connections per second from one IP (`inboundConnectionThreshold`)
 * and resets the rest; on loopback every peer is 127.0.0.1, so the mesh is built one dial at a
 * time, and a dial that was turned away is retried after that second.
 */
async function connect (from: BenchNode, to: BenchNode, log: (message: string) => void): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      await from.client.connect(to.daemon.multiaddrs[0])
      return
    } catch (err: any) {
      if (tries >= CONNECT_ATTEMPTS) throw err
      log(`${from.name} → ${to.name}: ${String(err?.message ?? err).split('\n')[0]}; retrying`)
      await new Promise(resolve => setTimeout(resolve, CONNECT_RETRY_MS))
    }
  }
}

interface Measured<T> {
  result: T
  milliseconds: number
  /** CPU seconds the measured processes spent meanwhile. */
  cpuSeconds?: number
}

/** Wall time of `fn`, and the CPU time `pids` spent meanwhile (`undefined` is this process). */
async function measure<T> (pids: Array<number | undefined>, fn: () => Promise<T>): Promise<Measured<T>> {
  const cpuBefore = await readTotalCpuSeconds(pids)
  const start = performance.now()
  const result = await fn()
  const milliseconds = performance.now() - start
  const cpuAfter = await readTotalCpuSeconds(pids)
  return { result, milliseconds, ...(cpuBefore != null && cpuAfter != null && pids.length > 0 ? { cpuSeconds: cpuAfter - cpuBefore } : {}) }
}

interface Attempt<T> extends Partial<Measured<T>> {
  milliseconds: number
  error?: string
}

/**
 * Runs a fetch that may fail. A failed fetch still lets the baselines and the other runs report
 * (as NaN figures that miss their goals), which says far more than a bare FAILED.
 */
async function attempt<T> (log: (message: string) => void, fn: () => Promise<Measured<T>>): Promise<Attempt<T>> {
  const start = performance.now()
  try {
    return await fn()
  } catch (err: any) {
    const error = String(err?.message ?? err)
    log(`failed after ${((performance.now() - start) / 1000).toFixed(1)} s: ${error}`)
    return { milliseconds: performance.now() - start, error }
  }
}

function failedNote (run: { error?: string }): string {
  return run.error != null ? ' — FAILED, see log' : ''
}

/** Pulls through the SDK; resolves with the providers the fetch used (peer ids), in the order they joined. */
async function pull (client: MyceliumClient, cid: string): Promise<string[]> {
  const providers: string[] = []
  const done = await client.pull(cid, {
    timeoutMs: PULL_TIMEOUT_MS,
    onEvent: (event: PullEvent) => {
      if (event.type === 'peer' && event.status === 'added') providers.push(event.peer)
    }
  })
  if (done.cid !== cid || !done.fetched) throw new Error(`pull of ${cid} ended with ${JSON.stringify(done)}`)
  return providers
}

function integerFromEnv (name: string, fallback: number, { allowZero = false } = {}): number {
  const value = process.env[name]
  if (value == null || value === '') return fallback
  const number = Number(value)
  if (!Number.isSafeInteger(number) || number < (allowZero ? 0 : 1)) throw new Error(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} whole number, got "${value}".`)
  return number
}
