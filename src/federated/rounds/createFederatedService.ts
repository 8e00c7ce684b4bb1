import path from 'node:path'
import semver from 'semver'
import { ConflictError, InvalidInputError, NotFoundError } from '../../errors.ts'
import { getJob, type Job } from '../../ledger/actions/getJob.ts'
import { getRound } from '../../ledger/actions/getRound.ts'
import { joinJob } from '../../ledger/actions/joinJob.ts'
import { openJob } from '../../ledger/actions/openJob.ts'
import { readJobEvents } from '../../ledger/actions/readJobEvents.ts'
import { resolveVersion } from '../../ledger/actions/resolveVersion.ts'
import { NoAccountError } from '../../ledger/errors.ts'
import { pullModel, type PullComponents } from '../../registry/pullModel.ts'
import { readModelFileBytes } from '../../registry/readModelFile.ts'
import { logger } from '../../utils/logger.ts'
import { parseArchitecture, validateArchitecture, type ArchitectureSpec } from '../training/architecture.ts'
import { featureSize, loadLocalData, type LocalDataOptions } from '../training/data.ts'
import { reapOrphanedTrainers } from '../training/externalTrainer.ts'
import { MAX_TASK_SPEC_BYTES } from './constants.ts'
import { FlMessenger } from './flMessenger.ts'
import { readJobFile, storeJobFile } from './jobFiles.ts'
import { JobRunner } from './jobRunner.ts'
import { decodeTaskSpec, encodeTaskSpec, validateDpSpec, validateStrategySpec, type DpSpec, type StrategySpec, type TaskSpec, type TrainingSpec } from './taskSpec.ts'
import type { Ledger } from '../../ledger/createLedger.ts'
import type { ModelEvent } from '../../ledger/actions/readModelEvents.ts'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Libp2p } from '@libp2p/interface'
import type { FlPeerStatus } from './messages.ts'
import type { JobState, ParticipantSettings, RoundRecord, SponsorSettings } from './jobState.ts'

const log = logger('fl')

export interface FederatedServiceComponents {
  registry: PullComponents
  /** The libp2p host once the node started. */
  libp2p: () => Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getConnections' | 'getMultiaddrs'>
  pubsub: () => Pick<GossipSub, 'subscribe' | 'unsubscribe' | 'publish' | 'addEventListener' | 'removeEventListener'>
  networkId: string
  tmpDir: string
}

export const TRAINING_DEFAULTS: TrainingSpec = { epochs: 1, batchSize: 32, learningRate: 0.05, optimizer: 'sgd', proximalMu: 0 }

export interface OpenFederatedJobParameters {
  /** The base model: NAME@VERSION or a manifest CID, registered on the ledger, with an architecture.json and a .safetensors file. */
  model: string
  /** Default: the only .safetensors file of the base model. */
  weightsFile?: string
  rounds: number
  participants: number
  /** Agreeing attestations that finalize a round; default a majority of the participants. */
  aggregatorsK?: number
  roundDurationSeconds: number
  /** Token base units escrowed. */
  bounty: bigint
  /** Token base units each participant stakes (default 0). */
  stake?: bigint
  strategy?: StrategySpec
  training?: Partial<TrainingSpec>
  dp?: DpSpec
  /** Participants commit masked updates; aggregators see only their sum. */
  secureAggregation?: { clip: number }
  /** Default: the base model's name, next minor version. */
  publish?: { name: string, version: string }
  validationDir?: string
  validationOptions?: LocalDataOptions
  description?: string
  signal?: AbortSignal
}

export interface JoinFederatedJobParameters {
  jobId: bigint
  dataDir: string
  dataOptions?: LocalDataOptions
  trainer?: string
  signal?: AbortSignal
}

export interface FederatedJobStatus {
  job: Job
  /** This node's part, if any. */
  role: 'sponsor' | 'participant' | 'none'
  activity?: { round: number, phase: string }
  /** The round in progress (0 once every round is finalized). */
  currentRound: number
  taskSpec?: TaskSpec
  /** (ε, δ) after the last finalized round, when the job uses DP. */
  privacy?: { epsilon: number, delta: number, noiseMultiplier: number }
  published?: JobState['published']
  publishError?: string
  /** The round in which the job stalled (no agreement in time); it was paid out as it stood. */
  stalled?: number
  failed?: string
}

