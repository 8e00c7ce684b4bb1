import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BodyBufferPool } from './bodyBufferPool.ts'

describe('BodyBufferPool', () => {
  it('hands a released buffer to the next body that fits, each its own aligned ArrayBuffer', () => {
    const pool = new BodyBufferPool({ maxBuffers: 2, maxBufferBytes: 1 << 20 })
    const first = pool.acquire(200_000)
    assert.ok(first.buffer.length >= 200_000)
    assert.equal(first.buffer.byteOffset, 0)
    assert.equal(first.buffer.buffer.byteLength, first.buffer.length)
    first.release()
    first.release() // twice: still pooled once
    const second = pool.acquire(150_000)
    assert.equal(second.buffer, first.buffer, 'reused')
    const third = pool.acquire(150_000)
    assert.notEqual(third.buffer, first.buffer, 'in use: another one')
    second.release()
    third.release()
    assert.equal(pool.acquire(100).buffer.length, 262_144, 'the smallest free buffer that fits')
  })

  it('keeps at most maxBuffers, and never pools a body above maxBufferBytes', () => {
    const pool = new BodyBufferPool({ maxBuffers: 1, maxBufferBytes: 1 << 16 })
    const a = pool.acquire(1000)
    const b = pool.acquire(1000)
    a.release()
    b.release()
    const c = pool.acquire(1000)
    assert.equal(c.buffer, a.buffer)
    assert.notEqual(pool.acquire(1000).buffer, b.buffer, 'b was not kept')
    const big = pool.acquire(100_000)
    assert.equal(big.buffer.length, 100_000)
    big.release()
    assert.notEqual(pool.acquire(100_000).buffer, big.buffer)
  })
})
