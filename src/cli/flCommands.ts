import path from 'node:path'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { formatUnits } from 'viem'
import { InvalidInputError } from '../errors.ts'
import { printResult, type OutputOptions } from './output.ts'
import type { MyceliumClient, OpenFederatedJobBody } from '../client/createClient.ts'

export interface FlCommandContext {
  globals: (command: Command) => OutputOptions
  client: (options: OutputOptions) => Promise<MyceliumClient>
  action: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>
}

const STRATEGIES = ['fedavg', 'fedprox', 'fedadam', 'fedyogi', 'fedadagrad', 'median', 'trimmed-mean', 'krum', 'multi-krum']

const number = (what: string) => (value: string): number => {
  const parsed = Number(value)
  if (!Number.isFinite(parsed)) throw new InvalidArgumentError(`${what} must be a number.`)
  return parsed
}
const integer = (what: string) => (value: string): number => {
  const parsed = Number(value)
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new InvalidArgumentError(`${what} must be a positive whole number.`)
  return parsed
}
const tokens = (units: string | undefined): string => units == null ? '-' : `${formatUnits(BigInt(units), 18)} MYC`

interface OpenOptions {
  model: string
  weights?: string
  rounds: number
  participants: number
  k?: number
  roundDuration: string
  bounty: string
  stake?: string
  strategy: string
  beta?: number
  byzantine?: number
  serverLr?: number
  normBound?: number
  epochs?: number
  batchSize?: number
  lr?: number
  optimizer?: 'sgd' | 'adam'
  mu?: number
  dpClip?: number
  dpNoise?: number
  dpDelta: number
  secureAggregation?: number
  publish?: string
  validation?: string
  description?: string
}

