/**
 * Aggregation throughput on a round of 100 client updates of the 1,663,370-parameter MNIST CNN of
 * McMahan et al. 2017 (665 MB of float32 update data): FedAvg in GB/s of update data, the
 * coordinate-wise trimmed mean (β = 0.1) and median as multiples of FedAvg's time, and Krum
 * (4,950 pairwise distances). Every kernel is single-threaded, so each run is timed both on the
 * wall clock and in process CPU time; the goals use CPU time, which other processes on a busy
 * machine cannot inflate (on an idle machine the two agree). Each figure is the best of a few runs.
 */
import { coordinateMedian, trimmedMean } from '../src/federated/strategies/coordinateWise.ts'
import { coordinateTrimmedMeanInto } from '../src/federated/strategies/kernels.ts'
import { fedAvg } from '../src/federated/strategies/fedAvg.ts'
import { krum } from '../src/federated/strategies/krum.ts'
import type { ClientUpdate } from '../src/federated/strategies/types.ts'
import type { ModelWeights } from '../src/federated/tensors.ts'
import { atLeast, below, row, type BenchContext, type BenchRow } from './types.ts'

const CLIENTS = 100
/** The CNN of McMahan et al. 2017 (two 5×5 convolutions, 512 hidden units): 1,663,370 parameters. */
const LAYERS: Array<[string, number[]]> = [
  ['conv1.weight', [32, 1, 5, 5]],
  ['conv1.bias', [32]],
  ['conv2.weight', [64, 32, 5, 5]],
  ['conv2.bias', [64]],
  ['fc1.weight', [512, 3136]],
  ['fc1.bias', [512]],
  ['fc2.weight', [10, 512]],
  ['fc2.bias', [10]]
]
const FEDAVG_GOAL_GBPS = 1.5
const TRIMMED_MEAN_GOAL_RATIO = 5
const TRIMMED_MEAN_BETA = 0.1
const KRUM_F = 10

export default async function aggregation ({ log }: BenchContext): Promise<BenchRow[]> {
  log(`generating ${CLIENTS} updates of ${parameterCount().toLocaleString('en')} parameters`)
  const global = model(() => 0)
  const random = xorshift(0x9e3779b9)
  const updates: ClientUpdate[] = Array.from({ length: CLIENTS }, (_, k) => ({
    clientId: `client-${String(k).padStart(3, '0')}`,
    weights: model(() => (random() - 0.5) * 0.02),
    numExamples: 50 + ((k * 37) % 200)
  }))
  const bytes = CLIENTS * parameterCount() * 4

  // Let the JIT compile the kernels on a small round first.
  warmUp(updates)

  log('FedAvg')
  const avg = best(5, () => fedAvg(global, updates))
  log('trimmed mean (WebAssembly SIMD kernel)')
  const trimmed = best(3, () => trimmedMean(global, updates, { beta: TRIMMED_MEAN_BETA }))
  log('trimmed mean (JavaScript fallback kernel)')
  const inputs = global.map((_, t) => updates.map((update) => update.weights[t].data))
  const trimmedJs = best(1, () => inputs.forEach((tensors, t) => coordinateTrimmedMeanInto(tensors, Math.floor(TRIMMED_MEAN_BETA * CLIENTS), new Float32Array(global[t].data.length), { simd: false })))
  log('median')
  const median = best(1, () => coordinateMedian(global, updates))
  log('Krum')
  const krumTime = best(1, () => krum(global, updates, { f: KRUM_F }))

  const gbps = (ms: number): number => bytes / 1e9 / (ms / 1000)
  return [
    row(`FedAvg, ${CLIENTS} × 1.66M params (CPU time)`, gbps(avg.cpu), 'GB/s', atLeast(FEDAVG_GOAL_GBPS)),
    row('FedAvg (wall clock)', gbps(avg.wall), 'GB/s'),
    row(`trimmed mean β = ${TRIMMED_MEAN_BETA} / FedAvg (CPU time)`, trimmed.cpu / avg.cpu, 'x', below(TRIMMED_MEAN_GOAL_RATIO)),
    row('trimmed mean / FedAvg (wall clock)', trimmed.wall / avg.wall, 'x'),
    row('trimmed mean, JS fallback / FedAvg (CPU)', trimmedJs.cpu / avg.cpu, 'x'),
    row('median / FedAvg (CPU time)', median.cpu / avg.cpu, 'x'),
    row(`Krum f = ${KRUM_F}, ${CLIENTS * (CLIENTS - 1) / 2} distances (CPU)`, krumTime.cpu / 1000, 's'),
    row('FedAvg time (CPU)', avg.cpu, 'ms'),
    row('trimmed mean time (CPU)', trimmed.cpu, 'ms')
  ]
}

function warmUp (updates: ClientUpdate[]): void {
  const cut = (weights: ModelWeights): ModelWeights => weights.map((tensor) => ({ name: tensor.name, shape: [tensor.data.length > 4096 ? 4096 : tensor.data.length], data: tensor.data.subarray(0, 4096) }))
  const small = updates.slice(0, 30).map((update) => ({ ...update, weights: cut(update.weights) }))
  const global = cut(updates[0].weights).map((tensor) => ({ ...tensor, data: new Float32Array(tensor.data.length) }))
  for (let i = 0; i < 3; i++) {
    fedAvg(global, small)
    trimmedMean(global, small, { beta: TRIMMED_MEAN_BETA })
    coordinateMedian(global, small)
    krum(global, small, { f: 3 })
  }
}

/** The fastest of `runs` runs, in wall-clock and in CPU milliseconds (each minimum on its own). */
function best (runs: number, fn: () => unknown): { wall: number, cpu: number } {
  let wall = Infinity
  let cpu = Infinity
  for (let i = 0; i < runs; i++) {
    const cpuStart = process.cpuUsage()
    const start = performance.now()
    fn()
    wall = Math.min(wall, performance.now() - start)
    const used = process.cpuUsage(cpuStart)
    cpu = Math.min(cpu, (used.user + used.system) / 1000)
  }
  return { wall, cpu }
}

function model (value: () => number): ModelWeights {
  return LAYERS.map(([name, shape]) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1))
    for (let i = 0; i < data.length; i++) data[i] = value()
    return { name, shape, data }
  })
}

function parameterCount (): number {
  return LAYERS.reduce((sum, [, shape]) => sum + shape.reduce((a, b) => a * b, 1), 0)
}

/** xorshift32 in [0, 1): fast, reproducible test data (not for anything else). */
function xorshift (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s ^= s << 13; s >>>= 0
    s ^= s >>> 17
    s ^= s << 5; s >>>= 0
    return s / 4294967296
  }
}
