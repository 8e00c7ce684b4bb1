import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ChaChaRng } from './prng.ts'
import {
  createMaskedUpdate,
  dequantizeSum,
  generateSecAggKeyPair,
  generateSelfMaskSeed,
  pairwiseSeed,
  quantizationConfig,
  quantize,
  reconstructSeed,
  secAggPublicKey,
  shareSeed,
  unmaskSum,
  type SecAggKeyPair,
  type SecAggPeer,
  type SeedShare
} from './secureAggregation.ts'
import { combineShares, splitSecret } from './shamir.ts'

const CONTEXT = 'job-42/round-3'
const LENGTH = 1000
const THRESHOLD = 3

interface Participant {
  id: string
  keys: SecAggKeyPair
  selfMaskSeed: Uint8Array
  values: Float32Array
}

function participants (ids: string[]): Participant[] {
  const rng = new ChaChaRng(new Uint8Array(32).fill(1))
  return ids.map((id) => ({
    id,
    keys: generateSecAggKeyPair(),
    selfMaskSeed: generateSelfMaskSeed(),
    values: Float32Array.from({ length: LENGTH }, () => 0.3 * rng.nextGaussian())
  }))
}

const peersOf = (all: Participant[]): SecAggPeer[] => all.map((p) => ({ id: p.id, publicKey: p.keys.publicKey }))

/** Shares each participant's two secrets among everyone; returns share lists by owner. */
function distributeShares (all: Participant[]): { privateKeys: Map<string, SeedShare[]>, selfMasks: Map<string, SeedShare[]> } {
  const holders = all.map((p) => p.id)
  return {
    privateKeys: new Map(all.map((p) => [p.id, shareSeed(p.keys.privateKey, { holders, threshold: THRESHOLD })])),
    selfMasks: new Map(all.map((p) => [p.id, shareSeed(p.selfMaskSeed, { holders, threshold: THRESHOLD })]))
  }
}

/** The shares of `owner`'s secret that the given holders reveal. */
const revealed = (shares: SeedShare[], holders: string[]): SeedShare[] => shares.filter((share) => holders.includes(share.holderId))

