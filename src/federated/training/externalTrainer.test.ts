import { spawn } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { decodeSafetensors } from '../tensors.ts'
import { initialWeights, validateArchitecture } from './architecture.ts'
import {
  ExternalTrainerError,
  TRAINER_PROTOCOL,
  TrainerOutputError,
  reapOrphanedTrainers,
  runExternalTrainer,
  type RunExternalTrainerOptions,
  type TrainerConfigFile
} from './externalTrainer.ts'

const SCRIPT = fileURLToPath(new URL('./fixtures/nodeTrainer.mjs', import.meta.url))
const ARCH = validateArchitecture({ input: { shape: [6] }, layers: [{ type: 'dense', units: 4, activation: 'relu' }], output: { classes: 3 } })
const GLOBAL = initialWeights(ARCH, 1)

let tmp: string
before(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'myc-trainer-test-')) })
after(async () => { await rm(tmp, { recursive: true, force: true }) })

function options (mode: string, extra: Partial<RunExternalTrainerOptions> = {}): RunExternalTrainerOptions {
  return {
    command: [process.execPath, SCRIPT, '{config}'],
    globalWeights: GLOBAL,
    config: { round: 4, epochs: 2, learningRate: 0.5, dataDir: 'some/data', architecture: ARCH },
    env: { TRAINER_MODE: mode },
    timeoutMs: 20_000,
    ...extra
  }
}

async function rejectsOutput (mode: string, message: RegExp): Promise<void> {
  await assert.rejects(runExternalTrainer(options(mode)), (err: unknown) => {
    assert.ok(err instanceof TrainerOutputError, `expected TrainerOutputError, got ${String(err)}`)
    assert.equal(err.code, 'INVALID_TRAINER_OUTPUT')
    assert.match(err.message, message)
    return true
  })
}

/** Running (a zombie waiting for a reaper — here PID 1 may be slow to reap orphans — is dead). */
function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return true // no procfs: trust kill(pid, 0)
  }
}

