import path from 'node:path'
import { keccak256, toHex, type Address } from 'viem'
import { InvalidInputError } from '../../errors.ts'
import { isRevert } from '../../ledger/errors.ts'
import { attestAggregate } from '../../ledger/actions/attestAggregate.ts'
import { commitUpdate } from '../../ledger/actions/commitUpdate.ts'
import { getJob, type Job } from '../../ledger/actions/getJob.ts'
import { getRound, type Round } from '../../ledger/actions/getRound.ts'
import { payoutJob } from '../../ledger/actions/payoutJob.ts'
import { postMetric } from '../../ledger/actions/postMetric.ts'
import { rejectUpdate } from '../../ledger/actions/rejectUpdate.ts'
import { publishModel } from '../../registry/publishModel.ts'
import { pullModel, type PullComponents } from '../../registry/pullModel.ts'
import { readModelFileBytes } from '../../registry/readModelFile.ts'
import { logger } from '../../utils/logger.ts'
import { effectiveNoiseMultiplier, privatizeUpdate } from '../privacy/distributedDp.ts'
import { RdpAccountant } from '../privacy/rdp.ts'
import { decodeSafetensors, encodeSafetensors, type ModelWeights } from '../tensors.ts'
import { validateArchitecture } from '../training/architecture.ts'
import { exportOnnx } from '../training/exportOnnx.ts'
import { runExternalTrainer } from '../training/externalTrainer.ts'
import { loadLocalData, type Dataset } from '../training/data.ts'
import type * as Trainer from '../training/trainer.ts'
import { aggregateRound } from './aggregateRound.ts'
import { FL_FETCH_TIMEOUT_MS, FL_MAX_BACKOFF_MS, FL_MAX_CONSECUTIVE_ERRORS, FL_PAYOUT_GRACE_MS, FL_POLL_MS, FL_POLLS_PER_ROUND, FL_MAX_POLL_MS, FL_UPDATE_HEADER_ALLOWANCE_BYTES, MAX_TASK_SPEC_BYTES } from './constants.ts'
import { decodeGlobal, encodeGlobal, type GlobalModel } from './globalFile.ts'
import { SecureRoundDriver } from './secureRoundDriver.ts'
import { readJobFile, storeJobFile, type JobFilesComponents } from './jobFiles.ts'
import { decodeTaskSpec, type TaskSpec } from './taskSpec.ts'
import type { Ledger } from '../../ledger/createLedger.ts'
import type { ClientUpdate, RejectedUpdate } from '../strategies/types.ts'
import type { FlMessenger } from './flMessenger.ts'
import type { FlHint } from './messages.ts'
import type { Masker } from './secureRound.ts'
import type { JobState, ParticipantSettings, RoundRecord, SponsorSettings } from './jobState.ts'

const log = logger('fl:job')

export interface JobRunnerComponents extends JobFilesComponents {
  ledger: Ledger
  registry: PullComponents
  messenger: Pick<FlMessenger, 'broadcast' | 'providersOf'>
  /** Where external trainers get their work directories. */
  tmpDir: string
}

export interface JobRunnerInit {
  jobId: bigint
  role: 'sponsor' | 'participant'
  settings: ParticipantSettings | SponsorSettings
  state: JobState
  /** Persists the state after every change (the node's index). */
  save: (state: JobState) => void
}

/** What the runner is doing now (answers status queries). */
export interface JobActivity { round: number, phase: string }

/**
 * Drives one federated job on this node, as its sponsor or as a participant, from the chain's state:
 * every step is decided by what the contract says (round started? committed? attestations open?
 * finalized?) plus this node's record, so a restarted node picks up where it left off and never
 * repeats a transaction. A participant trains on its local data and commits its update; every node
 * in the job fetches the round's updates, aggregates them deterministically and (participants)
 * attests the aggregate's CID; the sponsor records rejections and evaluation metrics, pays out and
 * publishes the final model.
 */
