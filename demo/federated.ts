/**
 * `npm run demo:fl`: federated learning across real nodes. A sponsor node (which also runs the
 * embedded chain) publishes a small MLP, opens jobs on chain, and holds a held-out test set; N
 * participant nodes (separate processes, own homes, own keys) each hold a non-IID shard of the real
 * MNIST digits shipped in the `mnist` package, join, train locally each round and commit only their
 * updates; the nodes aggregate deterministically and attest the aggregate's CID; the sponsor
 * evaluates each round, pays out by accepted samples and publishes the final model.
 *
 * Jobs run side by side: FedAvg, FedAvg with distributed DP (when --dp-noise is given), a robust rule
 * on the same clean data, and the robust rule again with one participant poisoning (delta × 100).
 *
 * Usage: npm run demo:fl [-- --participants 5 --rounds 5 --samples 10000 --dp-noise 0.3]
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import type { ArchitectureSpec } from '../src/federated/training/architecture.ts'
import { holdOut, loadMnist, partitionNonIid, type Dataset } from '../src/federated/training/data.ts'
import { makeTempDir, type TestDaemon } from '../test/helpers/daemon.ts'
import { startFederatedNodes, writeBaseModel } from '../test/helpers/federated.ts'

const POISON_TRAINER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures/scriptedTrainer.ts')

export interface FederatedDemoOptions {
  participants?: number
  rounds?: number
  /** MNIST samples used in all (a fifth is held out for evaluation). */
  samples?: number
  /** Seconds each round takes commitments (rounds end earlier once everyone committed). */
  roundDurationSeconds?: number
  /** Turns on distributed DP for the FedAvg job. */
  dp?: { clipNorm: number, noiseMultiplier: number, delta: number }
  /** The robust rule compared with FedAvg. */
  robust?: { name: 'median' | 'trimmed-mean' | 'krum' | 'multi-krum', beta?: number, normBound?: number }
  /** Fraction of the data dealt to everyone before the non-IID split (default 0.2). */
  iidFraction?: number
  /** Also run the robust rule with the last participant poisoning. */
  poisoning?: boolean
  log?: (line: string) => void
}

export interface DemoJobResult {
  label: string
  jobId: string
  strategy: string
  /** Held-out accuracy of each round's agreed aggregate, as the sponsor posted it on chain. */
  accuracy: number[]
  privacy?: { epsilon: number, delta: number }
  payouts: Array<{ participant: string, reward: string, stakeReturned: string }>
  rejected: Array<{ round: number, participant: string, reason: string }>
  finalModel?: { name: string, version: string, cid: string }
}

export interface FederatedDemoResult {
  sponsor: string
  participants: string[]
  jobs: DemoJobResult[]
}

const ARCHITECTURE: ArchitectureSpec = { input: { shape: [784] }, layers: [{ type: 'dense', units: 64, activation: 'relu' }], output: { classes: 10 } }

