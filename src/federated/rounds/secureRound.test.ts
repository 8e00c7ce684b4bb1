import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { encodeSafetensors, type ModelWeights } from '../tensors.ts'
import { createMaskedUpdateFile, createRevealFile, createRoundSecrets, createSharesFile, openShares, parseRevealFile, quantizationFor, readMaskedUpdateFile, roundContext, unmaskRound, type Masker } from './secureRound.ts'

const global: ModelWeights = [{ name: 'w', shape: [2, 3], data: Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.5, 0.6) }, { name: 'b', shape: [2], data: Float32Array.of(0, 0) }]
const plus = (d: number): ModelWeights => global.map(t => ({ ...t, data: t.data.map((v, i) => v + d * (i + 1)) }))

describe('secure aggregation in a round', () => {
  test('survivors\' mean delta, exactly, with a masker dropped after sharing; no aggregator sees an update', () => {
    const ids = ['0xa1', '0xb2', '0xc3', '0xd4', '0xe5']
    const secrets = new Map(ids.map(id => [id, createRoundSecrets()]))
    const maskers: Masker[] = ids.map(id => ({ participant: id, encryptionKey: secrets.get(id)!.encryption.publicKey, maskingKey: secrets.get(id)!.masking.publicKey }))
    const context = roundContext('chain/1/job/7', 2)
    const shares = new Map(ids.map(id => [id, createSharesFile({ context, self: id, secrets: secrets.get(id)!, members: maskers })]))
    const quantization = quantizationFor({ clip: 1 }, 5)
    const deltas = new Map([['0xa1', 0.01], ['0xb2', -0.02], ['0xc3', 0.04], ['0xd4', 0.5], ['0xe5', 0.03]])
    // 0xd4 shared its keys, then dropped before committing its masked update.
    const survivors = ['0xa1', '0xb2', '0xc3', '0xe5']
    const masked = survivors.map(id => ({
      id,
      values: readMaskedUpdateFile(createMaskedUpdateFile({ weights: plus(deltas.get(id)!), global, quantization, self: id, secrets: secrets.get(id)!, maskers, context }), 8)
    }))
    // A masked vector alone is noise: nothing like the quantized delta.
    assert.notEqual(masked[0].values[0], Math.round(0.01 * quantization.scale))

    const reveals = survivors.map(self => {
      const opened = new Map(maskers.map(from => [from.participant, openShares({ bytes: shares.get(from.participant)!, context, from, self, secrets: secrets.get(self)! })]))
      return parseRevealFile(JSON.parse(JSON.stringify(createRevealFile({ context, self, survivors, dropped: ['0xd4'], opened }))), context)
    })
    assert.equal(Object.keys(reveals[0].maskingKeyShares).join(), '0xd4', 'a dropped masker\'s key is revealed, never a survivor\'s')
    const one = unmaskRound({ global, maskers, masked, reveals: reveals.slice(0, 3), quantization, context })
    const other = unmaskRound({ global, maskers, masked, reveals: reveals.slice(1), quantization, context })
    assert.deepEqual(encodeSafetensors(one), encodeSafetensors(other), 'any threshold of reveals gives the same bytes')
    const mean = (0.01 - 0.02 + 0.04 + 0.03) / 4
    one.forEach((t, k) => t.data.forEach((v, i) => assert.ok(Math.abs(v - (global[k].data[i] + mean * (i + 1))) < 1e-5)))
    assert.throws(() => unmaskRound({ global, maskers, masked, reveals: reveals.slice(0, 2), quantization, context }), /Only 2 of the 3 shares/)
  })

  test('shares are only readable by their holder', () => {
    const [a, b, c] = [createRoundSecrets(), createRoundSecrets(), createRoundSecrets()]
    const maskers: Masker[] = [['0xa', a], ['0xb', b]].map(([id, s]: any) => ({ participant: id, encryptionKey: s.encryption.publicKey, maskingKey: s.masking.publicKey }))
    const bytes = createSharesFile({ context: 'x', self: '0xa', secrets: a, members: maskers })
    assert.doesNotThrow(() => openShares({ bytes, context: 'x', from: maskers[0], self: '0xb', secrets: b }))
    assert.throws(() => openShares({ bytes, context: 'x', from: maskers[0], self: '0xb', secrets: c }), /do not decrypt/)
    assert.throws(() => openShares({ bytes, context: 'y', from: maskers[0], self: '0xb', secrets: b }), /not for this round/)
  })
})
