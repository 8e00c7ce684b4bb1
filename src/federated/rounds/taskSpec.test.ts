import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { decodeTaskSpec, encodeTaskSpec, type TaskSpec } from './taskSpec.ts'
import { decodeGossip, decodeRequest } from './messages.ts'

const spec: TaskSpec = {
  type: 'mycelium/fl-task',
  schemaVersion: 1,
  base: { name: 'acme/mlp', version: '1.0.0', manifestCid: 'bafyreib3felcukzny3wldt5a4rt2y5765nloqher3f7cmrvio4zosatyze', weightsFile: 'weights.safetensors' },
  architecture: { input: { shape: [4] }, layers: [], output: { classes: 2 } },
  training: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd', proximalMu: 0 },
  strategy: { name: 'trimmed-mean', beta: 0.2 },
  dp: { clipNorm: 1, noiseMultiplier: 0.5, delta: 1e-5 },
  publish: { name: 'acme/mlp', version: '1.1.0' }
}

describe('task specification', () => {
  test('round-trips as JSON', () => {
    assert.deepEqual(decodeTaskSpec(encodeTaskSpec(spec)), spec)
  })

  test('says what is wrong', () => {
    const bad = (patch: Record<string, unknown>): Uint8Array => new TextEncoder().encode(JSON.stringify({ ...spec, ...patch }))
    assert.throws(() => decodeTaskSpec(bad({ strategy: { name: 'fedmagic' } })), /unknown strategy "fedmagic"/)
    assert.throws(() => decodeTaskSpec(bad({ strategy: { name: 'trimmed-mean', beta: 0.5 } })), /beta must be in \[0, 0.5\)/)
    assert.throws(() => decodeTaskSpec(bad({ strategy: { name: 'fedadam' } })), /fedadam eta \(the server learning rate\) must be a positive number/)
    assert.throws(() => decodeTaskSpec(bad({ training: { ...spec.training, epochs: 0 } })), /training.epochs must be a positive integer/)
    assert.throws(() => decodeTaskSpec(bad({ dp: { clipNorm: 1, noiseMultiplier: 1, delta: 2 } })), /dp.delta/)
    assert.throws(() => decodeTaskSpec(bad({ architecture: { input: { shape: [] }, layers: [], output: { classes: 2 } } })), /"architecture"/)
    assert.throws(() => decodeTaskSpec(new TextEncoder().encode('not json')), /not UTF-8 JSON/)
  })
})

describe('round messages', () => {
  test('parse hints and refuse malformed ones', () => {
    const hint = { type: 'update', jobId: '3', round: 2, cid: spec.base.manifestCid }
    assert.deepEqual(decodeGossip(new TextEncoder().encode(JSON.stringify({ hint, addrs: [] }))).hint, hint)
    assert.deepEqual(decodeRequest(new TextEncoder().encode(JSON.stringify({ op: 'status', jobId: '3' }))), { op: 'status', jobId: '3' })
    for (const bad of [{ op: 'hint', hint: { ...hint, jobId: '0' }, addrs: [] }, { op: 'hint', hint: { ...hint, cid: 'nope' }, addrs: [] }, { op: 'hint', hint: { ...hint, round: 0 }, addrs: [] }, { op: 'explode' }]) {
      assert.throws(() => decodeRequest(new TextEncoder().encode(JSON.stringify(bad))))
    }
    assert.throws(() => decodeRequest(new Uint8Array(9000)), /over/)
  })
})