export interface FederatedRoundView {
  round: number
  deadline: number
  finalizedAt: number
  aggregateCid?: string
  commitments: Array<{ participant: string, updateCid: string, numExamples: string, rejected: boolean, rejectReason?: string }>
  attestations: Array<{ attester: string, aggregateCid: string, agreed?: boolean, slashed?: string }>
  metrics: Array<{ validator: string, name: string, value: number }>
  /** This node's own record of the round. */
  local?: RoundRecord
}

export interface FederatedResults {
  jobId: string
  paidOut: boolean
  pool: string
  payouts: Array<{ participant: string, reward: string, stakeReturned: string }>
  dust?: string
  finalModel?: JobState['published']
  finalMetrics?: Record<string, number>
  privacy?: FederatedJobStatus['privacy']
}

/**
 * Federated learning on this node: opens jobs (sponsor), joins them (participant), runs every job it
 * is part of (see {@link JobRunner}) and answers what the chain and its own records say about them.
 */
export class FederatedService {
  private readonly components: FederatedServiceComponents
  private readonly runners = new Map<string, JobRunner>()
  private messenger: FlMessenger | undefined
  private started = false

  constructor (components: FederatedServiceComponents) {
    this.components = components
  }

  private get ledger (): Ledger {
    const ledger = this.components.registry.ledger
    if (ledger == null) throw new InvalidInputError('Federated learning needs a ledger.')
    return ledger
  }

  async start (): Promise<void> {
    const orphans = await reapOrphanedTrainers(this.components.tmpDir)
    if (orphans.length > 0) log('killed %d trainer processes a previous run left behind: %s', orphans.length, orphans.join(', '))
    this.messenger = new FlMessenger({
      libp2p: this.components.libp2p(),
      pubsub: this.components.pubsub(),
      statusOf: jobId => this.peerStatus(jobId)
    }, this.components.networkId)
    await this.messenger.start()
    this.messenger.onHint(({ hint }) => { this.runners.get(hint.jobId)?.hint(hint) })
    this.started = true
    for (const stored of this.components.registry.index.federatedJobs()) {
      const state = stored.state as unknown as JobState
      if (state.done === true || state.failed != null) continue
      this.run(BigInt(stored.jobId), stored.role, stored.settings as ParticipantSettings | SponsorSettings, state)
    }
  }

  async stop (): Promise<void> {
    this.started = false
    await Promise.all([...this.runners.values()].map(async runner => { await runner.stop() }))
    this.runners.clear()
    await this.messenger?.stop()
  }

  private run (jobId: bigint, role: 'sponsor' | 'participant', settings: ParticipantSettings | SponsorSettings, state: JobState): JobRunner {
    const { registry } = this.components
    const since = new Date().toISOString()
    const runner = new JobRunner({
      ...registry,
      ledger: this.ledger,
      registry,
      messenger: this.messenger!,
      tmpDir: this.components.tmpDir
    }, {
      jobId,
      role,
      settings,
      state,
      save: next => { registry.index.saveFederatedJob({ jobId: jobId.toString(), role, settings: settings as unknown as Record<string, unknown>, state: next as unknown as Record<string, unknown>, since }) }
    })
    registry.index.saveFederatedJob({ jobId: jobId.toString(), role, settings: settings as unknown as Record<string, unknown>, state: state as unknown as Record<string, unknown>, since })
    this.runners.set(jobId.toString(), runner)
    if (this.started) runner.start()
    return runner
  }

