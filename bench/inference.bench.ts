import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import * as ort from 'onnxruntime-node'
import { createClient, type MyceliumClient } from '../src/client/createClient.ts'
import { binaryRequestBody, decodeOipResponse, encodeOipRequest } from '../src/inference/codecs/oip.ts'
import { SessionCache } from '../src/inference/sessionCache.ts'
import { startTestDaemon, type TestDaemon } from '../test/helpers/daemon.ts'
import { startBareInferenceServer } from './lib/bareInferenceServer.ts'
import { readTotalCpuSeconds } from './lib/cpuTime.ts'
import { summarize, type LatencySummary } from './lib/latency.ts'
import { buildMnistCnnOnnx, CLASSES, CNN_INPUT, CNN_OUTPUT, cnnForward, cnnParameterCount, cnnWeights, IMAGE_SIZE, randomImages, SAMPLE_ELEMENTS, type CnnWeights } from './lib/mnistCnn.ts'
import { row, type BenchContext, type BenchRow, type Goal } from './types.ts'

/** Extra Node flags for the daemons only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them. */
const DAEMON_NODE_OPTIONS_ENV = 'BENCH_DAEMON_NODE_OPTIONS'

const MODEL_NAME = 'bench/mnist-cnn'
const MODEL_VERSION = '1.0.0'
const MODEL_FILE = 'mnist-cnn.onnx'

/**
 * Per batch size: untimed calls per path first, then timed calls per path in `rounds` blocks. The
 * paths take turns block by block (in a rotating order), so a change of machine load during the
 * run falls on all of them alike instead of on whichever ran last.
 */
const PLANS = [
  { batch: 1, warmup: 50, iterations: 500, rounds: 25 },
  { batch: 64, warmup: 6, iterations: 120, rounds: 40 }
] as const

type Plan = typeof PLANS[number]

/** Local API at batch 64: the HTTP round trip and codecs must cost little next to the run itself. */
const LOCAL_RATIO_GOAL = 1.1
/** Remote at batch 1: what a libp2p hop (client node → provider, on loopback) may add, in ms. */
const REMOTE_ADDED_GOAL_MS = 2
/** onnxruntime with the same options on the same machine: outputs may differ only by rounding. */
const OUTPUT_TOLERANCE = 1e-5
/** The JavaScript reference sums in float64; onnxruntime in float32 with another order. */
const REFERENCE_TOLERANCE = 1e-4
/** A's announcement may go out before gossipsub has B subscribed: A re-announces (serve again) this often… */
const ANNOUNCE_RETRY_MS = 1_000
/** …this many times before the bench goes on without it. */
const ANNOUNCE_ATTEMPTS = 10
const CONNECT_ATTEMPTS = 5
const CONNECT_RETRY_MS = 1_100

const atMost = (max: number): Goal => ({ label: `≤ ${max}`, test: value => value <= max })

type PathKey = 'direct' | 'bare' | 'local' | 'remote'
type InferPath = (images: Float32Array, batch: number) => Promise<Float32Array>

interface NamedPath { key: PathKey, label: string, run: InferPath }

interface PathResult extends LatencySummary {
  /** CPU time of this process, both daemons and the bare server per call (undefined off Linux). */
  cpuMsPerCall?: number
}

/**
 * Inference on a ~1.66 M-parameter CNN (McMahan et al.'s MNIST CNN, built with the ONNX fixture
 * writer), batch 1 and batch 64, three ways in the same run:
 *
 * - direct: onnxruntime-node in this process, a session with the node's own options (a
 *   SessionCache, as the daemon uses), fed an ort.Tensor over the input array;
 * - bare HTTP: the least an HTTP server can add (bench/lib/bareInferenceServer.ts: node:http, the
 *   same session options and OIP codec, nothing else) in a process of its own, called as the local
 *   API is. It measures what any HTTP hop costs on this machine, the floor under the local API: a
 *   client that sleeps while the model runs pays for its CPU waking up again, which on a virtual
 *   machine is a good part of a millisecond;
 * - local API: a real daemon A that stores the model, through its OIP endpoint
 *   (`POST /v2/models/CID/infer`, binary tensor data extension, the SDK's keep-alive fetch);
 * - remote: daemon B, connected to A and holding only the manifest, through its OIP endpoint with
 *   `?remote=1`: B finds A as the provider and forwards over `/mycelium/infer/1.0.0`.
 *
 * Each call is timed from the client's side, encoding the request and decoding the response
 * included. Throughput is closed-loop (one call in flight): samples / mean call time.
 *
 * Wall-clock latencies are only as good as the machine is quiet (onnxruntime wants every core),
 * so the load average is reported, and so is the CPU time all four processes spent per call,
 * which other load barely moves. A path that fails is reported as failed; the others still run.
 */
