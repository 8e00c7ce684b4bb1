import { hashMessage, type Hex } from 'viem'
import { recoverDigestSigner } from '../../identity/secp256k1.ts'
import { isRevert } from '../../ledger/errors.ts'
import { advertiseMaskingKeys, getMaskingKeys, publishKeyShares, type RoundMaskingKeys } from '../../ledger/actions/maskingKeys.ts'
import { logger } from '../../utils/logger.ts'
import { secAggPublicKey } from '../privacy/secureAggregation.ts'
import { FL_FETCH_TIMEOUT_MS, FL_REVEAL_REBROADCAST_MS, MAX_TASK_SPEC_BYTES } from './constants.ts'
import { readJobFile, storeJobFile } from './jobFiles.ts'
import {
  createMaskedUpdateFile,
  createRevealFile,
  createRoundSecrets,
  createSharesFile,
  openShares,
  parseRevealFile,
  quantizationFor,
  readMaskedUpdateFile,
  roundContext,
  shareThreshold,
  unmaskRound,
  type Masker,
  type RevealFile,
  type RoundSecrets
} from './secureRound.ts'
import type { Job } from '../../ledger/actions/getJob.ts'
import type { Round } from '../../ledger/actions/getRound.ts'
import type { ModelWeights } from '../tensors.ts'
import type { JobRunnerComponents } from './jobRunner.ts'
import type { RoundRecord } from './jobState.ts'
import type { TaskSpec } from './taskSpec.ts'

const log = logger('fl:secagg')

const MISSED_KEY_PHASE = 'the round\'s masking set closed before this node advertised its keys'
const MISSED_SHARES_PHASE = 'the round\'s maskers settled before this node published its key shares'

/** What a participant must do before it may commit its masked update. */
export type Preparation = { ready: true, maskers: Masker[] } | { ready: false, phase: string } | { ready: false, missed: string }

/**
 * The secure-aggregation side of a job's rounds (see secureRound.ts for the protocol): advertising
 * keys, publishing encrypted key shares, masking the update, revealing shares once the round's
 * survivors are known, and unmasking the sum from a threshold of reveals.
 */
export class SecureRoundDriver {
  private readonly components: JobRunnerComponents
  private readonly jobId: bigint
  private readonly persist: () => void
  private readonly signal: AbortSignal
  /** Reveal files heard of, per round: CID → parsed once fetched. */
  private readonly reveals = new Map<number, Map<string, RevealFile | undefined>>()

  constructor (components: JobRunnerComponents, init: { jobId: bigint, persist: () => void, signal: AbortSignal }) {
    this.components = components
    this.jobId = init.jobId
    this.persist = init.persist
    this.signal = init.signal
  }

  private get self (): string {
    return this.components.ledger.account!.address
  }

  private context (round: number): string {
    return roundContext(`${this.components.ledger.chainId}/${this.components.ledger.addresses.federatedRounds ?? ''}/${this.jobId}`, round)
  }

  /** A peer said it revealed: remember the file to fetch. */
  heard (round: number, cid: string): void {
    const known = this.reveals.get(round) ?? new Map<string, RevealFile | undefined>()
    if (!known.has(cid)) known.set(cid, undefined)
    this.reveals.set(round, known)
  }

