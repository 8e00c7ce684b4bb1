/**
 * Secure aggregation, the arithmetic of Bonawitz et al. 2017, "Practical Secure Aggregation for
 * Privacy-Preserving Machine Learning" (CCS), with double masking and dropout recovery. Transport,
 * signatures and the round state machine live elsewhere; these are pure functions.
 *
 * 1. Each participant u has an X25519 key pair (s_u^SK, s_u^PK) for this round and a random
 *    32-byte self-mask seed b_u; it publishes s_u^PK.
 * 2. It Shamir-shares s_u^SK and b_u among the participants ({@link shareSeed}), threshold t.
 * 3. It quantizes its vector to integers mod 2^32 ({@link quantize}) and sends
 *      y_u = x_u + PRG(b_u) + Σ_{v > u} PRG(s_uv) − Σ_{v < u} PRG(s_uv)   (mod 2^32)
 *    where s_uv = SHA-256(X25519(s_u^SK, s_v^PK), ids, context) is the seed u and v agree on and
 *    "v > u" compares ids ({@link createMaskedUpdate}). Pairwise masks cancel in the sum.
 * 4. Unmasking: for each survivor (y received) the survivors reveal shares of b_u; for each
 *    participant that dropped after step 2 they reveal shares of s_u^SK — never both for the same
 *    u. The server reconstructs them ({@link reconstructSeed}) and removes the self masks and the
 *    dropped participants' pairwise masks: what remains is Σ x_u over survivors, exactly
 *    ({@link unmaskSum}); {@link dequantizeSum} maps it back to floats.
 *
 * Masks are ChaCha20 keystreams (see prng.ts) read as uint32 words. Quantization is fixed point:
 * q = round(clamp(x, −clip, clip) · scale) as a two's-complement int32; the sum of n such values
 * is exact as long as n · clip · scale < 2^31, which {@link quantizationConfig} guarantees.
 */
import { createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { InvalidInputError } from '../../errors.ts'
import { compareIds } from '../strategies/common.ts'
import { checkSeed, prgUint32, SEED_BYTES } from './prng.ts'
import { combineShares, splitSecret, type RandomBytes, type Share } from './shamir.ts'

const KEY_BYTES = 32
const PKCS8_X25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const SPKI_X25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])
const PAIR_SEED_DOMAIN = 'mycelium/secagg/v1/pair-seed'
const INT32_LIMIT = 2 ** 31

export interface SecAggKeyPair {
  /** Raw 32-byte X25519 public key. */
  publicKey: Uint8Array
  /** Raw 32-byte X25519 private key: the secret shared with Shamir for dropout recovery. */
  privateKey: Uint8Array
}

export interface SecAggPeer {
  id: string
  /** Raw 32-byte X25519 public key. */
  publicKey: Uint8Array
}

/** A fresh X25519 key pair (node:crypto). Use a new one every round. */
export function generateSecAggKeyPair (): SecAggKeyPair {
  const { privateKey } = generateKeyPairSync('x25519')
  const raw = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })).subarray(PKCS8_X25519_PREFIX.length)
  return { privateKey: raw.slice(), publicKey: secAggPublicKey(raw) }
}

/** A fresh random 32-byte self-mask seed b_u. */
export function generateSelfMaskSeed (): Uint8Array {
  return new Uint8Array(randomBytes(SEED_BYTES))
}

/** The raw public key of a raw X25519 private key. */
export function secAggPublicKey (privateKey: Uint8Array): Uint8Array {
  const spki = new Uint8Array(createPublicKey(privateKeyObject(privateKey)).export({ format: 'der', type: 'spki' }))
  return spki.slice(SPKI_X25519_PREFIX.length)
}

function privateKeyObject (raw: Uint8Array): KeyObject {
  if (!(raw instanceof Uint8Array) || raw.length !== KEY_BYTES) throw new InvalidInputError(`an X25519 private key must be ${KEY_BYTES} bytes`)
  const der = new Uint8Array(PKCS8_X25519_PREFIX.length + KEY_BYTES)
  der.set(PKCS8_X25519_PREFIX)
  der.set(raw, PKCS8_X25519_PREFIX.length)
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' })
}