export default async function inference ({ defer, log }: BenchContext): Promise<BenchRow[]> {
  const loadAtStart = os.loadavg()[0]
  if (loadAtStart > 1) log(`warning: load average ${loadAtStart.toFixed(1)} on ${os.cpus().length} CPUs — other work will distort the latencies`)
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-bench-inference-'))
  defer(async () => { await fs.rm(dir, { recursive: true, force: true }) })

  const weights = cnnWeights(1)
  const model = buildMnistCnnOnnx(weights)
  const modelFile = path.join(dir, MODEL_FILE)
  await fs.writeFile(modelFile, model)
  log(`MNIST CNN: ${(cnnParameterCount(weights) / 1e6).toFixed(2)} M parameters, ${(model.length / 1e6).toFixed(1)} MB of ONNX`)

  // Direct: a SessionCache loads the bytes with InferenceSession.create and the daemon's options.
  const sessions = new SessionCache()
  defer(async () => { await sessions.stop() })
  const session = await sessions.get('bench', async () => model)
  const direct: InferPath = async (images, batch) => {
    const results = await session.run({ [CNN_INPUT]: new ort.Tensor('float32', images, [batch, 1, IMAGE_SIZE, IMAGE_SIZE]) })
    return results[CNN_OUTPUT].data as Float32Array
  }
  await checkAgainstReference(direct, weights)
  const bare = await startBareInferenceServer(modelFile)
  defer(async () => { await bare.stop() })

  log('starting daemons A (provider) and B (client node)')
  const daemonOptions = process.env[DAEMON_NODE_OPTIONS_ENV]
  const startDaemon = async (name: string): Promise<TestDaemon> => {
    // The home lives in our temp dir: startTestDaemon leaves its own temp home behind if the start fails.
    const home = path.join(dir, `home-${name}`)
    await fs.mkdir(home)
    const daemon = await startTestDaemon({ home, ...(daemonOptions != null && daemonOptions !== '' ? { env: { NODE_OPTIONS: daemonOptions } } : {}) })
    defer(async () => { await daemon.cleanup() })
    return daemon
  }
  const [a, b] = await Promise.all([startDaemon('a'), startDaemon('b')])
  const clientA = await createClient({ apiUrl: a.apiUrl, home: a.home })
  const clientB = await createClient({ apiUrl: b.apiUrl, home: b.home })
  const clientBare = await createClient({ apiUrl: bare.url, home: a.home })

  const { cid } = await clientA.publish({ name: MODEL_NAME, version: MODEL_VERSION }, [{ path: MODEL_FILE, source: modelFile }])
  log(`published ${MODEL_NAME}@${MODEL_VERSION} on A as ${cid}`)
  await connect(clientB, a, log)
  await serveAndAwaitAnnouncement(clientA, clientB, cid, a.peerId, log)
  const manifest = await clientB.manifest(cid)
  if (manifest.local) throw new Error('B stores the model itself; the remote path would not be remote')

  const allPaths: NamedPath[] = [
    { key: 'direct', label: 'direct onnxruntime', run: direct },
    { key: 'bare', label: 'bare node:http', run: oipPath(clientBare, cid, false, a.peerId) },
    { key: 'local', label: 'local API (A)', run: oipPath(clientA, cid, false, a.peerId) },
    { key: 'remote', label: 'remote (B → A)', run: oipPath(clientB, cid, true, a.peerId) }
  ]
  const pids = [undefined, a.process.pid, b.process.pid, bare.pid]
  const failures = new Map<PathKey, string>()
  const results = new Map<string, PathResult>()
  const rows: BenchRow[] = []
  for (const plan of PLANS) {
    const images = randomImages(plan.batch, 100 + plan.batch)
    const paths = await checkPathsAgree(allPaths.filter(entry => !failures.has(entry.key)), images, plan.batch, failures, log)
    log(`batch ${plan.batch}: ${plan.iterations} timed calls per path after ${plan.warmup} untimed, in ${plan.rounds} interleaved rounds (load ${os.loadavg()[0].toFixed(1)})`)
    const measured = await measureInterleaved(paths, images, plan, pids)
    for (const entry of allPaths) {
      const result = measured.get(entry.key)
      const failed = failures.has(entry.key) ? ' [FAILED]' : ''
      if (result != null) {
        results.set(`${entry.key}/${plan.batch}`, result)
        log(`  ${entry.label.padEnd(20)} median ${result.medianMs.toFixed(3)} ms, p90 ${result.p90Ms.toFixed(3)} ms, min ${result.minMs.toFixed(3)} ms, CPU ${result.cpuMsPerCall?.toFixed(2) ?? '?'} ms per call`)
      }
      rows.push(
        row(`b${plan.batch} ${entry.label} median${failed}`, result?.medianMs ?? NaN, 'ms'),
        row(`b${plan.batch} ${entry.label} p90${failed}`, result?.p90Ms ?? NaN, 'ms'),
        row(`b${plan.batch} ${entry.label} throughput${failed}`, result != null ? plan.batch / (result.meanMs / 1000) : NaN, 'samples/s'),
        row(`b${plan.batch} ${entry.label} CPU, all processes${failed}`, result?.cpuMsPerCall ?? NaN, 'ms/call')
      )
    }
  }
  const median = (key: string): number => results.get(key)?.medianMs ?? NaN
  const remoteFailed = failures.has('remote') ? ` [remote FAILED: ${failures.get('remote')}]` : ''
  rows.push(
    row('b64 local API / direct (median)', median('local/64') / median('direct/64'), 'x', atMost(LOCAL_RATIO_GOAL)),
    row('b64 bare HTTP / direct (median): the floor of any HTTP API here', median('bare/64') / median('direct/64'), 'x'),
    row('b64 local API / bare HTTP (median): what the node adds', median('local/64') / median('bare/64'), 'x'),
    row('b1 local API / direct (median)', median('local/1') / median('direct/1'), 'x'),
    row(`b1 remote − local API (median)${remoteFailed}`, median('remote/1') - median('local/1'), 'ms', atMost(REMOTE_ADDED_GOAL_MS)),
    row('b64 remote − local API (median)', median('remote/64') - median('local/64'), 'ms'),
    row('load average (1 min) at start', loadAtStart, `on ${os.cpus().length} CPUs`)
  )
  // A clean stop (not the SIGKILL of cleanup) lets --cpu-prof in BENCH_DAEMON_NODE_OPTIONS write its profiles.
  await Promise.all([a.stop(), b.stop()])
  return rows
}