  /** Steps 1 and 2: keys advertised, shares published, the maskers settled. */
  async prepare (round: Round, record: RoundRecord): Promise<Preparation> {
    const keys = await getMaskingKeys(this.components.ledger, { jobId: this.jobId, round: round.round }, { signal: this.signal })
    const state = record.secure ??= {}
    if (state.secrets == null) {
      if (keys.keyPhaseClosed) return { ready: false, missed: MISSED_KEY_PHASE }
      // Kept before the transaction, so a restart never advertises a second set of keys.
      state.secrets = storeSecrets(createRoundSecrets())
      this.persist()
    }
    const secrets = loadSecrets(state.secrets)
    const mine = keys.members.find(m => m.participant === this.self)
    if (mine == null) {
      if (keys.keyPhaseClosed) return { ready: false, missed: MISSED_KEY_PHASE }
      try {
        await advertiseMaskingKeys(this.components.ledger, { jobId: this.jobId, round: round.round, encryptionKey: secrets.encryption.publicKey, maskingKey: secrets.masking.publicKey }, { signal: this.signal })
      } catch (err) {
        if (isRevert(err, 'KeyPhaseClosed')) return { ready: false, missed: MISSED_KEY_PHASE }
        throw err
      }
      return { ready: false, phase: 'waiting for the masking set' }
    }
    if (!keys.keyPhaseClosed) return { ready: false, phase: 'waiting for the masking set' }
    if (mine.sharesCid == null) {
      if (keys.sharesPhaseClosed) return { ready: false, missed: MISSED_SHARES_PHASE }
      const bytes = createSharesFile({ context: this.context(round.round), self: this.self, secrets, members: membersOf(keys) })
      const cid = (await storeJobFile(this.components, bytes, `fl job ${this.jobId} shares ${round.round}`, { signal: this.signal })).toString()
      try {
        await publishKeyShares(this.components.ledger, { jobId: this.jobId, round: round.round, sharesCid: cid }, { signal: this.signal })
      } catch (err) {
        if (isRevert(err, 'SharesPhaseClosed')) return { ready: false, missed: MISSED_SHARES_PHASE }
        throw err
      }
      void this.components.messenger.broadcast({ type: 'update', jobId: this.jobId.toString(), round: round.round, cid })
      return { ready: false, phase: 'waiting for the maskers' }
    }
    if (!keys.sharesPhaseClosed) return { ready: false, phase: 'waiting for the maskers' }
    return { ready: true, maskers: maskersOf(keys) }
  }

  /** Step 3: the update as this node commits it — masked, so nobody can read it alone. */
  maskedUpdate (job: Job, spec: TaskSpec, round: number, record: RoundRecord, weights: ModelWeights, global: ModelWeights, maskers: Masker[]): Uint8Array {
    return createMaskedUpdateFile({
      weights,
      global,
      quantization: quantizationFor(spec.secureAggregation!, job.participantsWanted),
      self: this.self,
      secrets: loadSecrets(record.secure!.secrets!),
      maskers,
      context: this.context(round)
    })
  }

  /**
   * Step 4 and the sum: reveals this node's shares if it survived, collects reveals, and once a
   * threshold of survivors revealed, unmasks the survivors' mean. Undefined while waiting for reveals.
   */
  async aggregate (job: Job, spec: TaskSpec, round: Round, record: RoundRecord, global: ModelWeights, parameters: number): Promise<{ weights: ModelWeights, survivors: string[], outsiders: string[] } | undefined> {
    const keys = await getMaskingKeys(this.components.ledger, { jobId: this.jobId, round: round.round }, { signal: this.signal })
    const maskers = maskersOf(keys)
    const maskerIds = new Set(maskers.map(m => m.participant))
    const survivors = round.commitments.filter(c => maskerIds.has(c.participant)).map((c): string => c.participant)
    const outsiders = round.commitments.filter(c => !maskerIds.has(c.participant)).map((c): string => c.participant)
    const dropped = maskers.filter(m => !survivors.includes(m.participant)).map(m => m.participant)
    if (survivors.length === 0) return { weights: global, survivors, outsiders }
    const context = this.context(round.round)
    if (survivors.includes(this.self)) await this.reveal(round.round, record, maskers, survivors, dropped, context)

    const collected = await this.collectReveals(round.round, context, new Set(survivors))
    const threshold = shareThreshold(maskers.length)
    if (collected.length < threshold) {
      log('job %s round %d: %d of %d reveals', this.jobId, round.round, collected.length, threshold)
      return undefined
    }
    const masked = await Promise.all(round.commitments.filter(c => maskerIds.has(c.participant)).map(async c => ({
      id: c.participant,
      values: readMaskedUpdateFile(await readJobFile(this.components, c.updateCid, { maxBytes: parameters * 4, label: `fl job ${this.jobId} update ${round.round}`, timeoutMs: FL_FETCH_TIMEOUT_MS, signal: this.signal }), parameters)
    })))
    const weights = unmaskRound({ global, maskers, masked, reveals: collected, quantization: quantizationFor(spec.secureAggregation!, job.participantsWanted), context })
    return { weights, survivors, outsiders }
  }

