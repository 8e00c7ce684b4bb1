import assert from 'node:assert/strict'
import { SECP256K1_ORDER } from '../../identity/secp256k1.ts'
import { after, before, describe, test } from 'node:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { concat, hexToBigInt, hexToBytes, numberToHex, parseSignature, type Hex, type LocalAccount } from 'viem'
import { startTestLedger, TOKEN, type TestLedger } from '../testHelpers.ts'
import { openChannel } from './openChannel.ts'
import { signVoucher } from './signVoucher.ts'
import { verifyVoucher, type VerifyVoucherParameters } from './verifyVoucher.ts'
import type { Ledger } from '../createLedger.ts'


describe('verifyVoucher against the client\'s known key', () => {
  let t: TestLedger
  let client: Ledger
  let provider: Ledger
  let other: Ledger
  let clientAccount: LocalAccount

  before(async () => {
    t = await startTestLedger({ users: 3 })
    ;[client, provider, other] = await Promise.all(t.users.map(t.as))
    clientAccount = client.account!
  })
  after(async () => { await t.cleanup() })

  const keyOf = (account: LocalAccount): Uint8Array => hexToBytes(account.publicKey)

  test('gives exactly what recovering the signer gives, for genuine, forged and malformed signatures', async () => {
    const { channelId } = await openChannel(client, { provider: provider.account!.address, deposit: 5n * TOKEN, duration: 3_600 })
    const { channelId: otherChannel } = await openChannel(other, { provider: provider.account!.address, deposit: 5n * TOKEN, duration: 3_600 })
    const sign = async (amount: bigint, by: Ledger = client, channel: Hex = channelId): Promise<Hex> => await signVoucher(by.account!, by, { channelId: channel, cumulativeAmount: amount })
    const genuine = await sign(TOKEN)
    const { r, s, v } = parseSignature(genuine)
    const flipV = (signature: Hex): Hex => `${signature.slice(0, 130)}${signature.endsWith('1b') ? '1c' : '1b'}` as Hex
    const highS = concat([r, numberToHex(SECP256K1_ORDER - hexToBigInt(s), { size: 32 }), v === 27n ? '0x1c' : '0x1b'])

    const voucher = (signature: Hex, more: Partial<VerifyVoucherParameters> = {}): VerifyVoucherParameters => ({ channelId, cumulativeAmount: TOKEN, signature, ...more })
    const cases: Array<[string, VerifyVoucherParameters]> = [
      ['genuine', voucher(genuine)],
      ['genuine, not enough', voucher(genuine, { minAmount: 2n * TOKEN })],
      ['genuine, over the deposit', voucher(await sign(6n * TOKEN), { cumulativeAmount: 6n * TOKEN })],
      ['signed for another amount', voucher(genuine, { cumulativeAmount: 2n * TOKEN })],
      ['signed by the provider', voucher(await sign(TOKEN, provider))],
      ['replayed on another channel', voucher(genuine, { channelId: otherChannel })],
      ['another client\'s genuine voucher on its channel', voucher(await sign(TOKEN, other, otherChannel), { channelId: otherChannel })],
      ['unknown channel', voucher(genuine, { channelId: `0x${'11'.repeat(32)}` })],
      ['high-s twin', voucher(highS)],
      ['v as 0/1', voucher(`${genuine.slice(0, 130)}${v === 27n ? '00' : '01'}` as Hex)],
      ['the other recovery bit', voucher(flipV(genuine))],
      ['v = 29', voucher(`${genuine.slice(0, 130)}1d` as Hex)],
      ['64 bytes', voucher(genuine.slice(0, 130) as Hex)],
      ['66 bytes', voucher(`${genuine}00` as Hex)],
      ['r = 0', voucher(`0x${'00'.repeat(32)}${genuine.slice(66)}` as Hex)],
      ['s = 0', voucher(`${genuine.slice(0, 66)}${'00'.repeat(32)}${genuine.slice(130)}` as Hex)],
      ['r = n', voucher(`${numberToHex(SECP256K1_ORDER, { size: 32 })}${genuine.slice(66)}` as Hex)],
      ['not hex', voucher(`0x${'zz'.repeat(65)}` as Hex)],
      ['uppercase hex', voucher(`0x${genuine.slice(2).toUpperCase()}` as Hex)],
      ['empty', voucher('0x')],
      ['short', voucher('0x1234')]
    ]
    const clientKey = keyOf(clientAccount)
    const keys: Array<[string, Uint8Array]> = [
      ['the client\'s key', clientKey],
      ['the client\'s compressed key', secp256k1.Point.fromBytes(clientKey).toBytes(true)],
      ['another peer\'s key', keyOf(other.account!)],
      ['not a key', new Uint8Array([2, 1, 2, 3])]
    ]
    let valid = 0
    for (const [what, parameters] of cases) {
      const recovered = await verifyVoucher(provider, parameters)
      if (recovered.valid) valid++
      for (const [which, key] of keys) {
        assert.deepEqual(await verifyVoucher(provider, { ...parameters, clientKey: key }), recovered, `${what}, with ${which}`)
      }
    }
    assert.equal(valid, 3, 'genuine, another client\'s on its channel, and the uppercase spelling are valid')
    await assert.rejects(verifyVoucher(provider, { ...voucher(genuine, { channelId: '0x1234' }), clientKey }), /expected 32 bytes of hex/)
  })
})