function publicKeyObject (raw: Uint8Array, owner: string): KeyObject {
  if (!(raw instanceof Uint8Array) || raw.length !== KEY_BYTES) throw new InvalidInputError(`participant '${owner}' has no valid ${KEY_BYTES}-byte X25519 public key`)
  const der = new Uint8Array(SPKI_X25519_PREFIX.length + KEY_BYTES)
  der.set(SPKI_X25519_PREFIX)
  der.set(raw, SPKI_X25519_PREFIX.length)
  return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' })
}

/**
 * s_uv = SHA-256(domain ‖ context ‖ smaller id ‖ larger id ‖ X25519(sk_u, pk_v)), every string
 * length-prefixed (uint32 BE). u and v compute the same seed; `context` (job id, round…) keeps
 * seeds of different rounds apart even if keys were reused.
 */
export function pairwiseSeed (self: { id: string, privateKey: Uint8Array }, peer: SecAggPeer, context: string): Uint8Array {
  if (self.id === peer.id) throw new InvalidInputError(`participant '${self.id}' cannot agree a mask with itself`)
  let shared: Uint8Array
  try {
    shared = new Uint8Array(diffieHellman({ privateKey: privateKeyObject(self.privateKey), publicKey: publicKeyObject(peer.publicKey, peer.id) }))
  } catch (err) {
    if (err instanceof InvalidInputError) throw err
    throw new InvalidInputError(`X25519 key agreement between '${self.id}' and '${peer.id}' failed`, { cause: err, hint: `Participant '${peer.id}' published an invalid (e.g. low-order) public key; exclude it from the round.` })
  }
  const [low, high] = compareIds(self.id, peer.id) < 0 ? [self.id, peer.id] : [peer.id, self.id]
  const hash = createHash('sha256')
  for (const part of [PAIR_SEED_DOMAIN, context, low, high]) {
    const bytes = Buffer.from(part, 'utf8')
    const length = Buffer.alloc(4)
    length.writeUInt32BE(bytes.length)
    hash.update(length).update(bytes)
  }
  hash.update(shared)
  return new Uint8Array(hash.digest())
}

// --- quantization ------------------------------------------------------------------------------

export interface QuantizationConfig {
  /** Values are clamped to [−clip, clip] before scaling. */
  clip: number
  /** Fixed-point scale: q = round(x · scale). */
  scale: number
}

/**
 * The largest power-of-two scale for which the sum of `maxParticipants` values in [−clip, clip]
 * is exact: maxParticipants · clip · scale < 2^31. E.g. clip 1, 1000 participants → scale 2^20
 * (resolution ≈ 1e-6).
 */
export function quantizationConfig (params: { clip: number, maxParticipants: number }): QuantizationConfig {
  const { clip, maxParticipants } = params
  if (!(clip > 0 && Number.isFinite(clip))) throw new InvalidInputError(`clip must be a positive number, got ${String(clip)}`)
  if (!Number.isSafeInteger(maxParticipants) || maxParticipants < 1) throw new InvalidInputError(`maxParticipants must be a positive integer, got ${String(maxParticipants)}`)
  const exponent = Math.floor(Math.log2((INT32_LIMIT - 1) / (maxParticipants * clip)))
  let scale = 2 ** exponent
  // Guard against log2 rounding up at an exact power of two.
  while (maxParticipants * (Math.round(clip * scale) + 1) >= INT32_LIMIT) scale /= 2
  if (scale < 1) throw new InvalidInputError(`clip ${clip} with ${maxParticipants} participants leaves no integer resolution`, { hint: 'Lower the clip range (e.g. clip deltas with DP first) or the participant count.' })
  return { clip, scale }
}

function checkQuantization (config: QuantizationConfig): void {
  if (!(config?.clip > 0 && Number.isFinite(config.clip) && config.scale > 0 && Number.isFinite(config.scale))) {
    throw new InvalidInputError('quantization needs a positive finite clip and scale (see quantizationConfig)')
  }
}