export class JobRunner {
  readonly jobId: bigint
  readonly role: 'sponsor' | 'participant'
  readonly settings: ParticipantSettings | SponsorSettings
  state: JobState
  activity: JobActivity = { round: 0, phase: 'starting' }
  private readonly components: JobRunnerComponents
  private readonly save: (state: JobState) => void
  private readonly controller = new AbortController()
  private spec: TaskSpec | undefined
  private data: Dataset | undefined
  private global: { round: number, model: GlobalModel } | undefined
  private wake: (() => void) | undefined
  private running: Promise<void> | undefined
  private pollMs = FL_POLL_MS
  private readonly secure: SecureRoundDriver

  constructor (components: JobRunnerComponents, init: JobRunnerInit) {
    this.components = components
    this.jobId = init.jobId
    this.role = init.role
    this.settings = init.settings
    this.state = init.state
    this.save = init.save
    this.secure = new SecureRoundDriver(components, { jobId: init.jobId, persist: () => { this.persist() }, signal: this.controller.signal })
  }

  start (): void {
    this.running ??= this.loop()
  }

  async stop (): Promise<void> {
    this.controller.abort()
    this.wake?.()
    await this.running
  }

  /** A hint arrived: remember what it points at, and look at the chain now instead of at the next poll. */
  hint (hint: FlHint): void {
    if (hint.type === 'reveal') this.secure.heard(hint.round, hint.cid)
    this.wake?.()
  }

  get account (): Address {
    return this.components.ledger.account!.address
  }

  private get signal (): AbortSignal {
    return this.controller.signal
  }

  private record (round: number): RoundRecord {
    this.state.rounds[round] ??= {}
    return this.state.rounds[round]
  }

  private persist (): void {
    this.save(this.state)
  }