/** `myc fl …`: argv to options, then the HTTP API. */
export function registerFlCommands (program: Command, { globals, client, action }: FlCommandContext): void {
  const fl = program.command('fl').description('federated learning: train a model together, data never leaves its owner')

  fl.command('open')
    .description('open a federated job as its sponsor: escrows the bounty on chain; participants join, train and are paid by accepted samples')
    .requiredOption('--model <ref>', 'base model NAME@VERSION with architecture.json and a .safetensors file')
    .option('--weights <file>', 'the weights file in the base model (default: its only .safetensors)')
    .requiredOption('--rounds <n>', 'training rounds', integer('--rounds'))
    .requiredOption('--participants <n>', 'participants wanted', integer('--participants'))
    .option('-k, --k <n>', 'agreeing aggregate attestations that finalize a round (default: a majority)', integer('--k'))
    .option('--round-duration <duration>', 'time each round takes commitments, e.g. 60s, 10m', '10m')
    .requiredOption('--bounty <tokens>', 'tokens escrowed and paid out by accepted samples')
    .option('--stake <tokens>', 'tokens each participant stakes (lost if it attests a wrong aggregate)')
    .addOption(new Option('--strategy <name>', 'aggregation rule').choices(STRATEGIES).default('fedavg'))
    .option('--beta <fraction>', 'trimmed-mean: fraction trimmed from each side', number('--beta'))
    .option('--byzantine <f>', 'krum / multi-krum: Byzantine participants tolerated', number('--byzantine'))
    .option('--server-lr <eta>', 'fedadam / fedyogi / fedadagrad: the server learning rate', number('--server-lr'))
    .option('--norm-bound <ratio>', 'drop updates whose delta norm exceeds RATIO × the median', number('--norm-bound'))
    .option('--epochs <n>', 'local epochs per round', integer('--epochs'))
    .option('--batch-size <n>', 'local batch size', integer('--batch-size'))
    .option('--lr <rate>', 'local learning rate', number('--lr'))
    .addOption(new Option('--optimizer <name>', 'local optimizer').choices(['sgd', 'adam']))
    .option('--mu <mu>', 'FedProx proximal coefficient', number('--mu'))
    .option('--dp-clip <norm>', 'differential privacy: clip each update\'s delta to this L2 norm', number('--dp-clip'))
    .option('--dp-noise <z>', 'differential privacy: noise multiplier z', number('--dp-noise'))
    .option('--dp-delta <delta>', 'differential privacy: δ of the reported (ε, δ)', number('--dp-delta'), 1e-5)
    .option('--secure-aggregation <clip>', 'participants commit masked updates and aggregators see only their sum (fedavg/fedprox); each coordinate of a delta is clamped to ±CLIP', number('--secure-aggregation'))
    .option('--publish <name@version>', 'the final model\'s name and version (default: the base name, next minor version)')
    .option('--validation <path>', 'held-out data on this node: each round\'s aggregate is evaluated and the metrics posted on chain')
    .option('--description <text>', 'what participants should know (data wanted, labels…)')
    .action(action(async (options: OpenOptions, command: Command) => {
      const g = globals(command)
      if ((options.dpClip == null) !== (options.dpNoise == null)) throw new InvalidInputError('Differential privacy needs both --dp-clip and --dp-noise.')
      const body: OpenFederatedJobBody = {
        model: options.model,
        ...(options.weights != null ? { weightsFile: options.weights } : {}),
        rounds: options.rounds,
        participants: options.participants,
        ...(options.k != null ? { aggregatorsK: options.k } : {}),
        roundDuration: options.roundDuration,
        bounty: options.bounty,
        ...(options.stake != null ? { stake: options.stake } : {}),
        strategy: {
          name: options.strategy,
          ...(options.beta != null ? { beta: options.beta } : {}),
          ...(options.byzantine != null ? { f: options.byzantine } : {}),
          ...(options.serverLr != null ? { eta: options.serverLr } : {}),
          ...(options.normBound != null ? { normBound: { maxRatio: options.normBound } } : {})
        },
        training: {
          ...(options.epochs != null ? { epochs: options.epochs } : {}),
          ...(options.batchSize != null ? { batchSize: options.batchSize } : {}),
          ...(options.lr != null ? { learningRate: options.lr } : {}),
          ...(options.optimizer != null ? { optimizer: options.optimizer } : {}),
          ...(options.mu != null ? { proximalMu: options.mu } : {})
        },
        ...(options.dpClip != null ? { dp: { clipNorm: options.dpClip, noiseMultiplier: options.dpNoise!, delta: options.dpDelta } } : {}),
        ...(options.secureAggregation != null ? { secureAggregation: { clip: options.secureAggregation } } : {}),
        ...(options.publish != null ? { publish: options.publish } : {}),
        ...(options.validation != null ? { validation: path.resolve(options.validation) } : {}),
        ...(options.description != null ? { description: options.description } : {})
      }
      const opened = await (await client(g)).fl.open(body)
      printResult(g, opened, () => [
        `Opened federated job ${opened.jobId}: ${opened.taskSpec.strategy.name}, ${options.rounds} round(s), ${options.participants} participant(s)`,
        `Task spec ${opened.taskSpecCid}; round 1 takes participants and updates until ${new Date(opened.firstDeadline * 1000).toISOString()}`,
        `Participants join with: myc fl join ${opened.jobId} --data DIR`
      ].join('\n'))
    }))

  fl.command('join <job>')
    .description('join a federated job with local data; the node trains each round and commits only its update')
    .requiredOption('--data <path>', 'local data: a CSV or JSON lines file, a directory of them, or an image folder DIR/<label>/*')
    .option('--trainer <command>', 'an external trainer (PyTorch, JAX…) speaking the trainer protocol, instead of the built-in one')
    .option('--feature-scale <factor>', 'multiply every feature by this (e.g. 0.00392 for 0–255 pixels)', number('--feature-scale'))
    .action(action(async (job: string, options: { data: string, trainer?: string, featureScale?: number }, command: Command) => {
      const g = globals(command)
      const joined = await (await client(g)).fl.join(job, {
        data: path.resolve(options.data),
        ...(options.trainer != null ? { trainer: options.trainer } : {}),
        ...(options.featureScale != null ? { dataOptions: { featureScale: options.featureScale } } : {})
      })
      printResult(g, joined, () => `Joined federated job ${joined.jobId}${joined.samples != null ? ` with ${joined.samples} local samples` : ''}; staked ${tokens(joined.stake)}. The node trains each round by itself (see \`myc fl status ${joined.jobId}\`).`)
    }))

  fl.command('status [job]')
    .description('a job\'s terms, round in progress, this node\'s part and privacy spent; without JOB, the jobs of this node')
    .action(action(async (job: string | undefined, _options: unknown, command: Command) => {
      const g = globals(command)
      const c = await client(g)
      if (job == null) {
        const jobs = await c.fl.jobs()
        printResult(g, jobs, () => jobs.length === 0 ? 'This node takes part in no federated job. Open one with `myc fl open` or join one with `myc fl join`.' : jobs.map(j => `job ${j.jobId.padEnd(4)} ${j.role.padEnd(12)} ${j.failed != null ? `FAILED: ${j.failed}` : j.done ? 'done' : 'running'}`).join('\n'))
        return
      }
      const status = await c.fl.status(job)
      const j = status.job
      printResult(g, status, () => [
        `Job ${j.jobId}: ${j.strategy}, round ${status.currentRound === 0 ? `${j.rounds}/${j.rounds} (finished)` : `${status.currentRound}/${j.rounds}`}, ${j.participantCount}/${j.participantsWanted} participants, k = ${j.aggregatorsK}`,
        `Sponsor ${j.sponsor}; bounty ${tokens(j.bounty)}, pool ${tokens(j.pool)}, stake ${tokens(j.stake)}; ${j.paidOut ? 'paid out' : 'not paid out'}`,
        ...(status.taskSpec != null ? [`Base ${status.taskSpec.base.name}@${status.taskSpec.base.version}; publishes ${status.taskSpec.publish.name}@${status.taskSpec.publish.version}`] : []),
        `This node: ${status.role}${status.activity != null ? `, round ${status.activity.round}: ${status.activity.phase}` : ''}`,
        ...(status.privacy != null ? [`Privacy: (ε = ${status.privacy.epsilon < 0 ? '∞' : status.privacy.epsilon.toFixed(3)}, δ = ${status.privacy.delta}) so far`] : []),
        ...(status.published != null ? [`Final model: ${status.published.name}@${status.published.version} (${status.published.cid})`] : []),
        ...(status.publishError != null ? [`Publishing the final model failed: ${status.publishError}`] : []),
        ...(status.stalled != null ? [`Stalled in round ${status.stalled}: no agreement in time; paid out as it stood`] : []),
        ...(status.failed != null ? [`FAILED: ${status.failed}`] : [])
      ].join('\n'))
    }))

  fl.command('rounds <job>')
    .description('every round: updates committed or rejected (why), attestations (agreed, slashed), metrics')
    .action(action(async (job: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const rounds = await (await client(g)).fl.rounds(job)
      printResult(g, rounds, () => rounds.map((r: any) => [
        `Round ${r.round}: ${r.finalizedAt !== 0 ? `finalized ${new Date(r.finalizedAt * 1000).toISOString()}, aggregate ${r.aggregateCid}` : `open until ${new Date(r.deadline * 1000).toISOString()}`}`,
        ...r.commitments.map((c: any) => `  update  ${c.participant} ${c.numExamples.padStart(6)} samples ${c.updateCid}${c.rejected ? `  REJECTED: ${c.rejectReason ?? ''}` : ''}`),
        ...r.attestations.map((a: any) => `  attest  ${a.attester} ${a.aggregateCid}${a.agreed === false ? '  OUTVOTED' : ''}${a.slashed != null ? `  slashed ${tokens(a.slashed)}` : ''}`),
        ...r.metrics.map((m: any) => `  metric  ${m.name} = ${m.value.toFixed(4)} (${m.validator})`),
        ...(r.local?.missed != null ? [`  this node did not contribute: ${r.local.missed}`] : []),
        ...(r.local?.dp != null ? [`  privacy (ε = ${r.local.dp.epsilon < 0 ? '∞' : r.local.dp.epsilon.toFixed(3)}, δ = ${r.local.dp.delta})`] : [])
      ].join('\n')).join('\n'))
    }))

  fl.command('results <job>')
    .description('the payout per participant, the final model and its metrics')
    .action(action(async (job: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const results = await (await client(g)).fl.results(job)
      printResult(g, results, () => [
        `Job ${results.jobId}: ${results.paidOut ? `paid out ${tokens(results.pool)}` : 'not paid out yet'}`,
        ...results.payouts.map((p: any) => `  ${p.participant}  reward ${tokens(p.reward)}, stake back ${tokens(p.stakeReturned)}`),
        ...(results.dust != null && results.dust !== '0' ? [`  back to the sponsor: ${tokens(results.dust)}`] : []),
        ...(results.finalModel != null ? [`Final model: ${results.finalModel.name}@${results.finalModel.version} (${results.finalModel.cid})`] : []),
        ...(results.finalMetrics != null ? [`Final metrics: ${Object.entries(results.finalMetrics).map(([k, v]) => `${k} ${(v as number).toFixed(4)}`).join(', ')}`] : []),
        ...(results.privacy != null ? [`Privacy: (ε = ${results.privacy.epsilon < 0 ? '∞' : results.privacy.epsilon.toFixed(3)}, δ = ${results.privacy.delta})`] : [])
      ].join('\n'))
    }))
}