  /** Opens a job as its sponsor: writes the task specification, escrows the bounty, and starts following the rounds. */
  async open (parameters: OpenFederatedJobParameters): Promise<{ jobId: string, taskSpecCid: string, transactionHash: string, firstDeadline: number, taskSpec: TaskSpec }> {
    const ledger = this.ledger
    if (ledger.account == null) throw new NoAccountError('open a federated job')
    const { registry } = this.components
    const signal = parameters.signal
    const { cid: baseCid, manifest } = await pullModel(registry, { ref: parameters.model, signal })
    const onChain = await resolveVersion(ledger, { name: manifest.name, version: manifest.version }, { signal })
    if (onChain.manifestCid !== baseCid.toString()) {
      throw new ConflictError(`${manifest.name}@${manifest.version} on the ledger is ${onChain.manifestCid}, not ${baseCid}.`, { hint: 'Train from the registered version.' })
    }
    const weightsFile = parameters.weightsFile ?? onlyFile(manifest.files.map(f => f.path).filter(p => p.endsWith('.safetensors')), 'a .safetensors weights file', manifest.name)
    if (!manifest.files.some(f => f.path === weightsFile)) throw new InvalidInputError(`${manifest.name}@${manifest.version} has no file "${weightsFile}".`, { hint: `Its files: ${manifest.files.map(f => f.path).join(', ')}.` })
    const architecture = await this.readArchitecture(baseCid.toString(), manifest.files.map(f => f.path), manifest.name, signal)
    const strategy = validateStrategySpec(parameters.strategy ?? { name: 'fedavg' })
    const dp = parameters.dp != null ? validateDpSpec(parameters.dp) : undefined
    const publish = parameters.publish ?? { name: manifest.name, version: semver.inc(manifest.version, 'minor') ?? manifest.version }
    await assertVersionFree(ledger, publish)
    if (parameters.validationDir != null) {
      const validation = await loadLocalData(parameters.validationDir, parameters.validationOptions)
      checkDataFits(validation, architecture, parameters.validationDir)
    }
    const spec: TaskSpec = {
      type: 'mycelium/fl-task',
      schemaVersion: 1,
      base: { name: manifest.name, version: manifest.version, manifestCid: baseCid.toString(), weightsFile },
      architecture,
      training: { ...TRAINING_DEFAULTS, ...parameters.training },
      strategy,
      ...(dp != null ? { dp } : {}),
      ...(parameters.secureAggregation != null ? { secureAggregation: parameters.secureAggregation } : {}),
      publish,
      ...(parameters.description != null ? { description: parameters.description } : {})
    }
    const taskSpecCid = (await storeJobFile({ ...registry, messenger: this.messenger! }, encodeTaskSpec(spec), 'fl task spec', { signal })).toString()
    const participants = parameters.participants
    const opened = await openJob(ledger, {
      baseVersionId: onChain.versionId,
      taskSpecCid,
      rounds: parameters.rounds,
      participantsWanted: participants,
      strategy: strategy.name,
      dpParams: dp != null ? JSON.stringify(dp) : '',
      bounty: parameters.bounty,
      stake: parameters.stake ?? 0n,
      aggregatorsK: parameters.aggregatorsK ?? Math.floor(participants / 2) + 1,
      roundDuration: parameters.roundDurationSeconds
    }, { signal })
    const settings: SponsorSettings = {
      ...(parameters.validationDir != null ? { validationDir: path.resolve(parameters.validationDir) } : {}),
      ...(parameters.validationOptions != null ? { validationOptions: parameters.validationOptions } : {})
    }
    this.run(opened.jobId, 'sponsor', settings, { rounds: {} })
    void this.messenger?.broadcast({ type: 'job', jobId: opened.jobId.toString() })
    log('opened job %s (%s, %d rounds, %d participants)', opened.jobId, strategy.name, parameters.rounds, participants)
    return { jobId: opened.jobId.toString(), taskSpecCid, transactionHash: opened.hash, firstDeadline: opened.firstDeadline, taskSpec: spec }
  }

  /** Joins a job as a participant: checks the local data fits the job, stakes, and starts training each round. */
  async join (parameters: JoinFederatedJobParameters): Promise<{ jobId: string, stake: string, transactionHash: string, samples?: number }> {
    const ledger = this.ledger
    const { jobId, signal } = parameters
    if (this.runners.has(jobId.toString())) throw new ConflictError(`This node already takes part in job ${jobId}.`, { hint: `See \`myc fl status ${jobId}\`.` })
    const job = await this.requireJob(jobId)
    const spec = await this.taskSpecOf(job, signal)
    const dataDir = path.resolve(parameters.dataDir)
    let samples: number | undefined
    if (parameters.trainer == null) {
      const data = await loadLocalData(dataDir, parameters.dataOptions)
      checkDataFits(data, spec.architecture, parameters.dataDir)
      samples = data.count
    }
    const joined = await joinJob(ledger, { jobId }, { signal })
    const settings: ParticipantSettings = {
      dataDir,
      ...(parameters.dataOptions != null ? { dataOptions: parameters.dataOptions } : {}),
      ...(parameters.trainer != null ? { trainer: parameters.trainer } : {})
    }
    this.run(jobId, 'participant', settings, { rounds: {} })
    log('joined job %s with %s', jobId, samples != null ? `${samples} samples` : `trainer "${parameters.trainer}"`)
    return { jobId: jobId.toString(), stake: joined.stake.toString(), transactionHash: joined.hash, ...(samples != null ? { samples } : {}) }
  }

  async list (): Promise<Array<{ jobId: string, role: string, done: boolean, failed?: string }>> {
    return this.components.registry.index.federatedJobs().map(stored => {
      const state = this.runners.get(stored.jobId)?.state ?? stored.state as unknown as JobState
      return { jobId: stored.jobId, role: stored.role, done: state.done === true, ...(state.failed != null ? { failed: state.failed } : {}) }
    })
  }

