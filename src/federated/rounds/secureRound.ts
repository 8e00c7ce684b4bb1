/**
 * Secure aggregation in a node round (Bonawitz et al. 2017, with the chain as the server's memory):
 *
 * 1. Each participant advertises two fresh X25519 public keys on chain (c: encrypts key shares, s:
 *    agrees pairwise masks). The contract closes the masking set when all advertised or after a
 *    quarter of the round.
 * 2. It Shamir-shares its masking secret s_u and a fresh self-mask seed b_u among the set, encrypts
 *    each holder's shares to that holder (AES-256-GCM, key from X25519(c_u, c_v)) in one file, and
 *    publishes its CID on chain. Those who published by half-time are the round's maskers.
 * 3. It commits its masked update: its quantized delta plus PRG(b_u) plus the pairwise masks with
 *    every other masker (they cancel in the sum).
 * 4. Each survivor (a masker that committed) reveals, in a file signed by its node key, its share of
 *    b_u for every survivor u and its share of s_u for every masker that did not commit — never both.
 *    Any aggregator with shares from a threshold of survivors removes the masks: what remains is the
 *    exact sum of the survivors' quantized deltas, the same bytes on every aggregator. Individual
 *    updates are never seen by anyone.
 *
 * Pure functions here; the job runner does the I/O.
 */
import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, randomBytes } from 'node:crypto'
import { InvalidInputError } from '../../errors.ts'
import { dequantizeSum, generateSecAggKeyPair, generateSelfMaskSeed, quantizationConfig, quantize, createMaskedUpdate, reconstructSeed, shareSeed, unmaskSum, type QuantizationConfig, type SecAggKeyPair, type SeedShare } from '../privacy/secureAggregation.ts'
import { flatten, unflatten, type ModelWeights } from '../tensors.ts'

export const SHARES_FILE_TYPE = 'mycelium/secagg-shares'
export const REVEAL_FILE_TYPE = 'mycelium/secagg-reveal'
const SHARE_KEY_DOMAIN = 'mycelium/secagg/v1/share-key'
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')

export interface SecureAggregationSpec {
  /** Each coordinate of a delta is clamped to [−clip, clip] before fixed-point quantization. */
  clip: number
}

/** What a participant keeps (privately) for one round. */
export interface RoundSecrets {
  encryption: SecAggKeyPair
  masking: SecAggKeyPair
  selfMaskSeed: Uint8Array
}

export interface Masker { participant: string, encryptionKey: Uint8Array, maskingKey: Uint8Array }

export function createRoundSecrets (): RoundSecrets {
  return { encryption: generateSecAggKeyPair(), masking: generateSecAggKeyPair(), selfMaskSeed: generateSelfMaskSeed() }
}

/** Threshold of shares that reconstruct a secret: a majority of the masking set. */
export function shareThreshold (members: number): number {
  return Math.floor(members / 2) + 1
}

export function roundContext (jobKey: string, round: number): string {
  return `${jobKey}/round/${round}`
}

// ------------------------------------------------------------------ step 2: key shares

interface SharePair { s: { x: number, y: string }, b: { x: number, y: string } }

export interface SharesFile {
  type: typeof SHARES_FILE_TYPE
  context: string
  from: string
  threshold: number
  /** Per holder: nonce and ciphertext (base64) of its shares of s_u and b_u. */
  shares: Record<string, { nonce: string, data: string }>
}

export function createSharesFile (params: { context: string, self: string, secrets: RoundSecrets, members: readonly Masker[] }): Uint8Array {
  const { context, self, secrets, members } = params
  const holders = members.map(m => m.participant)
  const threshold = shareThreshold(holders.length)
  const sShares = shareSeed(secrets.masking.privateKey, { holders, threshold })
  const bShares = shareSeed(secrets.selfMaskSeed, { holders, threshold })
  const shares: SharesFile['shares'] = {}
  for (const member of members) {
    const pair: SharePair = { s: encodeShare(sShares.find(s => s.holderId === member.participant)!), b: encodeShare(bShares.find(s => s.holderId === member.participant)!) }
    const key = shareKey(secrets.encryption.privateKey, member.encryptionKey, context, self, member.participant)
    const nonce = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', key, nonce)
    const data = Buffer.concat([cipher.update(JSON.stringify(pair)), cipher.final(), cipher.getAuthTag()])
    shares[member.participant] = { nonce: nonce.toString('base64'), data: data.toString('base64') }
  }
  const file: SharesFile = { type: SHARES_FILE_TYPE, context, from: self, threshold, shares }
  return new TextEncoder().encode(JSON.stringify(file))
}

