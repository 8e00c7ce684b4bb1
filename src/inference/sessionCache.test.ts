import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as ort from 'onnxruntime-node'
import { buildAddOnnx, buildMlpOnnx } from '../../test/fixtures/onnx.ts'
import { ModelLoadError, SessionsStoppedError } from './errors.ts'
import { SessionCache } from './sessionCache.ts'

const MODELS = {
  a: buildMlpOnnx({ inputSize: 4, hidden: 64, outputSize: 2, seed: 1 }),
  b: buildMlpOnnx({ inputSize: 4, hidden: 64, outputSize: 2, seed: 2 }),
  c: buildMlpOnnx({ inputSize: 4, hidden: 64, outputSize: 2, seed: 3 })
}
const SIZE = MODELS.a.length

async function runs (session: ort.InferenceSession): Promise<boolean> {
  try {
    await session.run({ input: new ort.Tensor('float32', new Float32Array(4), [1, 4]) })
    return true
  } catch {
    return false
  }
}

describe('SessionCache', () => {
  let cache: SessionCache | undefined
  afterEach(async () => { await cache?.stop() })

  it('loads once under concurrent requests (single flight) and then serves from the cache', async () => {
    cache = new SessionCache()
    let loads = 0
    const load = async (): Promise<Uint8Array> => {
      loads++
      await new Promise((resolve) => setTimeout(resolve, 20))
      return MODELS.a
    }
    const [first, second] = await Promise.all([cache.get('cid/a.onnx', load), cache.get('cid/a.onnx', load)])
    assert.equal(loads, 1)
    assert.equal(first, second)
    assert.equal(await cache.get('cid/a.onnx', load), first)
    assert.equal(loads, 1)
    assert.deepEqual(cache.stats(), { sessions: 1, loading: 0, estimatedBytes: SIZE * 2, budgetBytes: 2 ** 30, hits: 2, misses: 1, evictions: 0 })
    assert.deepEqual(first.inputNames, ['input'])
  })

  it('evicts the least recently used sessions when the estimate exceeds the budget, and releases them', async () => {
    cache = new SessionCache({ budgetBytes: SIZE * 2.5, memoryFactor: 1 })
    const load = (name: keyof typeof MODELS) => async () => MODELS[name]
    const a = await cache.get('a', load('a'))
    await cache.get('b', load('b'))
    await cache.get('a', load('a')) // a is now more recent than b
    await cache.get('c', load('c'))
    assert.equal(cache.has('a'), true)
    assert.equal(cache.has('b'), false)
    assert.equal(cache.has('c'), true)
    assert.equal(cache.stats().evictions, 1)
    assert.equal(cache.stats().estimatedBytes, SIZE * 2)
    assert.equal(await runs(a), true)

    let reloads = 0
    await cache.get('b', async () => { reloads++; return MODELS.b })
    assert.equal(reloads, 1)
    assert.equal(cache.has('a'), false) // a was the least recently used of a and c
  })

  it('never releases a session under a run: a leased session goes when its lease ends', async () => {
    cache = new SessionCache({ budgetBytes: 1, memoryFactor: 1 })
    const lease = await cache.acquire('a', async () => MODELS.a)
    await cache.get('b', async () => MODELS.b)
    assert.equal(cache.has('a'), true, 'leased, so kept over budget')
    assert.equal(await runs(lease.session), true)
    lease.release()
    lease.release() // idempotent
    assert.equal(cache.has('a'), false)
    assert.equal(cache.has('b'), true, 'the most recently used session stays even when alone over budget')
  })

  it('does not cache a failed load, and reports onnxruntime load errors as ModelLoadError (422)', async () => {
    cache = new SessionCache()
    await assert.rejects(cache.get('x', async () => { throw new Error('network down') }), /network down/)
    await assert.rejects(cache.get('x', async () => new Uint8Array([1, 2, 3])), (err: unknown) => {
      assert.ok(err instanceof ModelLoadError)
      assert.equal(err.status, 422)
      assert.match(err.shortMessage, /^onnxruntime cannot load the model: /)
      return true
    })
    assert.equal(cache.stats().sessions, 0)
    assert.ok(await cache.get('x', async () => buildAddOnnx()))
  })

  it('loads from a file path', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = await mkdtemp(join(tmpdir(), 'mycelium-sessions-'))
    try {
      await writeFile(join(dir, 'a.onnx'), MODELS.a)
      cache = new SessionCache({ memoryFactor: 3 })
      const session = await cache.get('a', async () => join(dir, 'a.onnx'))
      assert.equal(await runs(session), true)
      assert.equal(cache.stats().estimatedBytes, SIZE * 3)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('stop() releases every session and refuses new requests until start()', async () => {
    cache = new SessionCache()
    const session = await cache.get('a', async () => MODELS.a)
    const lease = await cache.acquire('b', async () => MODELS.b)
    let stopped = false
    const stopping = cache.stop().then(() => { stopped = true })
    await new Promise((resolve) => setTimeout(resolve, 10))
    assert.equal(stopped, false, 'waits for the leased session')
    assert.equal(await runs(lease.session), true)
    lease.release()
    await stopping
    assert.equal(await runs(session), false, 'released')
    await assert.rejects(cache.get('a', async () => MODELS.a), (err: unknown) => err instanceof SessionsStoppedError && err.status === 503)
    cache.start()
    assert.equal(await runs(await cache.get('a', async () => MODELS.a)), true)
  })
})