export async function runFederatedDemo (options: FederatedDemoOptions = {}): Promise<FederatedDemoResult> {
  const participants = options.participants ?? 5
  const rounds = options.rounds ?? 5
  const log = options.log ?? ((line: string) => { process.stdout.write(line + '\n') })
  const robust = options.robust ?? { name: 'trimmed-mean', beta: 0.2, normBound: 3 }
  const workDir = await makeTempDir('myc-demo-fl-')
  const daemons: TestDaemon[] = []
  try {
    log(`Loading ${options.samples ?? 10_000} MNIST digits into ${participants} non-IID shards…`)
    const all = await loadMnist({ count: options.samples ?? 10_000, seed: 7 })
    const { train, test } = holdOut(all, 0.2, 7)
    // Non-IID, yet every digit is held by about two participants, so losing one (a poisoner) costs little.
    const labelsPerClient = Math.min(10, Math.max(3, Math.ceil(20 / participants)))
    const shards = partitionNonIid(train, participants, { labelsPerClient, iidFraction: options.iidFraction ?? 0.2, seed: 7 })
    await writeCsv(path.join(workDir, 'test.csv'), test)
    for (let i = 0; i < participants; i++) await writeCsv(path.join(workDir, `shard-${i}.csv`), shards[i])

    log(`Starting ${participants + 1} nodes…`)
    const network = await startFederatedNodes(participants)
    const { sponsor, nodes } = network
    daemons.push(...network.all)
    log(`  sponsor ${sponsor.address}`)
    nodes.forEach((node, i) => { log(`  participant ${i + 1} ${node.address}: ${shards[i].count} samples, digits ${digitsOf(shards[i]).join(',')}`) })

    const modelDir = path.join(workDir, 'model')
    await writeBaseModel(modelDir, ARCHITECTURE)
    await sponsor.json(['publish', modelDir, '--name', 'demo/mnist-mlp', '--version', '1.0.0', '--task', 'image-classification'])
    log('Published demo/mnist-mlp@1.0.0 (784-64-10 MLP, random initial weights)')

    interface Plan { label: string, strategy: { name: string, beta?: number, normBound?: { maxRatio: number } }, dp?: FederatedDemoOptions['dp'], poisoned: boolean, publish: string }
    const plans: Plan[] = [
      { label: 'FedAvg', strategy: { name: 'fedavg' }, poisoned: false, publish: '1.1.0' },
      ...(options.dp != null ? [{ label: `FedAvg + DP (z = ${options.dp.noiseMultiplier}, C = ${options.dp.clipNorm})`, strategy: { name: 'fedavg' }, dp: options.dp, poisoned: false, publish: '1.2.0' }] : []),
      { label: `${robust.name} (robust)`, strategy: robustSpec(robust), poisoned: false, publish: '1.3.0' },
      ...(options.poisoning === false ? [] : [{ label: `${robust.name}, 1 poisoning ×100`, strategy: robustSpec(robust), poisoned: true, publish: '1.4.0' }])
    ]
    const opened: Array<{ jobId: string, plan: Plan }> = []
    for (const plan of plans) {
      const job = await sponsor.json(['fl', 'open', '--model', 'demo/mnist-mlp@1.0.0',
        '--rounds', String(rounds), '--participants', String(participants), '--round-duration', `${options.roundDurationSeconds ?? 120}s`,
        '--bounty', '100', '--stake', '1', '--strategy', plan.strategy.name,
        ...(plan.strategy.beta != null ? ['--beta', String(plan.strategy.beta)] : []),
        ...(plan.strategy.normBound != null ? ['--norm-bound', String(plan.strategy.normBound.maxRatio)] : []),
        '--epochs', '2', '--lr', '0.1', '--batch-size', '32',
        ...(plan.dp != null ? ['--dp-clip', String(plan.dp.clipNorm), '--dp-noise', String(plan.dp.noiseMultiplier), '--dp-delta', String(plan.dp.delta)] : []),
        '--publish', `demo/mnist-mlp@${plan.publish}`, '--validation', path.join(workDir, 'test.csv')])
      opened.push({ jobId: job.jobId, plan })
      for (let i = 0; i < participants; i++) {
        const poisoner = plan.poisoned && i === participants - 1
        await nodes[i].json(['fl', 'join', job.jobId, '--data', path.join(workDir, `shard-${i}.csv`),
          ...(poisoner ? ['--trainer', `"${process.execPath}" "${POISON_TRAINER}" {config} 100`] : [])])
      }
      log(`Opened job ${job.jobId}: ${plan.label}; all ${participants} participants joined`)
    }

    const results: DemoJobResult[] = []
    for (const { jobId, plan } of opened) {
      await waitForJob(sponsor, jobId, rounds, options.roundDurationSeconds ?? 120, log)
      const roundViews = await sponsor.json(['fl', 'rounds', jobId])
      const outcome = await sponsor.json(['fl', 'results', jobId])
      results.push({
        label: plan.label,
        jobId,
        strategy: plan.strategy.name,
        accuracy: roundViews.map((r: any) => r.metrics.find((m: any) => m.name === 'accuracy')?.value ?? Number.NaN),
        ...(outcome.privacy != null ? { privacy: { epsilon: outcome.privacy.epsilon, delta: outcome.privacy.delta } } : {}),
        payouts: outcome.payouts,
        rejected: roundViews.flatMap((r: any) => r.commitments.filter((c: any) => c.rejected).map((c: any) => ({ round: r.round, participant: c.participant, reason: c.rejectReason ?? '' }))),
        ...(outcome.finalModel != null ? { finalModel: outcome.finalModel } : {})
      })
    }

    log('')
    log(`Held-out accuracy per round (${test.count} samples, evaluated by the sponsor, posted on chain):`)
    log(`  ${'round'.padEnd(6)}${results.map(r => r.label.padEnd(34)).join('')}`)
    for (let r = 0; r < rounds; r++) log(`  ${String(r + 1).padEnd(6)}${results.map(j => (Number.isFinite(j.accuracy[r]) ? (j.accuracy[r] * 100).toFixed(2) + ' %' : '-').padEnd(34)).join('')}`)
    for (const job of results) {
      log('')
      log(`Job ${job.jobId} (${job.label}) → ${job.finalModel != null ? `${job.finalModel.name}@${job.finalModel.version} ${job.finalModel.cid}` : 'final model not published'}`)
      if (job.privacy != null) log(`  privacy: (ε = ${job.privacy.epsilon < 0 ? '∞' : job.privacy.epsilon.toFixed(2)}, δ = ${job.privacy.delta})`)
      for (const rejection of job.rejected) log(`  round ${rejection.round}: update of ${rejection.participant} rejected — ${rejection.reason}`)
      for (const payout of job.payouts) log(`  paid ${payout.participant}: ${formatMyc(payout.reward)} reward + ${formatMyc(payout.stakeReturned)} stake back`)
    }
    return { sponsor: sponsor.address, participants: nodes.map(n => n.address), jobs: results }
  } finally {
    await Promise.all(daemons.map(async daemon => { await daemon.cleanup() }))
    await fs.rm(workDir, { recursive: true, force: true })
  }
}