/** This holder's shares of `from`'s secrets, decrypted and checked (AES-GCM authenticates them). */
export function openShares (params: { bytes: Uint8Array, context: string, from: Masker, self: string, secrets: RoundSecrets }): { s: SeedShare, b: SeedShare } {
  const { context, from, self, secrets } = params
  let file: SharesFile
  try {
    file = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(params.bytes))
  } catch {
    throw new InvalidInputError(`The key shares of ${from.participant} are not JSON.`)
  }
  if (file?.type !== SHARES_FILE_TYPE || file.context !== context || file.from !== from.participant) throw new InvalidInputError(`The key shares of ${from.participant} are not for this round.`)
  const entry = file.shares?.[self]
  if (entry == null) throw new InvalidInputError(`The key shares of ${from.participant} hold nothing for ${self}.`)
  const key = shareKey(secrets.encryption.privateKey, from.encryptionKey, context, from.participant, self)
  const data = Buffer.from(entry.data, 'base64')
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(entry.nonce, 'base64'))
    decipher.setAuthTag(data.subarray(data.length - 16))
    const pair = JSON.parse(Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8')) as SharePair
    return { s: decodeShare(pair.s, self), b: decodeShare(pair.b, self) }
  } catch {
    throw new InvalidInputError(`The key shares of ${from.participant} for ${self} do not decrypt.`)
  }
}

// ------------------------------------------------------------------ step 3: masked update

export function quantizationFor (spec: SecureAggregationSpec, participants: number): QuantizationConfig {
  return quantizationConfig({ clip: spec.clip, maxParticipants: participants })
}

/** The masked update file: the quantized delta plus the masks, as little-endian uint32 words. */
export function createMaskedUpdateFile (params: { weights: ModelWeights, global: ModelWeights, quantization: QuantizationConfig, self: string, secrets: RoundSecrets, maskers: readonly Masker[], context: string }): Uint8Array {
  const { weights, global, quantization, self, secrets, maskers, context } = params
  const x = flatten(weights)
  const g = flatten(global)
  const delta = new Float64Array(x.length)
  for (let i = 0; i < x.length; i++) delta[i] = x[i] - g[i]
  const masked = createMaskedUpdate({
    self: { id: self, privateKey: secrets.masking.privateKey },
    selfMaskSeed: secrets.selfMaskSeed,
    peers: maskers.filter(m => m.participant !== self).map(m => ({ id: m.participant, publicKey: m.maskingKey })),
    input: quantize(delta, quantization),
    context
  })
  return new Uint8Array(masked.buffer, masked.byteOffset, masked.byteLength)
}

export function readMaskedUpdateFile (bytes: Uint8Array, parameters: number): Uint32Array {
  if (bytes.byteLength !== parameters * 4) throw new InvalidInputError(`A masked update of this model is ${parameters * 4} bytes, not ${bytes.byteLength}.`)
  return new Uint32Array(Uint8Array.prototype.slice.call(bytes).buffer)
}

// ------------------------------------------------------------------ step 4: reveal and unmask

export interface RevealFile {
  type: typeof REVEAL_FILE_TYPE
  context: string
  /** The survivor revealing. */
  from: string
  /** Its share of b_u for each survivor u. */
  selfMaskShares: Record<string, { x: number, y: string }>
  /** Its share of s_u for each masker u that did not commit. */
  maskingKeyShares: Record<string, { x: number, y: string }>
}