describe('external trainer protocol', () => {
  it('runs the program with config + global weights and returns its validated update', async () => {
    const workDir = path.join(tmp, 'ok')
    const result = await runExternalTrainer(options('ok', { workDir }))
    // The update comes back in the global order although the program wrote it reversed.
    assert.deepEqual(result.weights.map((t) => t.name), GLOBAL.map((t) => t.name))
    for (const [t, tensor] of result.weights.entries()) {
      assert.deepEqual(tensor.shape, GLOBAL[t].shape)
      tensor.data.forEach((v, i) => assert.ok(Math.abs(v - (GLOBAL[t].data[i] + 0.01 * 0.5 * 2)) < 1e-6))
    }
    assert.equal(result.numExamples, 42)
    assert.deepEqual(result.metrics, { loss: 0.5, accuracy: 0.75 })
    assert.equal(result.rawMetrics.custom, 'kept')
    const seen = JSON.parse(result.stdout)
    assert.deepEqual(seen, { round: 4, dataDir: path.resolve('some/data'), env: '4', tensors: 4 })

    const config = JSON.parse(await readFile(path.join(workDir, 'config.json'), 'utf8')) as TrainerConfigFile
    assert.equal(config.protocol, TRAINER_PROTOCOL)
    assert.deepEqual({ epochs: config.epochs, learningRate: config.learningRate, batchSize: config.batchSize, optimizer: config.optimizer, proximalMu: config.proximalMu },
      { epochs: 2, learningRate: 0.5, batchSize: 32, optimizer: 'sgd', proximalMu: 0 })
    assert.equal(config.globalWeights, path.join(workDir, 'global.safetensors'))
    assert.deepEqual(config.tensors[0], { name: 'dense_0.kernel', shape: [6, 4] })
    assert.deepEqual(config.architecture, ARCH.spec)
    assert.deepEqual(decodeSafetensors(new Uint8Array(await readFile(config.globalWeights))), GLOBAL)
  })

  it('uses a temporary work dir, removed afterwards; a command line goes through the shell', async () => {
    const result = await runExternalTrainer(options('ok', { command: `"${process.execPath}" "${SCRIPT}" {config} && echo done-by-shell` }))
    assert.match(result.stdout, /done-by-shell/)
    assert.ok(!existsSync(result.workDir))
  })

  it('rejects bad outputs with the reason', async () => {
    await rejectsOutput('wrong-shape', /update\.safetensors does not match the global weights: tensor 'dense_1\.kernel' has shape \[3,4\], expected \[4,3\]/)
    await rejectsOutput('wrong-name', /update\.safetensors does not match the global weights: .*'renamed\.kernel'/)
    await rejectsOutput('nan', /update\.safetensors: non-finite value: tensor 'dense_1\.kernel' element 3 is NaN/)
    await rejectsOutput('f64', /tensor '.*' has dtype "F64"; federated updates must be F32/)
    await rejectsOutput('missing-update', /the trainer exited 0 but did not write update\.safetensors/)
    await rejectsOutput('missing-metrics', /the trainer exited 0 but did not write metrics\.json/)
    await rejectsOutput('bad-metrics', /metrics\.json: numExamples must be a positive integer, got 0/)
    await rejectsOutput('bad-json', /metrics\.json is not valid JSON/)
  })

  it('reports a failing program with its exit code and stderr', async () => {
    await assert.rejects(runExternalTrainer(options('fail')), (err: unknown) => {
      assert.ok(err instanceof ExternalTrainerError)
      assert.equal(err.code, 'TRAINER_FAILED')
      assert.match(err.message, /trainer exited with code 3/)
      assert.match(err.message, /CUDA out of memory/)
      return true
    })
    await assert.rejects(runExternalTrainer(options('ok', { command: [path.join(tmp, 'no-such-program')] })), /trainer could not be started/)
  })

  it('kills a program (and its children) that outlives the timeout', async () => {
    const workDir = path.join(tmp, 'sleepy')
    // Through the shell, with a command after it so the shell cannot exec node in its place:
    // the trainer is a grandchild, and must die with the process group.
    const started = performance.now()
    await assert.rejects(runExternalTrainer(options('sleep', { workDir, command: `"${process.execPath}" "${SCRIPT}" {config}; echo never`, timeoutMs: 1500, killGraceMs: 500 })), (err: unknown) => {
      assert.ok(err instanceof ExternalTrainerError)
      assert.equal(err.code, 'TRAINER_TIMEOUT')
      assert.match(err.message, /trainer timed out after 1\.5 s and was killed/)
      return true
    })
    assert.ok(performance.now() - started < 5000)
    const pid = Number(await readFile(path.join(workDir, 'trainer.pid'), 'utf8'))
    assert.ok(pid > 0)
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(alive(pid), false, 'the trainer process was killed')
  })

  it('stops the program when the round is aborted', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 500)
    await assert.rejects(runExternalTrainer(options('sleep', { signal: controller.signal })), { name: 'AbortError' })
  })

  it('kills, on the next start, the trainers a node killed outright left running — only its own', { skip: process.platform !== 'linux' }, async () => {
    const home = path.join(tmp, 'home-tmp')
    const elsewhere = path.join(tmp, 'home-tmp-other')
    const orphan = (workDir: string): number => {
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore', env: { ...process.env, MYC_TRAINER_WORKDIR: workDir } })
      child.unref()
      return child.pid!
    }
    const ours = orphan(path.join(home, 'fl-3-2'))
    const theirs = orphan(path.join(elsewhere, 'fl-3-2'))
    try {
      for (let i = 0; i < 50 && readFileSync(`/proc/${theirs}/environ`, 'utf8').length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
      const killed = await reapOrphanedTrainers(home)
      assert.deepEqual(killed, [ours])
      for (let i = 0; i < 50 && alive(ours); i++) await new Promise((resolve) => setTimeout(resolve, 20))
      assert.equal(alive(ours), false, 'the orphan under this home is gone')
      assert.equal(alive(theirs), true, 'a trainer of another home (a prefix of its path, too) is left alone')
    } finally {
      for (const pid of [ours, theirs]) {
        try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
      }
    }
  })

  it('validates its own inputs', async () => {
    await assert.rejects(runExternalTrainer(options('ok', { command: '  ' })), /the trainer command is empty/)
    await assert.rejects(runExternalTrainer({ ...options('ok'), config: { round: 1, epochs: 0, learningRate: 0.1, dataDir: 'd' } }), /trainer config: epochs must be an integer ≥ 1/)
    await assert.rejects(runExternalTrainer({ ...options('ok'), config: { round: 1, epochs: 1, learningRate: 0.1, dataDir: '' } }), /dataDir is required/)
  })
})
