import assert from 'node:assert/strict'
import { test } from 'node:test'
import { InvalidInputError } from '../errors.ts'
import { formatTokens, parseDuration, parseTokens } from './units.ts'

test('token amounts: whole tokens with decimals in, base units out, and back', () => {
  assert.equal(parseTokens('10'), 10n * 10n ** 18n)
  assert.equal(parseTokens(' 2.5 '), 25n * 10n ** 17n)
  assert.equal(parseTokens('0.000000000000000001'), 1n)
  assert.equal(formatTokens(15n * 10n ** 17n), '1.5 MYC')
  for (const bad of ['', '-1', '1e3', '1.', 'ten', '0.0000000000000000001']) assert.throws(() => parseTokens(bad), InvalidInputError, bad)
})

test('durations: 30d, 12h, 90m, 3600s, plain seconds', () => {
  assert.equal(parseDuration('30d'), 30 * 86_400)
  assert.equal(parseDuration('12h'), 43_200)
  assert.equal(parseDuration('90m'), 5_400)
  assert.equal(parseDuration('3600s'), 3_600)
  assert.equal(parseDuration('2w'), 1_209_600)
  assert.equal(parseDuration('45'), 45)
  for (const bad of ['0s', '1y', '-5m', '1.5h', 'h']) assert.throws(() => parseDuration(bad), InvalidInputError, bad)
})