export function createRevealFile (params: { context: string, self: string, survivors: readonly string[], dropped: readonly string[], opened: ReadonlyMap<string, { s: SeedShare, b: SeedShare }> }): RevealFile {
  const { context, self, survivors, dropped, opened } = params
  const selfMaskShares: RevealFile['selfMaskShares'] = {}
  const maskingKeyShares: RevealFile['maskingKeyShares'] = {}
  for (const u of survivors) {
    const shares = opened.get(u)
    if (shares != null) selfMaskShares[u] = encodeShare(shares.b)
  }
  for (const u of dropped) {
    const shares = opened.get(u)
    if (shares != null) maskingKeyShares[u] = encodeShare(shares.s)
  }
  return { type: REVEAL_FILE_TYPE, context, from: self, selfMaskShares, maskingKeyShares }
}

export function parseRevealFile (value: unknown, context: string): RevealFile {
  const file = value as RevealFile
  if (file?.type !== REVEAL_FILE_TYPE || file.context !== context || typeof file.from !== 'string' || file.selfMaskShares == null || file.maskingKeyShares == null) {
    throw new InvalidInputError('Not a reveal file of this round.')
  }
  return file
}

/**
 * The survivors' mean delta added to the global weights, from their masked vectors and the reveals
 * of at least a threshold of survivors. Exact integer arithmetic up to the one division: every
 * aggregator gets the same bytes.
 */
export function unmaskRound (params: { global: ModelWeights, maskers: readonly Masker[], masked: ReadonlyArray<{ id: string, values: Uint32Array }>, reveals: readonly RevealFile[], quantization: QuantizationConfig, context: string }): ModelWeights {
  const { global, maskers, masked, reveals, quantization, context } = params
  const threshold = shareThreshold(maskers.length)
  const survivors = new Set(masked.map(m => m.id))
  const sharesOf = (u: string, kind: 'selfMaskShares' | 'maskingKeyShares'): SeedShare[] => reveals
    .filter(r => r[kind][u] != null)
    .sort((a, b) => a.from < b.from ? -1 : a.from > b.from ? 1 : 0)
    .slice(0, threshold)
    .map(r => decodeShare(r[kind][u], r.from))
  const selfMaskSeeds: Record<string, Uint8Array> = {}
  const droppedPrivateKeys: Record<string, Uint8Array> = {}
  for (const m of maskers) {
    const kind = survivors.has(m.participant) ? 'selfMaskShares' : 'maskingKeyShares'
    const shares = sharesOf(m.participant, kind)
    if (shares.length < threshold) throw new InvalidInputError(`Only ${shares.length} of the ${threshold} shares needed to unmask ${m.participant} were revealed.`)
    const secret = reconstructSeed(shares, threshold)
    if (kind === 'selfMaskShares') selfMaskSeeds[m.participant] = secret
    else droppedPrivateKeys[m.participant] = secret
  }
  const sum = unmaskSum({ context, participants: maskers.map(m => ({ id: m.participant, publicKey: m.maskingKey })), masked, selfMaskSeeds, droppedPrivateKeys })
  const deltaSum = dequantizeSum(sum, quantization)
  const g = flatten(global)
  const next = new Float64Array(g.length)
  for (let i = 0; i < g.length; i++) next[i] = g[i] + deltaSum[i] / masked.length
  return unflatten(next, global)
}

// ------------------------------------------------------------------ helpers

function shareKey (privateKey: Uint8Array, peerPublicKey: Uint8Array, context: string, from: string, to: string): Buffer {
  const secret = diffieHellman({
    privateKey: createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, privateKey]), format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, peerPublicKey]), format: 'der', type: 'spki' })
  })
  return createHash('sha256').update(SHARE_KEY_DOMAIN).update('\0').update(context).update('\0').update(from).update('\0').update(to).update('\0').update(secret).digest()
}

function encodeShare (share: SeedShare): { x: number, y: string } {
  return { x: share.x, y: Buffer.from(share.y).toString('base64') }
}

function decodeShare (value: { x: number, y: string }, holderId: string): SeedShare {
  if (!Number.isInteger(value?.x) || typeof value.y !== 'string') throw new InvalidInputError(`A malformed key share from ${holderId}.`)
  return { x: value.x, y: new Uint8Array(Buffer.from(value.y, 'base64')), holderId }
}