/**
 * A call through a node's OIP endpoint as any HTTP client would make it: the binary tensor data
 * extension both ways (no floats printed as text), the SDK's fetch (undici, keep-alive).
 */
function oipPath (client: MyceliumClient, cid: string, remote: boolean, provider: string): InferPath {
  return async (images, batch) => {
    const encoded = encodeOipRequest([{ name: CNN_INPUT, dtype: 'float32', shape: [batch, 1, IMAGE_SIZE, IMAGE_SIZE], data: images }], { binary: true })
    const response = await client.infer(cid, undefined, binaryRequestBody(encoded), { remote })
    if (remote && response.provider !== provider) throw new Error(`the remote call ran on ${response.provider ?? 'no provider'}, not on A (${provider})`)
    const output = decodeOipResponse(response.json, response.binary).outputs.find(tensor => tensor.name === CNN_OUTPUT)
    if (output?.dtype !== 'float32') throw new Error(`the response has no float32 "${CNN_OUTPUT}" output`)
    return output.data
  }
}

async function measureInterleaved (paths: NamedPath[], images: Float32Array, plan: Plan, pids: Array<number | undefined>): Promise<Map<PathKey, PathResult>> {
  const samples = new Map<PathKey, number[]>(paths.map(entry => [entry.key, []]))
  const cpuSeconds = new Map<PathKey, number | undefined>(paths.map(entry => [entry.key, 0]))
  for (const entry of paths) {
    for (let i = 0; i < plan.warmup; i++) await entry.run(images, plan.batch)
  }
  const perRound = Math.ceil(plan.iterations / plan.rounds)
  for (let round = 0; round < plan.rounds; round++) {
    for (let i = 0; i < paths.length; i++) {
      const entry = paths[(round + i) % paths.length]
      const times = samples.get(entry.key)!
      const cpuBefore = await readTotalCpuSeconds(pids)
      for (let call = 0; call < perRound; call++) {
        const start = performance.now()
        await entry.run(images, plan.batch)
        times.push(performance.now() - start)
      }
      const cpuAfter = await readTotalCpuSeconds(pids)
      const sum = cpuSeconds.get(entry.key)
      cpuSeconds.set(entry.key, sum != null && cpuBefore != null && cpuAfter != null ? sum + cpuAfter - cpuBefore : undefined)
    }
  }
  return new Map(paths.map(entry => {
    const times = samples.get(entry.key)!
    const cpu = cpuSeconds.get(entry.key)
    return [entry.key, { ...summarize(times), ...(cpu != null ? { cpuMsPerCall: cpu * 1000 / times.length } : {}) }]
  }))
}