describe('secure aggregation (Bonawitz et al. 2017)', () => {
  const quantization = quantizationConfig({ clip: 4, maxParticipants: 100 })

  it('picks a scale that keeps the sum of 100 values in [−4, 4] exact in int32', () => {
    // 2^31 / (100 · 4) = 5368709.12 → largest power of two below: 2^22 = 4194304
    assert.deepEqual(quantization, { clip: 4, scale: 2 ** 22 })
    assert.ok(100 * 4 * quantization.scale < 2 ** 31)
  })

  it('quantizes with clamping and round-half-up, two\'s complement mod 2^32', () => {
    const q = quantize(Float32Array.from([0, 1, -1, 0.5 / 2 ** 22, 100, -100]), quantization)
    // 1 → 4194304; −1 → 2^32 − 4194304 = 4290772992; 2^-23 · 2^22 = 0.5 → 1; ±100 clamped to ±4 → ±16777216
    assert.deepEqual([...q], [0, 4194304, 4290772992, 1, 16777216, 4278190080])
    assert.deepEqual([...dequantizeSum(q, quantization)], [0, 1, -1, 2 ** -22, 4, -4])
  })

  it('both ends of a pair derive the same seed; masks cancel when nobody drops out', () => {
    const [a, b] = participants(['alice', 'bob'])
    const ab = pairwiseSeed({ id: a.id, privateKey: a.keys.privateKey }, { id: b.id, publicKey: b.keys.publicKey }, CONTEXT)
    const ba = pairwiseSeed({ id: b.id, privateKey: b.keys.privateKey }, { id: a.id, publicKey: a.keys.publicKey }, CONTEXT)
    assert.deepEqual(ab, ba)
    assert.notDeepEqual(ab, pairwiseSeed({ id: a.id, privateKey: a.keys.privateKey }, { id: b.id, publicKey: b.keys.publicKey }, 'another round'))
    assert.deepEqual(secAggPublicKey(a.keys.privateKey), a.keys.publicKey)
  })

  it('5 participants, one drops after masking: the unmasked sum is exactly the survivors\' quantized sum', () => {
    const all = participants(['carol', 'alice', 'erin', 'bob', 'dave'])
    const peers = peersOf(all)
    const shares = distributeShares(all)
    const inputs = new Map(all.map((p) => [p.id, quantize(p.values, quantization)]))
    const masked = all.map((p) => ({
      id: p.id,
      values: createMaskedUpdate({
        self: { id: p.id, privateKey: p.keys.privateKey },
        selfMaskSeed: p.selfMaskSeed,
        peers: peers.filter((peer) => peer.id !== p.id),
        input: inputs.get(p.id)!,
        context: CONTEXT
      })
    }))
    // A masked vector reveals nothing recognisable of its input.
    const carol = masked.find((m) => m.id === 'carol')!.values
    assert.ok(carol.filter((word, i) => word === inputs.get('carol')![i]).length < 5)

    // Dave masked his vector but drops before sending it.
    const dropped = 'dave'
    const survivors = all.map((p) => p.id).filter((id) => id !== dropped)
    const received = masked.filter((m) => m.id !== dropped)
    // Unmasking round: three survivors (the threshold) answer; they reveal b_u shares of the
    // survivors and s_u^SK shares of Dave, never both for one participant.
    const responders = ['alice', 'bob', 'erin']
    const selfMaskSeeds = Object.fromEntries(survivors.map((id) => [id, reconstructSeed(revealed(shares.selfMasks.get(id)!, responders), THRESHOLD)]))
    const droppedPrivateKeys = { [dropped]: reconstructSeed(revealed(shares.privateKeys.get(dropped)!, responders), THRESHOLD) }
    assert.deepEqual(droppedPrivateKeys[dropped], all.find((p) => p.id === dropped)!.keys.privateKey)

    const sum = unmaskSum({ context: CONTEXT, participants: peers, masked: received, selfMaskSeeds, droppedPrivateKeys })
    const expected = new Uint32Array(LENGTH)
    for (const id of survivors) inputs.get(id)!.forEach((word, i) => { expected[i] += word })
    assert.deepEqual(sum, expected)

    // Back to floats: within the quantization step of the true float sum.
    const floats = dequantizeSum(sum, quantization)
    for (let i = 0; i < LENGTH; i++) {
      const truth = survivors.reduce((total, id) => total + all.find((p) => p.id === id)!.values[i], 0)
      assert.ok(Math.abs(floats[i] - truth) <= survivors.length * 0.5 / quantization.scale + 1e-12)
    }
  })

  it('without dropouts the sum needs only the self-mask seeds', () => {
    const all = participants(['p1', 'p2', 'p3'])
    const peers = peersOf(all)
    const inputs = all.map((p) => quantize(p.values, quantization))
    const masked = all.map((p, k) => ({ id: p.id, values: createMaskedUpdate({ self: { id: p.id, privateKey: p.keys.privateKey }, selfMaskSeed: p.selfMaskSeed, peers: peers.filter((peer) => peer.id !== p.id), input: inputs[k], context: CONTEXT }) }))
    const sum = unmaskSum({ context: CONTEXT, participants: peers, masked, selfMaskSeeds: Object.fromEntries(all.map((p) => [p.id, p.selfMaskSeed])), droppedPrivateKeys: {} })
    const expected = new Uint32Array(LENGTH)
    for (const input of inputs) input.forEach((word, i) => { expected[i] += word })
    assert.deepEqual(sum, expected)
  })

  it('fewer than t shares cannot reconstruct, and a wrong key is caught against the public key', () => {
    const all = participants(['alice', 'bob', 'carol', 'dave', 'erin'])
    const shares = distributeShares(all)
    const two = revealed(shares.privateKeys.get('dave')!, ['alice', 'bob'])
    assert.throws(() => reconstructSeed(two, THRESHOLD), /cannot reconstruct the secret from 2 shares: 3 are needed/)
    // Lying about the threshold: the line through 2 points of a degree-2 polynomial hits 0 at an
    // essentially uniform field element, which (with probability 1 − 2^-265) is not a 32-byte value.
    assert.throws(() => reconstructSeed(two, 2), /does not fit in 32 bytes/)
    // Any wrong 32-byte key (here: erin's) is rejected before it can corrupt the sum.
    const peers = peersOf(all)
    assert.throws(() => unmaskSum({
      context: CONTEXT,
      participants: peers,
      masked: all.filter((p) => p.id !== 'dave').map((p) => ({ id: p.id, values: new Uint32Array(LENGTH) })),
      selfMaskSeeds: Object.fromEntries(all.filter((p) => p.id !== 'dave').map((p) => [p.id, p.selfMaskSeed])),
      droppedPrivateKeys: { dave: all[4].keys.privateKey }
    }), /the reconstructed private key of 'dave' does not match its public key/)
  })

  it('refuses to learn both secrets of one participant', () => {
    const all = participants(['alice', 'bob', 'carol'])
    const peers = peersOf(all)
    assert.throws(() => unmaskSum({
      context: CONTEXT,
      participants: peers,
      masked: all.map((p) => ({ id: p.id, values: new Uint32Array(LENGTH) })),
      selfMaskSeeds: Object.fromEntries(all.map((p) => [p.id, p.selfMaskSeed])),
      droppedPrivateKeys: { alice: all[0].keys.privateKey }
    }), /refusing the private key of 'alice', whose masked vector arrived/)
  })
})

describe('Shamir secret sharing over GF(2^521 − 1)', () => {
  it('any t of n shares reconstruct; extra shares are checked for consistency', () => {
    const secret = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff)
    const shares = splitSecret(secret, { threshold: 3, points: [1, 2, 3, 4, 5] })
    for (const subset of [[0, 1, 2], [0, 2, 4], [4, 3, 1], [0, 1, 2, 3, 4]]) {
      assert.deepEqual(combineShares(subset.map((i) => shares[i]), { threshold: 3, length: 32 }), secret)
    }
    const tampered = shares.map((share) => ({ ...share, y: share.y.slice() }))
    tampered[4].y[65] ^= 1
    assert.throws(() => combineShares(tampered, { threshold: 3, length: 32 }), /share 5 is inconsistent with the others/)
  })

  it('with a fixed random source: f(x) = s + a·x, checked by hand', () => {
    // t = 2 and the coefficient a = 5 (random bytes ...0005): f(1) = s + 5, f(2) = s + 10 with s = 7.
    const random = (length: number): Uint8Array => { const out = new Uint8Array(length); out[length - 1] = 5; return out }
    const shares = splitSecret(Uint8Array.from([7]), { threshold: 2, points: [1, 2], random })
    assert.deepEqual(shares.map((share) => share.y[65]), [12, 17])
    assert.deepEqual(combineShares(shares, { threshold: 2, length: 1 }), Uint8Array.from([7]))
  })
})