  async status (jobId: bigint, options: { signal?: AbortSignal } = {}): Promise<FederatedJobStatus> {
    const job = await this.requireJob(jobId)
    const local = this.localJob(jobId)
    let taskSpec: TaskSpec | undefined
    try {
      taskSpec = await this.taskSpecOf(job, options.signal)
    } catch (err: any) {
      log('task spec of job %s unavailable: %s', jobId, err.message)
    }
    const lastRecord = local?.state.rounds[job.finalizedRounds]
    return {
      job,
      role: local?.role ?? 'none',
      ...(this.runners.get(jobId.toString()) != null ? { activity: this.runners.get(jobId.toString())!.activity } : {}),
      currentRound: job.finalizedRounds >= job.rounds ? 0 : job.finalizedRounds + 1,
      ...(taskSpec != null ? { taskSpec } : {}),
      ...(lastRecord?.dp != null ? { privacy: lastRecord.dp } : {}),
      ...(local?.state.published != null ? { published: local.state.published } : {}),
      ...(local?.state.publishError != null ? { publishError: local.state.publishError } : {}),
      ...(local?.state.stalled != null ? { stalled: local.state.stalled } : {}),
      ...(local?.state.failed != null ? { failed: local.state.failed } : {})
    }
  }

  async rounds (jobId: bigint, options: { signal?: AbortSignal } = {}): Promise<FederatedRoundView[]> {
    const job = await this.requireJob(jobId)
    const events = await readJobEvents(this.ledger, { jobIds: [jobId] }, options)
    const local = this.localJob(jobId)
    const last = Math.min(job.rounds, job.finalizedRounds + 1)
    const views: FederatedRoundView[] = []
    for (let r = 1; r <= last; r++) {
      const round = await getRound(this.ledger, { jobId, round: r }, options)
      const ofRound = events.filter(e => Number(e.args.round) === r)
      const rejectReason = (participant: string): string | undefined => ofRound.find(e => e.eventName === 'UpdateRejected' && e.args.participant === participant)?.args.reason as string | undefined
      views.push({
        round: r,
        deadline: round.deadline,
        finalizedAt: round.finalizedAt,
        ...(round.aggregateCid != null ? { aggregateCid: round.aggregateCid } : {}),
        commitments: round.commitments.map(c => ({ participant: c.participant, updateCid: c.updateCid, numExamples: c.numExamples.toString(), rejected: c.rejected, ...(c.rejected ? { rejectReason: rejectReason(c.participant) } : {}) })),
        attestations: ofRound.filter(e => e.eventName === 'Attested').map(e => {
          const slashed = ofRound.find(s => s.eventName === 'Slashed' && s.args.attester === e.args.attester)
          return {
            attester: String(e.args.attester),
            aggregateCid: String(e.args.aggregateCid),
            ...(round.aggregateCid != null ? { agreed: e.args.aggregateCid === round.aggregateCid } : {}),
            ...(slashed != null ? { slashed: String(slashed.args.amount) } : {})
          }
        }),
        metrics: ofRound.filter(e => e.eventName === 'MetricPosted').map(e => ({ validator: String(e.args.validator), name: String(e.args.name), value: Number(e.args.valueE6) / 1e6 })),
        ...(local?.state.rounds[r] != null ? { local: local.state.rounds[r] } : {})
      })
    }
    return views
  }

  async results (jobId: bigint, options: { signal?: AbortSignal } = {}): Promise<FederatedResults> {
    const job = await this.requireJob(jobId)
    const events = await readJobEvents(this.ledger, { jobIds: [jobId] }, options)
    const local = this.localJob(jobId)
    const metrics: Record<string, number> = {}
    for (const event of events.filter(e => e.eventName === 'MetricPosted' && Number(e.args.round) === job.finalizedRounds)) metrics[String(event.args.name)] = Number(event.args.valueE6) / 1e6
    const paidOut = events.find(e => e.eventName === 'JobPaidOut')
    const privacy = local?.state.rounds[job.finalizedRounds]?.dp
    return {
      jobId: jobId.toString(),
      paidOut: job.paidOut,
      pool: job.pool.toString(),
      payouts: events.filter(e => e.eventName === 'ParticipantPaid').map(e => ({ participant: String(e.args.participant), reward: String(e.args.reward), stakeReturned: String(e.args.stakeReturned) })),
      ...(paidOut != null ? { dust: String(paidOut.args.dust) } : {}),
      ...(local?.state.published != null ? { finalModel: local.state.published } : {}),
      ...(Object.keys(metrics).length > 0 ? { finalMetrics: metrics } : {}),
      ...(privacy != null ? { privacy } : {})
    }
  }

