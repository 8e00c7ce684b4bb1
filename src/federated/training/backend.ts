/**
 * The tfjs backend, initialized once per process: WebAssembly (`@tensorflow/tfjs-backend-wasm`,
 * whose .wasm binaries ship inside the npm package and are read from disk — no network), or the
 * pure-JavaScript 'cpu' backend with a logged warning if the wasm module fails to load.
 *
 * Everything in this folder that touches tfjs awaits {@link ensureBackend} first, and runs its
 * work through {@link runExclusive}: tfjs has one global engine, so trainings are serialized —
 * on a single-threaded backend that costs no throughput, and it keeps memory bounded and each
 * run's arithmetic independent of the others.
 */
import { createRequire } from 'node:module'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { registerMissingWasmKernels } from './wasmKernels.ts'

export type TrainingBackend = 'wasm' | 'cpu'

let ready: Promise<TrainingBackend> | undefined

/** The directory holding tfjs-backend-wasm's .wasm files, with a trailing separator. */
export function wasmDirectory (): string {
  const require = createRequire(import.meta.url)
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep
}

/**
 * Selects the wasm backend (once; later calls return the same promise). Falls back to 'cpu',
 * logging why, only when wasm cannot be initialized. `MYC_TF_BACKEND=cpu` forces the fallback.
 */
export async function ensureBackend (): Promise<TrainingBackend> {
  ready ??= initialize()
  return await ready
}

async function initialize (): Promise<TrainingBackend> {
  if (process.env.MYC_TF_BACKEND !== 'cpu') {
    let reason = 'tf.setBackend("wasm") returned false'
    try {
      // Emscripten reads the file with fs in Node; a plain path prefix is enough.
      setWasmPaths(wasmDirectory())
      if (await tf.setBackend('wasm')) {
        await tf.ready()
        registerMissingWasmKernels()
        return 'wasm'
      }
    } catch (err) {
      reason = (err as Error).message
    }
    console.warn(`mycelium: the tfjs wasm backend failed to load (${reason}); training on the slower 'cpu' backend`)
  }
  await tf.setBackend('cpu')
  await tf.ready()
  // Its "install tfjs-node" banner is noise here: the warning above says what happened.
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null
  if (cpu !== null) cpu.firstUse = false
  return 'cpu'
}

let queue: Promise<unknown> = Promise.resolve()

/** Runs `task` after every earlier task has settled (one tfjs job at a time). */
export async function runExclusive<T> (task: () => Promise<T>): Promise<T> {
  const run = queue.then(task, task)
  queue = run.catch(() => undefined)
  return await run
}
