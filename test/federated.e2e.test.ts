/**
 * Federated learning across real nodes, with faults: a participant poisoning its update (×100), a
 * rogue participant (an account driven by this test, no node) that commits a malformed update file
 * and attests a wrong aggregate CID, a participant that crashes mid-round, and one that restarts
 * between rounds. The honest nodes still finalize every round by k-of-n attestations; the sponsor
 * records the rejections with their reasons, posts metrics, pays out by accepted samples and
 * publishes the final model, whose audit shows the whole job.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { writeCsv } from '../demo/federated.ts'
import { attestAggregate } from '../src/ledger/actions/attestAggregate.ts'
import { commitUpdate } from '../src/ledger/actions/commitUpdate.ts'
import { getRound } from '../src/ledger/actions/getRound.ts'
import { joinJob } from '../src/ledger/actions/joinJob.ts'
import { createLedger, type Ledger } from '../src/ledger/createLedger.ts'
import { holdOut, loadMnist, partitionNonIid } from '../src/federated/training/data.ts'
import { makeTempDir, startTestDaemon, type TestDaemon } from './helpers/daemon.ts'
import { FL_TEST_ARCHITECTURE as ARCHITECTURE, FL_TEST_ROUND_SECONDS as ROUND_SECONDS, SCRIPTED_TRAINER as TRAINER, startFederatedNodes, until, writeBaseModel } from './helpers/federated.ts'

const STAKE_UNITS = 10n ** 18n

describe('federated learning with faults (real nodes, real chain)', { timeout: 300_000 }, () => {
  let work: string
  const daemons: TestDaemon[] = []
  let sponsor: TestDaemon
  let honestA: TestDaemon
  let honestB: TestDaemon
  let poisoner: TestDaemon
  let crasher: TestDaemon
  let rogue: Ledger
  let jobId: string

  before(async () => {
    work = await makeTempDir('myc-fl-e2e-')
    const all = await loadMnist({ count: 2500, seed: 3 })
    const { train, test: heldOut } = holdOut(all, 0.2, 3)
    const shards = partitionNonIid(train, 4, { labelsPerClient: 3, iidFraction: 0.2, seed: 3 })
    await writeCsv(path.join(work, 'test.csv'), heldOut)
    for (let i = 0; i < 4; i++) await writeCsv(path.join(work, `shard-${i}.csv`), shards[i])
    const modelDir = path.join(work, 'model')
    await writeBaseModel(modelDir, ARCHITECTURE)
    await fs.mkdir(path.join(work, 'junk'))
    await fs.writeFile(path.join(work, 'junk', 'update.bin'), 'this is not a safetensors file at all, just text pretending to be one')

    const network = await startFederatedNodes(4)
    daemons.push(...network.all)
    sponsor = network.sponsor;
    [honestA, honestB, poisoner, crasher] = network.nodes
    const chain = await sponsor.json(['chain', 'info'])
    const account = privateKeyToAccount(generatePrivateKey())
    const faucet = await fetch(`${sponsor.apiUrl}/api/v0/chain/faucet`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await sponsor.token()}` }, body: JSON.stringify({ address: account.address }) })
    assert.equal(faucet.status, 200, await faucet.text())
    rogue = await createLedger({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, account, deployment: chain.deployment })
    await sponsor.json(['publish', modelDir, '--name', 'fl/mlp', '--version', '1.0.0'])
  })

  after(async () => {
    await Promise.all(daemons.map(async d => { await d.cleanup() }))
    if (work != null) await fs.rm(work, { recursive: true, force: true })
  })

  test('poisoned, malformed, wrongly attested and crashed participants do not stop the job', async () => {
    // Bad input first: a job that cannot work is refused before anything is escrowed.
    const notTrainable = await sponsor.cli(['fl', 'open', '--model', 'fl/missing@1.0.0', '--rounds', '1', '--participants', '1', '--bounty', '1'])
    assert.notEqual(notTrainable.code, 0)

    // The rogue's malformed update file: served by A as part of a published version.
    const junk = await honestA.json(['publish', path.join(work, 'junk'), '--name', 'rogue/junk', '--version', '1.0.0'])
    const junkCid: string = junk.manifest.files[0].cid
    const opened = await sponsor.json(['fl', 'open', '--model', 'fl/mlp@1.0.0', '--rounds', '2', '--participants', '5', '-k', '3',
      '--round-duration', `${ROUND_SECONDS * 1.5}s`, '--bounty', '50', '--stake', '1', '--strategy', 'median', '--norm-bound', '3',
      '--lr', '0.1', '--epochs', '3', '--validation', path.join(work, 'test.csv'), '--publish', 'fl/mlp@1.1.0'])
    jobId = opened.jobId

    // The rogue joins (staking) like anyone; it will commit the junk and attest a wrong aggregate.
    await joinJob(rogue, { jobId: BigInt(jobId) })

    // Data that does not fit the model is refused at join, before any stake moves.
    const badData = path.join(work, 'bad.csv')
    await fs.writeFile(badData, 'a,b,label\n1,2,0\n')
    const refused = await honestA.cli(['fl', 'join', jobId, '--data', badData])
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr + refused.stdout, /2 features per sample.*takes 784/)

    await Promise.all([
      honestA.json(['fl', 'join', jobId, '--data', path.join(work, 'shard-0.csv')]),
      honestB.json(['fl', 'join', jobId, '--data', path.join(work, 'shard-1.csv')]),
      poisoner.json(['fl', 'join', jobId, '--data', path.join(work, 'shard-2.csv'), '--trainer', `"${process.execPath}" "${TRAINER}" {config} 100`]),
      // Honest in round 1, stuck in round 2 (then killed).
      crasher.json(['fl', 'join', jobId, '--data', path.join(work, 'shard-3.csv'), '--trainer', `"${process.execPath}" "${TRAINER}" {config} 1 2`])
    ])
    await until('the four nodes to commit round 1', async () => {
      const round = await getRound(rogue, { jobId: BigInt(jobId), round: 1 })
      return round.commitments.length === 4 ? round : undefined
    }, 120_000)
    await commitUpdate(rogue, { jobId: BigInt(jobId), round: 1, updateCid: junkCid, numExamples: 5000n })
    // Everyone committed: attestations are open; the rogue attests at once, before the honest nodes have aggregated.
    await attestAggregate(rogue, { jobId: BigInt(jobId), round: 1, aggregateCid: junkCid })

    await until('round 1 to finalize', async () => {
      const round = await getRound(rogue, { jobId: BigInt(jobId), round: 1 })
      return round.finalizedAt !== 0 ? round : undefined
    }, 120_000)
    await until('the crasher to be training round 2', async () => {
      const status = await crasher.json(['fl', 'status', jobId])
      return status.activity?.round === 2 && status.activity.phase === 'training' ? status : undefined
    }, 60_000)
    await crasher.kill()
    // A participant restarts between rounds: it picks its job up from the chain and its own records.
    assert.equal(await honestB.stop(), 0)
    const restarted = await startTestDaemon({ home: honestB.home, chainFrom: sponsor })
    daemons[daemons.indexOf(honestB)] = restarted
    honestB = restarted
    for (const other of daemons.filter(d => d !== restarted && d !== crasher)) await restarted.json(['connect', other.multiaddrs[0]])

    const results = await until('the payout and the final model', async () => {
      const status = await sponsor.json(['fl', 'status', jobId])
      if (status.failed != null) throw new Error(`the sponsor gave up: ${status.failed}`)
      return status.published != null ? await sponsor.json<any>(['fl', 'results', jobId]) : undefined
    }, 180_000)

    const rounds = await sponsor.json(['fl', 'rounds', jobId])
    const [round1, round2] = rounds
    const rogueAddress = rogue.account!.address
    const commitment = (round: any, who: string): any => round.commitments.find((c: any) => c.participant === who)

    // Round 1: five updates; the malformed one and the poisoned one rejected with their reasons.
    assert.equal(round1.commitments.length, 5)
    assert.match(commitment(round1, rogueAddress).rejectReason, /^malformed: /)
    assert.match(commitment(round1, poisoner.address).rejectReason, /^norm-bound: /)
    for (const honest of [honestA, honestB, crasher]) assert.equal(commitment(round1, honest.address).rejected, false)
    // The wrong attestation was outvoted by the honest majority and its stake slashed.
    const wrong = round1.attestations.find((a: any) => a.attester === rogueAddress)
    assert.equal(wrong.agreed, false)
    assert.equal(wrong.slashed, STAKE_UNITS.toString())
    assert.ok(round1.attestations.filter((a: any) => a.agreed === true).length >= 3)
    // Round 2 completed without the crashed node (and without the rogue): at its deadline.
    assert.equal(commitment(round2, crasher.address), undefined)
    assert.equal(round2.commitments.length, 3)
    assert.ok(round2.finalizedAt >= round2.deadline)
    assert.match(commitment(round2, poisoner.address).rejectReason, /^norm-bound: /)
    assert.equal(round2.attestations.find((a: any) => a.attester === honestB.address)?.agreed, true, 'the restarted node attested round 2')
    // The sponsor evaluated every round on its held-out data; the model learnt despite the attacks.
    const accuracy = rounds.map((r: any) => r.metrics.find((m: any) => m.name === 'accuracy').value)
    assert.ok(accuracy[1] > 0.5, `accuracy per round ${accuracy.join(', ')}`)

    // Paid by accepted samples: nothing for rejected updates, no stake back for the slashed attester.
    const paid = (who: string): any => results.payouts.find((p: any) => p.participant === who)
    for (const honest of [honestA, honestB, crasher]) assert.ok(BigInt(paid(honest.address).reward) > 0n)
    assert.equal(paid(poisoner.address).reward, '0')
    assert.equal(paid(poisoner.address).stakeReturned, STAKE_UNITS.toString())
    assert.equal(paid(rogueAddress).reward, '0')
    assert.equal(paid(rogueAddress).stakeReturned, '0')
    assert.equal(BigInt(results.pool), 51n * STAKE_UNITS) // the bounty plus the slashed stake

    // The final model: a new version whose parent is the base, listing its contributors, runnable by onnxruntime.
    const final = await sponsor.json(['show', 'fl/mlp@1.1.0'])
    const base = await sponsor.json(['show', 'fl/mlp@1.0.0'])
    assert.deepEqual(final.manifest.parents, [base.cid])
    assert.equal(final.manifest.extra.federated.jobId, jobId)
    assert.equal(final.manifest.extra.federated.contributors.length, 5)
    const input = path.join(work, 'input.json')
    await fs.writeFile(input, JSON.stringify({ input: { dims: [1, 784], data: Array.from({ length: 784 }, (_, i) => (i % 7) / 7) } }))
    const inferred = await sponsor.json(['infer', 'fl/mlp@1.1.0', '-i', input])
    const probabilities = (Object.values(inferred.outputs)[0] as { data: number[][] }).data.flat()
    assert.equal(probabilities.length, 10)
    assert.ok(Math.abs(probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4)

    // The audit of the model shows the job: rounds, attestations, slashing, metrics, rejections, payouts.
    const audit = await sponsor.json(['audit', 'fl/mlp'])
    assert.deepEqual(audit.federatedJobs, [jobId])
    const names = new Set(audit.events.map((e: any) => e.eventName))
    for (const name of ['JobOpened', 'Joined', 'UpdateCommitted', 'Attested', 'RoundFinalized', 'Slashed', 'MetricPosted', 'UpdateRejected', 'ParticipantPaid', 'JobPaidOut', 'VersionAdded']) {
      assert.ok(names.has(name), `audit lacks ${name}`)
    }
  })
})
