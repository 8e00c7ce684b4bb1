import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseRange } from './range.ts'

describe('parseRange', () => {
  it('parses the forms of RFC 9110', () => {
    assert.deepEqual(parseRange('bytes=0-99', 1000), { start: 0, end: 100 })
    assert.deepEqual(parseRange('bytes=900-', 1000), { start: 900, end: 1000 })
    assert.deepEqual(parseRange('bytes=-100', 1000), { start: 900, end: 1000 })
    assert.deepEqual(parseRange('bytes=990-2000', 1000), { start: 990, end: 1000 })
    assert.equal(parseRange(undefined, 1000), undefined)
  })

  it('rejects ranges outside the file and malformed ones', () => {
    assert.equal(parseRange('bytes=1000-', 1000), null)
    assert.equal(parseRange('bytes=5-2', 1000), null)
    assert.equal(parseRange('bytes=-0', 1000), null)
    assert.equal(parseRange('lines=1-2', 1000), null)
  })

  it('serves the whole file for multi-range requests', () => {
    assert.equal(parseRange('bytes=0-1,5-6', 1000), undefined)
  })
})