/** round(clamp(x, −clip, clip) · scale) as int32, stored mod 2^32. NaN is an error. */
export function quantize (values: Float32Array | Float64Array, config: QuantizationConfig): Uint32Array {
  checkQuantization(config)
  const { clip, scale } = config
  const out = new Uint32Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (Number.isNaN(v)) throw new InvalidInputError(`cannot quantize NaN (element ${i})`)
    const clamped = v > clip ? clip : v < -clip ? -clip : v
    out[i] = Math.round(clamped * scale) // Uint32Array stores ToUint32: negatives wrap mod 2^32.
  }
  return out
}

/** Σ values as floats: each word read as a two's-complement int32, divided by scale. */
export function dequantizeSum (sum: Uint32Array, config: QuantizationConfig): Float64Array {
  checkQuantization(config)
  const signed = new Int32Array(sum.buffer, sum.byteOffset, sum.length)
  const out = new Float64Array(sum.length)
  for (let i = 0; i < sum.length; i++) out[i] = signed[i] / config.scale
  return out
}

// --- masking -----------------------------------------------------------------------------------

export interface MaskingInput {
  self: { id: string, privateKey: Uint8Array }
  /** b_u: seed of the self mask. */
  selfMaskSeed: Uint8Array
  /** Every other participant that published a key this round. */
  peers: readonly SecAggPeer[]
  /** The quantized vector (see {@link quantize}). */
  input: Uint32Array
  /** Binds the masks to this round (job id, round number). */
  context: string
}

/** y_u = x_u + PRG(b_u) + Σ_{v > u} PRG(s_uv) − Σ_{v < u} PRG(s_uv)  (mod 2^32). */
export function createMaskedUpdate (params: MaskingInput): Uint32Array {
  const { self, peers, input, context } = params
  checkSeed(params.selfMaskSeed, 'selfMaskSeed')
  if (!(input instanceof Uint32Array)) throw new InvalidInputError('input must be a Uint32Array of quantized values (see quantize)')
  checkPeers([self.id, ...peers.map((peer) => peer.id)])
  const masked = input.slice()
  addInPlace(masked, prgUint32(params.selfMaskSeed, input.length))
  for (const peer of peers) {
    const mask = prgUint32(pairwiseSeed(self, peer, context), input.length)
    if (compareIds(self.id, peer.id) < 0) addInPlace(masked, mask)
    else subtractInPlace(masked, mask)
  }
  return masked
}

export interface UnmaskInput {
  context: string
  /** Every participant that published a key (and so may appear in others' masks). */
  participants: readonly SecAggPeer[]
  /** The masked vectors received (the survivors). */
  masked: ReadonlyArray<{ id: string, values: Uint32Array }>
  /** b_u reconstructed for every survivor. */
  selfMaskSeeds: Readonly<Record<string, Uint8Array>>
  /** s_u^SK reconstructed for every participant whose masked vector did not arrive. */
  droppedPrivateKeys: Readonly<Record<string, Uint8Array>>
}

/**
 * Σ x_u over the survivors (mod 2^32): Σ y_u − Σ PRG(b_u) − the dropped participants' pairwise
 * masks left in the survivors' vectors. Refuses to hold both secrets of one participant (that
 * would unmask its individual vector) and checks each reconstructed private key against the
 * participant's published public key.
 */