function robustSpec (robust: NonNullable<FederatedDemoOptions['robust']>): { name: string, beta?: number, normBound?: { maxRatio: number } } {
  return { name: robust.name, ...(robust.beta != null ? { beta: robust.beta } : {}), ...(robust.normBound != null ? { normBound: { maxRatio: robust.normBound } } : {}) }
}

async function waitForJob (sponsor: TestDaemon, jobId: string, rounds: number, roundSeconds: number, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + (rounds + 2) * (roundSeconds + 60) * 1000
  let lastRound = 0
  while (Date.now() < deadline) {
    const status = await sponsor.json(['fl', 'status', jobId])
    if (status.failed != null) throw new Error(`job ${jobId} failed on the sponsor: ${status.failed}`)
    if (status.stalled != null) throw new Error(`job ${jobId} stalled in round ${status.stalled}: no agreement in time`)
    if (status.job.finalizedRounds > lastRound) {
      lastRound = status.job.finalizedRounds
      log(`  job ${jobId}: round ${lastRound}/${rounds} finalized`)
    }
    if (status.job.paidOut === true && (status.published != null || status.publishError != null)) return
    await new Promise(resolve => setTimeout(resolve, 1000))
  }
  throw new Error(`job ${jobId} did not finish in time`)
}

/** Features as CSV with a label column, as a participant's own data would come. */
export async function writeCsv (file: string, data: Dataset): Promise<void> {
  const size = data.x.length / data.count
  const lines = [[...Array.from({ length: size }, (_, i) => `p${i}`), 'label'].join(',')]
  for (let s = 0; s < data.count; s++) {
    const row: string[] = []
    for (let i = 0; i < size; i++) {
      const v = data.x[s * size + i]
      row.push(v === 0 ? '0' : v.toFixed(4))
    }
    row.push(String(data.y[s]))
    lines.push(row.join(','))
  }
  await fs.writeFile(file, lines.join('\n') + '\n')
}

function digitsOf (data: Dataset): number[] {
  const counts = new Map<number, number>()
  for (const y of data.y) counts.set(y, (counts.get(y) ?? 0) + 1)
  return [...counts.entries()].filter(([, n]) => n > data.count * 0.1).map(([d]) => d).sort((a, b) => a - b)
}

function formatMyc (units: string): string {
  return `${(Number(BigInt(units) / 10n ** 12n) / 1e6).toFixed(3)} MYC`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      participants: { type: 'string' },
      rounds: { type: 'string' },
      samples: { type: 'string' },
      'round-duration': { type: 'string' },
      'dp-noise': { type: 'string' },
      'dp-clip': { type: 'string' },
      'no-poisoning': { type: 'boolean' }
    }
  })
  const num = (value: string | undefined): number | undefined => value != null ? Number(value) : undefined
  await runFederatedDemo({
    participants: num(values.participants),
    rounds: num(values.rounds),
    samples: num(values.samples),
    roundDurationSeconds: num(values['round-duration']),
    ...(values['dp-noise'] != null ? { dp: { clipNorm: num(values['dp-clip']) ?? 1, noiseMultiplier: Number(values['dp-noise']), delta: 1e-5 } } : {}),
    poisoning: values['no-poisoning'] !== true
  })
}