  private async loop (): Promise<void> {
    let errors = 0
    while (!this.signal.aborted && this.state.done !== true && this.state.failed == null) {
      try {
        const finished = await this.tick()
        errors = 0
        if (finished) {
          this.state.done = true
          this.activity = { round: this.activity.round, phase: 'done' }
          this.persist()
          // The individual updates have served their purpose (their CIDs stay on chain); the aggregates
          // and the task spec stay pinned as the final model's provenance. gc reclaims the rest.
          const released = this.components.index.unpinLabelled(`fl job ${this.jobId} update `)
          log('job %s done (%d update files released to gc)', this.jobId, released)
          return
        }
      } catch (err: any) {
        if (this.signal.aborted) return
        errors++
        log.error('job %s: %s', this.jobId, err.shortMessage ?? err.message)
        // Bad input (a broken task spec, unusable data) will not heal: give up after a while. A chain or
        // peer that is away may come back: keep trying, ever more slowly.
        if (err instanceof InvalidInputError && errors >= FL_MAX_CONSECUTIVE_ERRORS) {
          this.state.failed = `${err.shortMessage ?? err.message} (after ${errors} attempts)`
          this.activity = { round: this.activity.round, phase: 'failed' }
          this.persist()
          return
        }
      }
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.min(FL_MAX_BACKOFF_MS, this.pollMs * 2 ** Math.min(errors, 10)))
        this.wake = () => { clearTimeout(timer); resolve() }
      })
      this.wake = undefined
    }
  }

  /** One look at the chain and one step forward; true once there is nothing left to do. */
  private async tick (): Promise<boolean> {
    const job = await getJob(this.components.ledger, { jobId: this.jobId }, { signal: this.signal })
    if (job == null) throw new Error(`job ${this.jobId} is not on the chain`)
    // Long rounds need no half-second polling; hints still wake the loop at once.
    this.pollMs = Math.max(FL_POLL_MS, Math.min(FL_MAX_POLL_MS, job.roundDuration * 1000 / FL_POLLS_PER_ROUND))
    const spec = await this.taskSpec(job)
    // Rounds finalize in order; the sponsor first records what it owes finalized rounds.
    for (let r = 1; r <= job.finalizedRounds; r++) {
      const record = this.record(r)
      if (record.agreedCid == null || (this.role === 'sponsor' && record.recorded !== true)) {
        await this.afterFinalized(job, await getRound(this.components.ledger, { jobId: this.jobId, round: r }, { signal: this.signal }), spec)
      }
    }
    if (job.finalizedRounds >= job.rounds) return await this.finish(job, spec)
    const round = await getRound(this.components.ledger, { jobId: this.jobId, round: job.finalizedRounds + 1 }, { signal: this.signal })
    if (round.deadline !== 0 && chainNow() >= round.deadline + job.roundDuration) return await this.stalled(job, round)
    this.activity = { round: round.round, phase: 'waiting' }
    if (this.role === 'participant' && job.participants.includes(this.account)) await this.contribute(job, round, spec)
    const attestationsOpen = (job.participantCount > 0 && round.commitments.length >= job.participantCount) || chainNow() >= round.deadline
    if (attestationsOpen) await this.aggregate(job, round, spec)
    return false
  }

  private async taskSpec (job: Job): Promise<TaskSpec> {
    this.spec ??= decodeTaskSpec(await readJobFile(this.components, job.taskSpecCid, { maxBytes: MAX_TASK_SPEC_BYTES, label: `fl job ${this.jobId} task`, signal: this.signal }))
    return this.spec
  }

  /** The model a round starts from: the base model's weights for round 1, else the previous round's agreed aggregate. */
  private async globalModel (round: number, spec: TaskSpec): Promise<GlobalModel> {
    if (this.global?.round === round) return this.global.model
    let bytes: Uint8Array
    if (round === 1) {
      await pullModel(this.components.registry, { ref: spec.base.manifestCid, signal: this.signal })
      bytes = await readModelFileBytes(this.components.registry, { ref: spec.base.manifestCid, path: spec.base.weightsFile, signal: this.signal })
    } else {
      const previous = await getRound(this.components.ledger, { jobId: this.jobId, round: round - 1 }, { signal: this.signal })
      bytes = await readJobFile(this.components, previous.aggregateCid!, { maxBytes: this.maxGlobalBytes(spec), label: `fl job ${this.jobId} aggregate ${round - 1}`, signal: this.signal })
    }
    const model = decodeGlobal(bytes)
    this.global = { round, model }
    return model
  }

  private maxUpdateBytes (spec: TaskSpec): number {
    return parameterCountOf(spec) * 4 + FL_UPDATE_HEADER_ALLOWANCE_BYTES
  }

  /** An aggregate may also carry a server optimizer's two moments. */
  private maxGlobalBytes (spec: TaskSpec): number {
    return parameterCountOf(spec) * 4 * 3 + FL_UPDATE_HEADER_ALLOWANCE_BYTES * 3
  }

  // ------------------------------------------------------------------ participant

  private async contribute (job: Job, round: Round, spec: TaskSpec): Promise<void> {
    const record = this.record(round.round)
    const mine = round.commitments.find(c => c.participant === this.account)
    if (mine != null || record.missed != null) return
    if (chainNow() >= round.deadline) {
      record.missed = 'the round closed before this node could train'
      this.persist()
      return
    }
    let maskers: Masker[] | undefined
    if (spec.secureAggregation != null) {
      // The contract's key phases settle who masks with whom (and, in round 1, wait for the joins).
      const preparation = await this.secure.prepare(round, record)
      if (!preparation.ready) {
        if ('missed' in preparation) {
          record.missed = preparation.missed
          this.persist()
        } else {
          this.activity = { round: round.round, phase: preparation.phase }
        }
        return
      }
      maskers = preparation.maskers
    } else if (round.round === 1 && job.participantCount < job.participantsWanted && chainNow() < round.deadline - job.roundDuration / 2) {
      // Round 1 also takes the joins: start training once the job is full, or at half-time with whoever
      // joined — otherwise early joiners would finalize round 1 before the others could join.
      this.activity = { round: 1, phase: `waiting for participants (${job.participantCount}/${job.participantsWanted})` }
      return
    }
    this.activity = { round: round.round, phase: 'training' }
    const global = (await this.globalModel(round.round, spec)).weights
    const started = performance.now()
    let trained: { weights: ModelWeights, numExamples: number, training: NonNullable<RoundRecord['training']> }
    try {
      trained = await this.train(round, spec, global)
    } catch (err: any) {
      if (this.signal.aborted) throw err
      // A trainer that crashes or writes a malformed update skips this round; the node still aggregates and attests.
      record.missed = `training failed: ${err.shortMessage ?? err.message}`
      this.persist()
      log.error('job %s round %d: %s', this.jobId, round.round, record.missed)
      return
    }
    let { weights, training } = trained
    const { numExamples } = trained
    if (spec.dp != null) {
      const privatized = privatizeUpdate(weights, global, { clipNorm: spec.dp.clipNorm, noiseMultiplier: spec.dp.noiseMultiplier, participants: job.participantsWanted })
      weights = privatized.weights
      training = { ...training, clippedFrom: privatized.scale < 1 ? privatized.norm : undefined, noiseStd: privatized.noiseStd }
    }
    if (chainNow() >= round.deadline) {
      record.missed = `training took ${Math.round(performance.now() - started)} ms and ended after the round's deadline`
      this.persist()
      return
    }
    this.activity = { round: round.round, phase: 'committing' }
    const file = maskers != null ? this.secure.maskedUpdate(job, spec, round.round, record, weights, global, maskers) : encodeSafetensors(weights)
    const cid = (await storeJobFile(this.components, file, `fl job ${this.jobId} update ${round.round}`, { signal: this.signal })).toString()
    try {
      await commitUpdate(this.components.ledger, { jobId: this.jobId, round: round.round, updateCid: cid, numExamples: BigInt(numExamples) }, { signal: this.signal })
    } catch (err) {
      if (isRevert(err, 'CommitDeadlinePassed')) {
        record.missed = 'the commitment reached the chain after the deadline'
        this.persist()
        return
      }
      throw err
    }
    Object.assign(record, { updateCid: cid, numExamples, training })
    this.persist()
    log('job %s round %d: committed %s (%d examples)', this.jobId, round.round, cid, numExamples)
    void this.components.messenger.broadcast({ type: 'update', jobId: this.jobId.toString(), round: round.round, cid })
  }

  /** Local training, built in or by the participant's own program; the data never leaves this node. */
  private async train (round: Round, spec: TaskSpec, global: ModelWeights): Promise<{ weights: ModelWeights, numExamples: number, training: NonNullable<RoundRecord['training']> }> {
    const settings = this.settings as ParticipantSettings
    const seed = seedFor(this.jobId, round.round, this.account)
    if (settings.trainer != null) {
      const result = await runExternalTrainer({
        command: settings.trainer,
        globalWeights: global,
        config: { round: round.round, epochs: spec.training.epochs, learningRate: spec.training.learningRate, batchSize: spec.training.batchSize, optimizer: spec.training.optimizer, proximalMu: spec.training.proximalMu, seed, dataDir: settings.dataDir, architecture: spec.architecture },
        workDir: path.join(this.components.tmpDir, `fl-${this.jobId}-${round.round}`),
        timeoutMs: Math.max(1000, (round.deadline - chainNow()) * 1000),
        signal: this.signal
      })
      return { weights: result.weights, numExamples: result.numExamples, training: { loss: result.metrics.loss, accuracy: result.metrics.accuracy, durationMs: result.durationMs } }
    }
    const started = performance.now()
    this.data ??= await loadLocalData(settings.dataDir, settings.dataOptions)
    const { trainLocal } = await loadTrainer()
    const result = await trainLocal({ architecture: spec.architecture, globalWeights: global, data: this.data, epochs: spec.training.epochs, batchSize: spec.training.batchSize, learningRate: spec.training.learningRate, optimizer: spec.training.optimizer, proximalMu: spec.training.proximalMu, seed, signal: this.signal })
    return { weights: result.weights, numExamples: result.numExamples, training: { loss: result.metrics.loss, accuracy: result.metrics.accuracy, durationMs: Math.round(performance.now() - started) } }
  }

  // --------------------------------------------------------------- aggregation

  /** Fetches the round's updates, aggregates them, stores the aggregate and (as a participant) attests its CID. */
  private async aggregate (job: Job, round: Round, spec: TaskSpec): Promise<void> {
    const record = this.record(round.round)
    const isAggregator = this.role === 'participant' && job.participants.includes(this.account)
    // A late join can reopen a round that looked complete: an aggregate not attested yet follows the commitments.
    if (record.aggregateCid == null || (record.attested !== true && record.aggregateInputs !== inputsOf(round))) {
      this.activity = { round: round.round, phase: 'aggregating' }
      const result = await this.computeAggregate(job, round, spec, record)
      if (result == null) {
        this.activity = { round: round.round, phase: 'waiting for reveals' }
        return
      }
      Object.assign(record, result)
      this.persist()
    }
    if (isAggregator && record.attested !== true && !round.attesters.includes(this.account)) {
      this.activity = { round: round.round, phase: 'attesting' }
      try {
        await attestAggregate(this.components.ledger, { jobId: this.jobId, round: round.round, aggregateCid: record.aggregateCid! }, { signal: this.signal })
      } catch (err) {
        if (isRevert(err, 'AttestationsNotOpen')) return // our clock ran ahead of the chain's
        if (!isRevert(err, 'RoundAlreadyFinalized', 'AlreadyAttested')) throw err
      }
      record.attested = true
      this.persist()
      log('job %s round %d: attested %s', this.jobId, round.round, record.aggregateCid)
      void this.components.messenger.broadcast({ type: 'aggregate', jobId: this.jobId.toString(), round: round.round, cid: record.aggregateCid! })
    }
    this.activity = { round: round.round, phase: 'waiting for attestations' }
  }

  private async computeAggregate (job: Job, round: Round, spec: TaskSpec, record: RoundRecord): Promise<Pick<RoundRecord, 'aggregateCid' | 'aggregateInputs' | 'report' | 'carriedOver'> | undefined> {
    const { weights: global, optimizerState } = await this.globalModel(round.round, spec)
    if (spec.secureAggregation != null) {
      const sum = await this.secure.aggregate(job, spec, round, record, global, parameterCountOf(spec))
      if (sum == null) return undefined
      const cid = await storeJobFile(this.components, encodeGlobal({ weights: sum.weights }), `fl job ${this.jobId} aggregate ${round.round}`, { signal: this.signal })
      const examples = new Map(round.commitments.map(c => [c.participant as string, Number(c.numExamples)]))
      log('job %s round %d: secure aggregate %s of %d masked updates', this.jobId, round.round, cid, sum.survivors.length)
      return {
        aggregateCid: cid.toString(),
        aggregateInputs: inputsOf(round),
        report: {
          strategy: `secure-${spec.strategy.name}`,
          accepted: [...sum.survivors].sort().map(clientId => ({ clientId, numExamples: examples.get(clientId)! })),
          rejected: [...sum.outsiders].sort().map(clientId => ({ clientId, code: 'malformed' as const, reason: 'not one of the round\'s maskers: its update cannot be unmasked' }))
        },
        carriedOver: sum.survivors.length === 0
      }
    }
    const updates: ClientUpdate[] = []
    const refused: RejectedUpdate[] = []
    const maxBytes = this.maxUpdateBytes(spec)
    await Promise.all(round.commitments.map(async commitment => {
      const clientId = commitment.participant
      let bytes: Uint8Array
      try {
        bytes = await readJobFile(this.components, commitment.updateCid, { maxBytes, label: `fl job ${this.jobId} update ${round.round}`, timeoutMs: FL_FETCH_TIMEOUT_MS, signal: this.signal })
      } catch (err: any) {
        if (this.signal.aborted) throw err
        const tooLarge = err.code === 'FILE_TOO_LARGE'
        refused.push({ clientId, code: tooLarge ? 'malformed' : 'unavailable', reason: tooLarge ? err.shortMessage : `could not be fetched: ${err.shortMessage ?? err.message}` })
        return
      }
      try {
        updates.push({ clientId, weights: decodeSafetensors(bytes), numExamples: Number(commitment.numExamples) })
      } catch (err: any) {
        refused.push({ clientId, code: 'malformed', reason: `not the model's tensors: ${err.shortMessage ?? err.message}` })
      }
    }))
    const result = aggregateRound({ global, updates, refused, strategy: spec.strategy, dp: spec.dp, proximalMu: spec.training.proximalMu, optimizerState })
    const cid = await storeJobFile(this.components, encodeGlobal({ weights: result.weights, optimizerState: result.optimizerState }), `fl job ${this.jobId} aggregate ${round.round}`, { signal: this.signal })
    const { strategy, accepted, rejected } = result.report
    log('job %s round %d: aggregate %s of %d updates (%d rejected)', this.jobId, round.round, cid, accepted.length, rejected.length)
    return { aggregateCid: cid.toString(), aggregateInputs: inputsOf(round), report: { strategy, accepted, rejected }, carriedOver: result.carriedOver }
  }

  // ------------------------------------------------------------ after a round

  private async afterFinalized (job: Job, round: Round, spec: TaskSpec): Promise<void> {
    const record = this.record(round.round)
    record.agreedCid = round.aggregateCid
    if (record.aggregateCid != null && record.aggregateCid !== round.aggregateCid) {
      record.outvoted = true
      log.error('job %s round %d: the agreed aggregate %s differs from ours %s', this.jobId, round.round, round.aggregateCid, record.aggregateCid)
    }
    if (spec.dp != null && record.dp == null) record.dp = this.privacySoFar(job, spec, round.round)
    this.persist()
    if (this.role !== 'sponsor' || record.recorded === true) return
    this.activity = { round: round.round, phase: 'recording' }
    // Rejections only from an aggregate that matches the agreed one: a different view is no basis.
    if (record.aggregateCid == null || record.aggregateInputs !== inputsOf(round)) {
      const computed = await this.computeAggregate(job, round, spec, record)
      if (computed == null) return // secure aggregation: not enough reveals yet
      Object.assign(record, computed)
    }
    if (record.aggregateCid === round.aggregateCid) {
      for (const rejection of record.report?.rejected ?? []) {
        const commitment = round.commitments.find(c => c.participant === rejection.clientId)
        if (commitment == null || commitment.rejected) continue
        await ignoreRevert(rejectUpdate(this.components.ledger, { jobId: this.jobId, round: round.round, participant: commitment.participant, reason: `${rejection.code}: ${rejection.reason}`.slice(0, 256) }, { signal: this.signal }), 'UpdateAlreadyRejected', 'AlreadyPaidOut')
      }
    }
    const settings = this.settings as SponsorSettings
    if (settings.validationDir != null && round.aggregateCid != null) {
      this.data ??= await loadLocalData(settings.validationDir, settings.validationOptions)
      const bytes = await readJobFile(this.components, round.aggregateCid, { maxBytes: this.maxGlobalBytes(spec), label: `fl job ${this.jobId} aggregate ${round.round}`, signal: this.signal })
      const { evaluate } = await loadTrainer()
      const evaluation = await evaluate({ architecture: spec.architecture, weights: decodeGlobal(bytes).weights, data: this.data })
      record.metrics = { accuracy: evaluation.accuracy, loss: evaluation.loss, samples: evaluation.numExamples }
      for (const [name, value] of [['accuracy', evaluation.accuracy], ['loss', evaluation.loss]] as const) {
        await postMetric(this.components.ledger, { jobId: this.jobId, round: round.round, name, valueE6: BigInt(Math.round(value * 1e6)) }, { signal: this.signal })
      }
      log('job %s round %d: accuracy %s on %d held-out samples', this.jobId, round.round, evaluation.accuracy.toFixed(4), evaluation.numExamples)
    }
    record.recorded = true
    this.persist()
  }

  /** (ε, δ) of the job after `upTo` rounds: each round a Gaussian mechanism with its effective noise multiplier. */
  private privacySoFar (job: Job, spec: TaskSpec, upTo: number): RoundRecord['dp'] {
    const dp = spec.dp!
    const accountant = new RdpAccountant()
    let noiseMultiplier = 0
    for (let r = 1; r <= upTo; r++) {
      const accepted = this.state.rounds[r]?.report?.accepted.length ?? job.participantsWanted
      noiseMultiplier = effectiveNoiseMultiplier(dp.noiseMultiplier, accepted, job.participantsWanted)
      if (noiseMultiplier > 0) accountant.step({ samplingRate: 1, noiseMultiplier })
    }
    const epsilon = noiseMultiplier > 0 ? accountant.getEpsilon(dp.delta).epsilon : Number.POSITIVE_INFINITY
    return { noiseMultiplier, epsilon: Number.isFinite(epsilon) ? epsilon : -1, delta: dp.delta }
  }

  // ------------------------------------------------------------------ the end

  private async finish (job: Job, spec: TaskSpec): Promise<boolean> {
    this.activity = { round: job.rounds, phase: 'finishing' }
    if (!job.paidOut) {
      if (this.role === 'participant') {
        // The sponsor normally pays out; anyone may, so a job never stays locked by an absent sponsor.
        const lastFinalized = (await getRound(this.components.ledger, { jobId: this.jobId, round: job.rounds }, { signal: this.signal })).finalizedAt
        if (Date.now() < lastFinalized * 1000 + FL_PAYOUT_GRACE_MS) return false
      }
      await ignoreRevert(payoutJob(this.components.ledger, { jobId: this.jobId }, { signal: this.signal }), 'AlreadyPaidOut')
    }
    this.state.paidOut = true
    if (this.role === 'sponsor' && this.state.published == null) await this.publishFinal(job, spec)
    return true
  }

  /** No agreement a round duration after the deadline: the contract lets anyone pay the job out as it stood. */
  private async stalled (job: Job, round: Round): Promise<boolean> {
    this.activity = { round: round.round, phase: 'stalled' }
    if (!job.paidOut) await ignoreRevert(payoutJob(this.components.ledger, { jobId: this.jobId }, { signal: this.signal }), 'AlreadyPaidOut')
    this.state.paidOut = true
    this.state.stalled = round.round
    log.error('job %s stalled in round %d (no agreement in time); paid out as it stood', this.jobId, round.round)
    return true
  }

  private async publishFinal (job: Job, spec: TaskSpec): Promise<void> {
    const finalJob = (await getJob(this.components.ledger, { jobId: this.jobId }, { signal: this.signal }))!
    const rounds: Array<Record<string, unknown>> = []
    for (let r = 1; r <= job.rounds; r++) {
      const round = await getRound(this.components.ledger, { jobId: this.jobId, round: r }, { signal: this.signal })
      const record = this.state.rounds[r] ?? {}
      rounds.push({ round: r, aggregateCid: round.aggregateCid, updates: round.commitments.length, accepted: round.commitments.filter(c => !c.rejected).length, ...(record.metrics != null ? { metrics: record.metrics } : {}), ...(record.dp != null ? { dp: record.dp } : {}) })
    }
    const contributors = await Promise.all(finalJob.participants.map(async participant => {
      const p = await this.components.ledger.contracts.federatedRounds!.read.participantOf([this.jobId, participant])
      return { address: participant, acceptedExamples: p.acceptedExamples.toString(), reward: p.reward.toString(), slashed: p.slashed }
    }))
    const lastAggregate = String(rounds.at(-1)!.aggregateCid)
    const { weights } = decodeGlobal(await readJobFile(this.components, lastAggregate, { maxBytes: this.maxGlobalBytes(spec), label: `fl job ${this.jobId} final`, signal: this.signal }))
    const weightsBytes = encodeSafetensors(weights)
    const onnx = exportOnnx({ architecture: spec.architecture, weights, graphName: 'mycelium_federated', metadata: { 'mycelium.fl.job': this.jobId.toString() } })
    const architecture = new TextEncoder().encode(JSON.stringify(spec.architecture, null, 2) + '\n')
    const bytesOf = (bytes: Uint8Array): AsyncIterable<Uint8Array> => (async function * () { yield bytes })()
    try {
      const { cid } = await publishModel(this.components.registry, {
        name: spec.publish.name,
        version: spec.publish.version,
        parents: [spec.base.manifestCid],
        tags: ['federated'],
        task: 'image-classification',
        files: [
          { path: 'model.onnx', source: bytesOf(onnx) },
          { path: spec.base.weightsFile, source: bytesOf(weightsBytes) },
          { path: 'architecture.json', source: bytesOf(architecture) }
        ],
        extra: {
          federated: {
            jobId: this.jobId.toString(),
            chainId: this.components.ledger.chainId,
            contract: this.components.ledger.addresses.federatedRounds,
            taskSpecCid: finalJob.taskSpecCid,
            strategy: spec.strategy,
            ...(spec.dp != null ? { dp: { ...spec.dp, ...this.state.rounds[job.rounds]?.dp } } : {}),
            pool: finalJob.pool.toString(),
            rounds,
            contributors
          }
        },
        signal: this.signal
      })
      this.state.published = { name: spec.publish.name, version: spec.publish.version, cid: cid.toString() }
      this.state.publishError = undefined
      log('job %s: published %s@%s (%s)', this.jobId, spec.publish.name, spec.publish.version, cid)
    } catch (err: any) {
      this.state.publishError = err.shortMessage ?? err.message
      log.error('job %s: publishing the final model failed: %s', this.jobId, this.state.publishError)
    }
    this.persist()
  }
}

/** The chain's clock follows the wall clock (the embedded chain's blocks do; external chains within seconds). */
function chainNow (): number {
  return Math.floor(Date.now() / 1000)
}

/** The commitments an aggregate was computed from, as one comparable string. */
function inputsOf (round: Round): string {
  return round.commitments.map(c => `${c.participant}:${c.updateCid}:${c.numExamples}`).sort().join(',')
}

function seedFor (jobId: bigint, round: number, account: Address): number {
  return Number.parseInt(keccak256(toHex(`${jobId}:${round}:${account}`)).slice(2, 10), 16)
}

function parameterCountOf (spec: TaskSpec): number {
  return validateArchitecture(spec.architecture).parameterCount
}

async function ignoreRevert<T> (promise: Promise<T>, ...errorNames: string[]): Promise<T | undefined> {
  try {
    return await promise
  } catch (err) {
    if (isRevert(err, ...errorNames)) return undefined
    throw err
  }
}

/** The built-in trainer loads tfjs (some 13 MB of heap, 0.1 s): only nodes that train or evaluate pay for it. */
async function loadTrainer (): Promise<typeof Trainer> {
  return await import('../training/trainer.ts')
}