export function unmaskSum (params: UnmaskInput): Uint32Array {
  const { context, participants, masked, selfMaskSeeds, droppedPrivateKeys } = params
  checkPeers(participants.map((peer) => peer.id))
  const byId = new Map(participants.map((peer) => [peer.id, peer]))
  if (masked.length === 0) throw new InvalidInputError('no masked vectors to sum')
  const length = masked[0].values.length
  const survivors = new Set<string>()
  for (const entry of masked) {
    if (!byId.has(entry.id)) throw new InvalidInputError(`masked vector from '${entry.id}', who published no key this round`)
    if (survivors.has(entry.id)) throw new InvalidInputError(`two masked vectors from '${entry.id}'`)
    if (entry.values.length !== length) throw new InvalidInputError(`masked vector from '${entry.id}' has ${entry.values.length} values, expected ${length}`)
    survivors.add(entry.id)
  }
  const dropped = participants.filter((peer) => !survivors.has(peer.id))
  for (const id of Object.keys(droppedPrivateKeys)) {
    if (survivors.has(id)) {
      throw new InvalidInputError(`refusing the private key of '${id}', whose masked vector arrived`, { hint: 'Revealing both secrets of a survivor would expose its individual update: survivors reveal b_u shares only.' })
    }
  }
  for (const id of Object.keys(selfMaskSeeds)) {
    if (!survivors.has(id)) throw new InvalidInputError(`refusing the self-mask seed of '${id}', whose masked vector did not arrive`, { hint: 'For a dropped participant only its private key is reconstructed.' })
  }

  const sum = new Uint32Array(length)
  for (const entry of [...masked].sort((a, b) => compareIds(a.id, b.id))) {
    addInPlace(sum, entry.values)
    const seed = selfMaskSeeds[entry.id]
    if (seed === undefined) throw new InvalidInputError(`missing the self-mask seed of survivor '${entry.id}'`, { hint: 'Reconstruct it from the survivors\' shares with reconstructSeed.' })
    subtractInPlace(sum, prgUint32(checkSeed(seed, `self-mask seed of '${entry.id}'`), length))
  }
  for (const peer of dropped) {
    const privateKey = droppedPrivateKeys[peer.id]
    if (privateKey === undefined) throw new InvalidInputError(`missing the private key of dropped participant '${peer.id}'`, { hint: 'Reconstruct it from the survivors\' shares with reconstructSeed.' })
    const publicKey = secAggPublicKey(privateKey)
    if (!equalBytes(publicKey, peer.publicKey)) {
      throw new InvalidInputError(`the reconstructed private key of '${peer.id}' does not match its public key`, { hint: 'Some shares are wrong (or fewer than the threshold were used); collect shares from other survivors.' })
    }
    for (const survivorId of survivors) {
      const mask = prgUint32(pairwiseSeed({ id: peer.id, privateKey }, byId.get(survivorId)!, context), length)
      // The survivor added the pair's mask when its id is smaller, subtracted it otherwise.
      if (compareIds(survivorId, peer.id) < 0) subtractInPlace(sum, mask)
      else addInPlace(sum, mask)
    }
  }
  return sum
}

// --- seed sharing ------------------------------------------------------------------------------

export interface SeedShare extends Share {
  /** The participant holding this share. */
  holderId: string
}

/**
 * Shamir-shares a 32-byte secret (b_u or s_u^SK) among `holders` (ids); holder i of the ids in
 * ascending order gets the share at x = i + 1. Any `threshold` shares reconstruct it.
 */
export function shareSeed (seed: Uint8Array, params: { holders: readonly string[], threshold: number, random?: RandomBytes }): SeedShare[] {
  checkSeed(seed, 'the secret to share')
  checkPeers(params.holders)
  const holders = [...params.holders].sort(compareIds)
  const shares = splitSecret(seed, { threshold: params.threshold, points: holders.map((_, i) => i + 1), ...(params.random !== undefined ? { random: params.random } : {}) })
  return shares.map((share, i) => ({ ...share, holderId: holders[i] }))
}

/** The 32-byte secret from at least `threshold` shares (see {@link combineShares}). */
export function reconstructSeed (shares: readonly SeedShare[], threshold: number): Uint8Array {
  return combineShares(shares, { threshold, length: SEED_BYTES })
}

// --- helpers -------------------------------------------------------------------------------------

function checkPeers (ids: readonly string[]): void {
  const seen = new Set<string>()
  for (const id of ids) {
    if (typeof id !== 'string' || id === '') throw new InvalidInputError('participant ids must be non-empty strings')
    if (seen.has(id)) throw new InvalidInputError(`participant '${id}' appears twice`)
    seen.add(id)
  }
}

function addInPlace (target: Uint32Array, values: Uint32Array): void {
  for (let i = 0; i < target.length; i++) target[i] = target[i] + values[i]
}

function subtractInPlace (target: Uint32Array, values: Uint32Array): void {
  for (let i = 0; i < target.length; i++) target[i] = target[i] - values[i]
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i])
}
