import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { keccak_256 as nobleKeccak256 } from '@noble/hashes/sha3.js'
import fs from 'node:fs'
import { roundBody } from './keccak.generate.ts'
import { keccak256Into, keccak256Short } from './keccak.ts'

test('keccak256Short equals @noble/hashes keccak_256 for every length, one-block and beyond', () => {
  for (let length = 0; length <= 300; length++) {
    for (let round = 0; round < 8; round++) {
      const input = randomBytes(length)
      assert.deepEqual(Buffer.from(keccak256Short(input)), Buffer.from(nobleKeccak256(input)), `length ${length}`)
    }
  }
})

test('known vectors, and writing into a buffer at an offset', () => {
  assert.equal(Buffer.from(keccak256Short(new Uint8Array())).toString('hex'), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
  const out = new Uint8Array(96)
  keccak256Into(new TextEncoder().encode('abc'), out, 32)
  assert.equal(Buffer.from(out.subarray(32, 64)).toString('hex'), '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45')
  assert.deepEqual(out.subarray(0, 32), new Uint8Array(32))
})

test('the unrolled round body is exactly what keccak.generate.ts prints', () => {
  const source = fs.readFileSync(new URL('./keccak.ts', import.meta.url), 'utf8')
  const body = source.slice(source.indexOf('for (let round = 0; round < 24; round++) {\n') + 44, source.indexOf('\n  }\n  digest[0]'))
  assert.deepEqual(body.split('\n').map(line => line.trim()), roundBody())
})