  /** The chain's events of jobs (for audits of the models they produced). */
  async events (jobIds: bigint[], options: { signal?: AbortSignal } = {}): Promise<ModelEvent[]> {
    return await readJobEvents(this.ledger, { jobIds }, options)
  }

  private localJob (jobId: bigint): { role: 'sponsor' | 'participant', state: JobState } | undefined {
    const runner = this.runners.get(jobId.toString())
    if (runner != null) return { role: runner.role, state: runner.state }
    const stored = this.components.registry.index.federatedJobs().find(j => j.jobId === jobId.toString())
    return stored != null ? { role: stored.role, state: stored.state as unknown as JobState } : undefined
  }

  private peerStatus (jobId: string): FlPeerStatus {
    const runner = this.runners.get(jobId)
    if (runner == null) return { jobId, role: this.localJob(BigInt(jobId))?.role ?? 'none', round: 0, phase: 'idle' }
    const record = runner.state.rounds[runner.activity.round]
    return {
      jobId,
      role: runner.role,
      round: runner.activity.round,
      phase: runner.activity.phase,
      ...(record?.updateCid != null ? { updateCid: record.updateCid } : {}),
      ...(record?.aggregateCid != null ? { aggregateCid: record.aggregateCid } : {})
    }
  }

  private async requireJob (jobId: bigint): Promise<Job> {
    const job = await getJob(this.ledger, { jobId })
    if (job == null) throw new NotFoundError(`There is no federated job ${jobId}.`, { code: 'UNKNOWN_JOB', hint: 'List jobs with `myc fl status`; ids start at 1.' })
    return job
  }

  private async taskSpecOf (job: Job, signal?: AbortSignal): Promise<TaskSpec> {
    return decodeTaskSpec(await readJobFile({ ...this.components.registry, messenger: this.messenger! }, job.taskSpecCid, { maxBytes: MAX_TASK_SPEC_BYTES, label: `fl job ${job.jobId} task`, signal }))
  }

  private async readArchitecture (manifestCid: string, files: string[], name: string, signal?: AbortSignal): Promise<ArchitectureSpec> {
    const file = onlyFile(files.filter(p => path.basename(p) === 'architecture.json'), 'an architecture.json', name)
    const bytes = await readModelFileBytes(this.components.registry, { ref: manifestCid, path: file, signal })
    return parseArchitecture(new TextDecoder().decode(bytes)).spec
  }
}

function onlyFile (candidates: string[], what: string, model: string): string {
  if (candidates.length === 1) return candidates[0]
  throw new InvalidInputError(candidates.length === 0 ? `${model} has no ${what}.` : `${model} has several candidates for ${what}: ${candidates.join(', ')}.`, {
    code: 'NOT_A_TRAINABLE_MODEL',
    hint: 'A federated job trains a model published with architecture.json (the layer spec) and one .safetensors file of initial weights; pass --weights FILE to choose one.'
  })
}

function checkDataFits (data: { featureShape: number[], count: number, y: Int32Array }, architecture: ArchitectureSpec, where: string): void {
  const arch = validateArchitecture(architecture)
  const features = featureSize(data)
  if (features !== arch.inputSize) {
    throw new InvalidInputError(`The data in ${where} has ${features} features per sample; the job's model takes ${arch.inputSize} (shape [${arch.inputShape.join(', ')}]).`, {
      code: 'DATA_DOES_NOT_FIT',
      hint: 'Check the columns (or image size) of the local data against the job\'s architecture (`myc fl status JOB`).'
    })
  }
  const maxLabel = data.y.reduce((max, label) => Math.max(max, label), 0)
  if (maxLabel >= arch.classes) {
    throw new InvalidInputError(`The data in ${where} has label ${maxLabel}; the job's model has ${arch.classes} classes (0–${arch.classes - 1}).`, { code: 'DATA_DOES_NOT_FIT' })
  }
}

async function assertVersionFree (ledger: Ledger, publish: { name: string, version: string }): Promise<void> {
  try {
    await resolveVersion(ledger, publish)
  } catch (err) {
    if (err instanceof NotFoundError) return
    throw err
  }
  throw new ConflictError(`${publish.name}@${publish.version} is already on the ledger; the job could not publish its final model there.`, { hint: 'Pass --publish NAME@VERSION with a new version.' })
}