  private async reveal (round: number, record: RoundRecord, maskers: Array<Masker & { sharesCid?: string }>, survivors: string[], dropped: string[], context: string): Promise<void> {
    const state = record.secure ??= {}
    if (state.revealCid == null) {
      const secrets = loadSecrets(state.secrets!)
      const opened = new Map<string, ReturnType<typeof openShares>>()
      for (const masker of maskers) {
        const sharesCid = masker.sharesCid!
        try {
          const bytes = await readJobFile(this.components, sharesCid, { maxBytes: MAX_TASK_SPEC_BYTES, label: `fl job ${this.jobId} shares ${round}`, signal: this.signal })
          opened.set(masker.participant, openShares({ bytes, context, from: masker, self: this.self, secrets }))
        } catch (err: any) {
          if (this.signal.aborted) throw err
          log.error('job %s round %d: the key shares of %s: %s', this.jobId, round, masker.participant, err.shortMessage ?? err.message)
        }
      }
      const reveal = createRevealFile({ context, self: this.self, survivors, dropped, opened })
      const body = JSON.stringify(reveal)
      const signature = await this.components.ledger.account!.signMessage!({ message: body })
      const cid = await storeJobFile(this.components, new TextEncoder().encode(JSON.stringify({ reveal: body, signature })), `fl job ${this.jobId} reveal ${round}`, { signal: this.signal })
      state.revealCid = cid.toString()
      this.persist()
      this.heard(round, state.revealCid)
    }
    // Repeated until the round ends: aggregators that missed a hint still hear of the reveal.
    if (state.revealedAt == null || Date.now() - state.revealedAt > FL_REVEAL_REBROADCAST_MS) {
      state.revealedAt = Date.now()
      void this.components.messenger.broadcast({ type: 'reveal', jobId: this.jobId.toString(), round, cid: state.revealCid })
    }
  }

  /** The reveals heard of, fetched and checked: signed by the survivor they claim to be from. */
  private async collectReveals (round: number, context: string, survivors: Set<string>): Promise<RevealFile[]> {
    const known = this.reveals.get(round) ?? new Map<string, RevealFile | undefined>()
    await Promise.all([...known.entries()].filter(([, parsed]) => parsed == null).map(async ([cid]) => {
      try {
        const bytes = await readJobFile(this.components, cid, { maxBytes: MAX_TASK_SPEC_BYTES, label: `fl job ${this.jobId} reveal ${round}`, timeoutMs: 5_000, signal: this.signal })
        const envelope = JSON.parse(new TextDecoder().decode(bytes)) as { reveal: string, signature: Hex }
        const reveal = parseRevealFile(JSON.parse(envelope.reveal), context)
        const signer = recoverDigestSigner(hashMessage(envelope.reveal), envelope.signature)
        if (signer !== reveal.from || !survivors.has(reveal.from)) throw new Error(`signed by ${signer}, claims ${reveal.from}`)
        known.set(cid, reveal)
      } catch (err: any) {
        if (this.signal.aborted) throw err
        log('job %s round %d: ignoring reveal %s: %s', this.jobId, round, cid, err.shortMessage ?? err.message)
        known.delete(cid)
      }
    }))
    this.reveals.set(round, known)
    const bySurvivor = new Map<string, RevealFile>()
    for (const reveal of known.values()) if (reveal != null) bySurvivor.set(reveal.from, reveal)
    return [...bySurvivor.values()]
  }
}

function membersOf (keys: RoundMaskingKeys): Masker[] {
  return keys.members.map(m => ({ participant: m.participant, encryptionKey: m.encryptionKey, maskingKey: m.maskingKey }))
}

function maskersOf (keys: RoundMaskingKeys): Array<Masker & { sharesCid?: string }> {
  return keys.members.filter(m => m.sharesCid != null).map(m => ({ participant: m.participant, encryptionKey: m.encryptionKey, maskingKey: m.maskingKey, sharesCid: m.sharesCid }))
}

function storeSecrets (secrets: RoundSecrets): Record<string, string> {
  const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
  return { encryption: hex(secrets.encryption.privateKey), masking: hex(secrets.masking.privateKey), selfMaskSeed: hex(secrets.selfMaskSeed) }
}

function loadSecrets (stored: Record<string, string>): RoundSecrets {
  const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'))
  const pair = (hex: string): RoundSecrets['encryption'] => {
    const privateKey = bytes(hex)
    return { privateKey, publicKey: secAggPublicKey(privateKey) }
  }
  return { encryption: pair(stored.encryption), masking: pair(stored.masking), selfMaskSeed: bytes(stored.selfMaskSeed) }
}