/** The model onnxruntime runs is the CNN meant here: one image against a plain JavaScript forward pass. */
async function checkAgainstReference (direct: InferPath, weights: CnnWeights): Promise<void> {
  const image = randomImages(1, 7)
  const expected = cnnForward(weights, image)
  assertClose(await direct(image, 1), expected, REFERENCE_TOLERANCE, 'onnxruntime vs the JavaScript reference')
  // Dynamic batch: the same image inside a batch gives the same logits.
  const batch = new Float32Array(3 * SAMPLE_ELEMENTS)
  batch.set(image, SAMPLE_ELEMENTS)
  assertClose((await direct(batch, 3)).subarray(CLASSES, 2 * CLASSES), expected, REFERENCE_TOLERANCE, 'image 2 of a batch of 3 vs the reference')
}

/**
 * Every path computes the same logits for the same images, or the comparison would be meaningless.
 * The direct path must work; another that fails is recorded in `failures` and left out.
 */
async function checkPathsAgree (paths: NamedPath[], images: Float32Array, batch: number, failures: Map<PathKey, string>, log: (message: string) => void): Promise<NamedPath[]> {
  const [reference, ...others] = paths
  const expected = await reference.run(images, batch)
  if (expected.length !== batch * CLASSES) throw new Error(`${reference.label} gave ${expected.length} logits for batch ${batch}`)
  const working = [reference]
  for (const entry of others) {
    try {
      assertClose(await entry.run(images, batch), expected, OUTPUT_TOLERANCE, `${entry.label} vs ${reference.label} at batch ${batch}`)
      working.push(entry)
    } catch (err: any) {
      const message = String(err?.message ?? err).split('\n')[0]
      log(`${entry.label} FAILED, left out: ${message}`)
      failures.set(entry.key, message.slice(0, 120))
    }
  }
  return working
}

function assertClose (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`)
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) throw new Error(`${what}: value ${i} is ${actual[i]}, expected ${expected[i]}`)
  }
}

/** libp2p turns away bursts of inbound dials from one IP (all of loopback); a refused dial is retried. */
async function connect (client: MyceliumClient, to: TestDaemon, log: (message: string) => void): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      await client.connect(to.multiaddrs[0])
      return
    } catch (err: any) {
      if (tries >= CONNECT_ATTEMPTS) throw err
      log(`connect: ${String(err?.message ?? err).split('\n')[0]}; retrying`)
      await new Promise(resolve => setTimeout(resolve, CONNECT_RETRY_MS))
    }
  }
}

/**
 * A serves the model, and B must have heard A's gossipsub announcement: without it, B asks every
 * connected peer whether it serves the model on every call (an extra stream per call), which a
 * client node that has been up for a while would not. The first announcement can go out before B's
 * subscription reached A, and A repeats it only every 30 s, so serving again re-announces.
 */
async function serveAndAwaitAnnouncement (provider: MyceliumClient, client: MyceliumClient, cid: string, providerId: string, log: (message: string) => void): Promise<void> {
  for (let attempt = 1; attempt <= ANNOUNCE_ATTEMPTS; attempt++) {
    await provider.serve(cid, { price: '0' })
    await new Promise(resolve => setTimeout(resolve, ANNOUNCE_RETRY_MS))
    const providers = await client.providers(cid)
    if (providers.some(entry => entry.peerId === providerId && entry.source === 'announcement')) return
  }
  log('warning: B has not heard A\'s announcement; each remote call will look the provider up')
}
