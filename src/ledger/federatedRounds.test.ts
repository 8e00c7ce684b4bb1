import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { Address } from 'viem'
import { attestAggregate } from './actions/attestAggregate.ts'
import { balanceOf } from './actions/balanceOf.ts'
import { commitUpdate } from './actions/commitUpdate.ts'
import { getJob } from './actions/getJob.ts'
import { getRound } from './actions/getRound.ts'
import { joinJob } from './actions/joinJob.ts'
import { advertiseMaskingKeys, getMaskingKeys, publishKeyShares } from './actions/maskingKeys.ts'
import { openJob, type JobTerms } from './actions/openJob.ts'
import { payoutJob } from './actions/payoutJob.ts'
import { postMetric } from './actions/postMetric.ts'
import { rejectUpdate } from './actions/rejectUpdate.ts'
import { CONTRACTS_FILE } from './constants.ts'
import { readContractsFile, writeContractsFile } from './contractsFile.ts'
import { createLedger } from './createLedger.ts'
import { FederatedRoundsNotDeployedError } from './errors.ts'
import { startEmbeddedLedger } from './startEmbeddedLedger.ts'
import { startTestLedger, testAccount, TOKEN, type TestLedger, rejectsWith } from './testHelpers.ts'
import type { Ledger } from './createLedger.ts'

const HOUR = 3_600
const AGGREGATE = 'bafyaggregate1'
const AGGREGATE_2 = 'bafyaggregate2'

describe('FederatedRounds', () => {
  let t: TestLedger
  let sponsor: Ledger
  let p1: Ledger
  let p2: Ledger
  let p3: Ledger
  let stranger: Ledger
  const address = (ledger: Ledger): Address => ledger.account!.address
  const tokens = async (ledger: Ledger): Promise<bigint> => (await balanceOf(ledger)).tokens
  const terms = (overrides: Partial<JobTerms> = {}): JobTerms => ({
    baseVersionId: 1n,
    taskSpecCid: 'bafytaskspec',
    rounds: 2,
    participantsWanted: 3,
    strategy: 'fedavg',
    dpParams: '{"clip":1,"noiseMultiplier":0.8}',
    bounty: 100n * TOKEN,
    stake: 0n,
    aggregatorsK: 2,
    roundDuration: HOUR,
    ...overrides
  })
  const openWith = async (overrides: Partial<JobTerms> = {}): Promise<bigint> => {
    const { jobId } = await openJob(sponsor, terms(overrides))
    for (const p of [p1, p2, p3]) await joinJob(p, { jobId })
    return jobId
  }
  const commit = async (p: Ledger, jobId: bigint, round: number, numExamples: bigint): Promise<unknown> =>
    await commitUpdate(p, { jobId, round, updateCid: `bafyupdate-${round}-${address(p)}`, numExamples })

  before(async () => {
    t = await startTestLedger({ users: 5 })
    ;[sponsor, p1, p2, p3, stranger] = await Promise.all(t.users.map(t.as))
  })
  after(async () => { await t.cleanup() })

  test('a 2-round job with 3 participants (k = 2) pays the bounty by accepted samples, dust to the sponsor, stakes back', async () => {
    const before = await Promise.all([sponsor, p1, p2, p3].map(tokens))
    const opened = await openJob(sponsor, terms({ stake: 10n * TOKEN }))
    const { jobId } = opened
    for (const p of [p1, p2, p3]) assert.equal((await joinJob(p, { jobId })).stake, 10n * TOKEN)
    assert.equal(await tokens(sponsor), before[0] - 100n * TOKEN)
    assert.equal(await tokens(p1), before[1] - 10n * TOKEN)
    const job = (await getJob(stranger, { jobId }))!
    assert.deepEqual(
      [job.sponsor, job.participants, job.taskSpecCid, job.strategy, job.dpParams, job.rounds, job.aggregatorsK, job.pool, job.paidOut],
      [address(sponsor), [address(p1), address(p2), address(p3)], 'bafytaskspec', 'fedavg', '{"clip":1,"noiseMultiplier":0.8}', 2, 2, 100n * TOKEN, false]
    )
    assert.equal(opened.firstDeadline, job.openedAt + HOUR)

    // Round 1: 100 samples each; every participant committed, so attestations open before the deadline.
    for (const p of [p1, p2, p3]) await commit(p, jobId, 1, 100n)
    assert.equal((await attestAggregate(p1, { jobId, round: 1, aggregateCid: AGGREGATE })).finalized, false)
    const final1 = await attestAggregate(p2, { jobId, round: 1, aggregateCid: AGGREGATE })
    assert.deepEqual([final1.finalized, final1.slashed], [true, []])
    // Once finalized, the round takes no more attestations (nor commitments).
    await rejectsWith(attestAggregate(p3, { jobId, round: 1, aggregateCid: AGGREGATE }), 'RoundAlreadyFinalized', /Round 1 of federated job \d+ is already finalized/)
    const round1 = await getRound(stranger, { jobId, round: 1 })
    assert.equal(round1.aggregateCid, AGGREGATE)
    assert.equal(round1.attestationCount, 2)
    assert.deepEqual(round1.commitments.map(c => [c.participant, c.numExamples, c.rejected]), [[address(p1), 100n, false], [address(p2), 100n, false], [address(p3), 100n, false]])
    assert.equal(await p1.contracts.federatedRounds!.read.attestationCount([jobId, 1n, AGGREGATE]), 2n)
    await postMetric(p3, { jobId, round: 1, name: 'accuracy', valueE6: 912_300n })
    await postMetric(sponsor, { jobId, round: 1, name: 'loss', valueE6: 301_000n })

    // Round 2 started at the finalization: 100, 100 and 200 samples.
    const round2 = await getRound(stranger, { jobId, round: 2 })
    assert.equal(round2.deadline, round1.finalizedAt + HOUR)
    await commit(p1, jobId, 2, 100n)
    await commit(p2, jobId, 2, 100n)
    await commit(p3, jobId, 2, 200n)
    await attestAggregate(p3, { jobId, round: 2, aggregateCid: AGGREGATE_2 })
    await attestAggregate(p1, { jobId, round: 2, aggregateCid: AGGREGATE_2 })
    assert.equal((await getJob(stranger, { jobId }))!.finalizedRounds, 2)

    // Accepted: 200, 200, 300 of 700. 100 MYC × 200/700 = 28.571428571428571428 (floor), × 300/700 = 42.857142857142857142.
    const paid = await payoutJob(stranger, { jobId })
    const r12 = 28_571428571428571428n
    const r3 = 42_857142857142857142n
    assert.deepEqual(paid.payments, [
      { participant: address(p1), reward: r12, stakeReturned: 10n * TOKEN },
      { participant: address(p2), reward: r12, stakeReturned: 10n * TOKEN },
      { participant: address(p3), reward: r3, stakeReturned: 10n * TOKEN }
    ])
    assert.equal(paid.dust, 2n)
    assert.equal(paid.pool, 100n * TOKEN)
    assert.deepEqual(await Promise.all([sponsor, p1, p2, p3].map(tokens)), [before[0] - 100n * TOKEN + 2n, before[1] + r12, before[2] + r12, before[3] + r3])
    assert.equal(await stranger.contracts.token.read.balanceOf([stranger.addresses.federatedRounds!]), 0n, 'nothing stays in escrow')
    assert.equal((await getJob(stranger, { jobId }))!.paidOut, true)
    await rejectsWith(payoutJob(p1, { jobId }), 'AlreadyPaidOut')
  })

  test('a wrong attestation is outvoted and its stake slashed into the pool', async () => {
    const jobId = await openWith({ rounds: 1, stake: 10n * TOKEN })
    for (const p of [p1, p2, p3]) await commit(p, jobId, 1, 100n)
    await attestAggregate(p3, { jobId, round: 1, aggregateCid: 'bafywrong' })
    await attestAggregate(p1, { jobId, round: 1, aggregateCid: AGGREGATE })
    const final = await attestAggregate(p2, { jobId, round: 1, aggregateCid: AGGREGATE })
    assert.deepEqual([final.finalized, final.slashed], [true, [{ attester: address(p3), amount: 10n * TOKEN }]])
    const contract = p1.contracts.federatedRounds!
    assert.equal(await contract.read.attestationCount([jobId, 1n, 'bafywrong']), 1n)
    assert.equal(await contract.read.attestationCount([jobId, 1n, AGGREGATE]), 2n)
    const slashed = await contract.read.participantOf([jobId, address(p3)])
    assert.deepEqual([slashed.slashed, slashed.stake], [true, 0n])
    assert.equal((await getJob(p1, { jobId }))!.pool, 110n * TOKEN)

    // 110 MYC / 3 = 36.666666666666666666 each (the slashed one keeps its reward, not its stake); dust 2.
    const paid = await payoutJob(sponsor, { jobId })
    const share = 36_666666666666666666n
    assert.deepEqual(paid.payments.map(p => [p.reward, p.stakeReturned]), [[share, 10n * TOKEN], [share, 10n * TOKEN], [share, 0n]])
    assert.equal(paid.dust, 2n)
  })

  test('late commits are refused, rejected updates earn nothing, access control, double attestations, payout after the last round', async () => {
    const sponsorBefore = await tokens(sponsor)
    const jobId = await openWith({ bounty: 10n * TOKEN })
    await rejectsWith(commit(stranger, jobId, 1, 10n), 'NotParticipant', /has not joined federated job/)
    await rejectsWith(attestAggregate(stranger, { jobId, round: 1, aggregateCid: AGGREGATE }), 'NotParticipant')
    await rejectsWith(postMetric(stranger, { jobId, round: 1, name: 'accuracy', valueE6: 1n }), 'NotParticipant')
    await rejectsWith(commit(p1, jobId, 2, 10n), 'RoundNotStarted')
    await rejectsWith(commit(p1, jobId, 3, 10n), 'InvalidRound')
    await commit(p1, jobId, 1, 50n)
    await commit(p2, jobId, 1, 150n)
    await rejectsWith(commit(p2, jobId, 1, 150n), 'AlreadyCommitted')
    // p3 has not committed and the deadline has not passed: aggregators wait.
    await rejectsWith(attestAggregate(p1, { jobId, round: 1, aggregateCid: AGGREGATE }), 'AttestationsNotOpen')
    await rejectsWith(postMetric(p1, { jobId, round: 1, name: 'accuracy', valueE6: 1n }), 'RoundNotFinalized')

    await t.chain.increaseTime(HOUR)
    await rejectsWith(commit(p3, jobId, 1, 500n), 'CommitDeadlinePassed', /Too late: round 1 of federated job \d+ took updates until/)
    await rejectsWith(joinJob(stranger, { jobId }), 'JoinClosed')
    await attestAggregate(p1, { jobId, round: 1, aggregateCid: AGGREGATE })
    await rejectsWith(attestAggregate(p1, { jobId, round: 1, aggregateCid: AGGREGATE }), 'AlreadyAttested', /has already attested/)
    await rejectsWith(attestAggregate(p1, { jobId, round: 1, aggregateCid: 'bafyother' }), 'AlreadyAttested')
    await rejectsWith(payoutJob(sponsor, { jobId }), 'JobNotFinished', /pays out after its last round: 0 of 2 rounds are finalized/)
    await attestAggregate(p2, { jobId, round: 1, aggregateCid: AGGREGATE })
    assert.deepEqual((await getRound(p1, { jobId, round: 1 })).commitments.map(c => c.participant), [address(p1), address(p2)], 'the late participant was skipped')

    await commit(p1, jobId, 2, 50n)
    await commit(p2, jobId, 2, 100n)
    await rejectsWith(rejectUpdate(p1, { jobId, round: 2, participant: address(p2), reason: 'outlier' }), 'NotSponsor', /is not the sponsor of federated job/)
    await rejectsWith(rejectUpdate(sponsor, { jobId, round: 2, participant: address(p3), reason: 'outlier' }), 'NoCommitment')
    await rejectUpdate(sponsor, { jobId, round: 2, participant: address(p2), reason: 'norm 100× the median' })
    await rejectsWith(rejectUpdate(sponsor, { jobId, round: 2, participant: address(p2), reason: 'again' }), 'UpdateAlreadyRejected')
    assert.deepEqual((await getRound(p1, { jobId, round: 2 })).commitments.map(c => c.rejected), [false, true])
    await t.chain.increaseTime(HOUR)
    await attestAggregate(p1, { jobId, round: 2, aggregateCid: AGGREGATE_2 })
    await rejectsWith(payoutJob(sponsor, { jobId }), 'JobNotFinished', /1 of 2 rounds/)
    await attestAggregate(p2, { jobId, round: 2, aggregateCid: AGGREGATE_2 })

    // Accepted: p1 50 + 50, p2 150 (its rejected 100 excluded), p3 none: 10 MYC × 100/250 = 4, × 150/250 = 6.
    const paid = await payoutJob(sponsor, { jobId })
    assert.deepEqual(paid.payments.map(p => p.reward), [4n * TOKEN, 6n * TOKEN, 0n])
    assert.equal(paid.dust, 0n)
    assert.equal(await tokens(sponsor), sponsorBefore - 10n * TOKEN)
    await rejectsWith(rejectUpdate(sponsor, { jobId, round: 1, participant: address(p1), reason: 'late' }), 'AlreadyPaidOut')
  })

  test('a stalled job pays out as it stood: the unagreed round earns nothing, stakes come back', async () => {
    const jobId = await openWith({ bounty: 12n * TOKEN, stake: 1n * TOKEN })
    await commit(p1, jobId, 1, 100n)
    await commit(p2, jobId, 1, 200n)
    await commit(p3, jobId, 1, 300n)
    await attestAggregate(p1, { jobId, round: 1, aggregateCid: AGGREGATE })
    await attestAggregate(p2, { jobId, round: 1, aggregateCid: AGGREGATE })
    // Round 2: only p1 shows up, and nobody attests.
    await commit(p1, jobId, 2, 1000n)
    await t.chain.increaseTime(HOUR)
    await rejectsWith(payoutJob(stranger, { jobId }), 'JobNotFinished', /no agreement within a round duration/)
    await t.chain.increaseTime(HOUR)
    const before = await tokens(p1)
    const paid = await payoutJob(stranger, { jobId })
    // Round 1 only: 12 MYC × 100/600, 200/600, 300/600; p1's 1000 of round 2 do not count.
    assert.deepEqual(paid.payments.map(p => p.reward), [2n * TOKEN, 4n * TOKEN, 6n * TOKEN])
    assert.deepEqual(paid.payments.map(p => p.stakeReturned), [TOKEN, TOKEN, TOKEN])
    assert.equal(await tokens(p1), before + 3n * TOKEN)
    assert.equal((await getJob(p1, { jobId }))!.paidOut, true)
    await rejectsWith(payoutJob(sponsor, { jobId }), 'AlreadyPaidOut')
  })

  test('secure aggregation: the masking set closes when everyone advertised or after the first quarter; shares come after', async () => {
    const key = (n: number): Uint8Array => new Uint8Array(32).fill(n)
    const jobId = await openWith()
    await advertiseMaskingKeys(p1, { jobId, round: 1, encryptionKey: key(1), maskingKey: key(2) })
    await rejectsWith(publishKeyShares(p1, { jobId, round: 1, sharesCid: 'bafyshares1' }), 'KeyPhaseOpen')
    await rejectsWith(advertiseMaskingKeys(stranger, { jobId, round: 1, encryptionKey: key(1), maskingKey: key(2) }), 'NotParticipant')
    await rejectsWith(advertiseMaskingKeys(p1, { jobId, round: 1, encryptionKey: key(3), maskingKey: key(4) }), 'KeysAlreadyAdvertised')
    await advertiseMaskingKeys(p2, { jobId, round: 1, encryptionKey: key(5), maskingKey: key(6) })
    await advertiseMaskingKeys(p3, { jobId, round: 1, encryptionKey: key(7), maskingKey: key(8) })
    await publishKeyShares(p1, { jobId, round: 1, sharesCid: 'bafyshares1' })
    await rejectsWith(publishKeyShares(p1, { jobId, round: 1, sharesCid: 'bafyshares1' }), 'SharesAlreadyPublished')
    const keys = await getMaskingKeys(p1, { jobId, round: 1 })
    assert.equal(keys.keyPhaseClosed, true)
    assert.equal(keys.sharesPhaseClosed, false)
    assert.deepEqual(keys.members.map(m => [m.participant, m.maskingKey[0], m.sharesCid]), [[address(p1), 2, 'bafyshares1'], [address(p2), 6, undefined], [address(p3), 8, undefined]])

    // Only p1 shows up: after a quarter of the round the set closes without the others.
    const other = await openWith()
    await advertiseMaskingKeys(p1, { jobId: other, round: 1, encryptionKey: key(1), maskingKey: key(2) })
    assert.equal((await getMaskingKeys(p1, { jobId: other, round: 1 })).keyPhaseClosed, false)
    await t.chain.increaseTime(HOUR / 4)
    await rejectsWith(advertiseMaskingKeys(p2, { jobId: other, round: 1, encryptionKey: key(5), maskingKey: key(6) }), 'KeyPhaseClosed')
    await rejectsWith(publishKeyShares(p2, { jobId: other, round: 1, sharesCid: 'bafyshares2' }), 'NoMaskingKeys')
    await publishKeyShares(p1, { jobId: other, round: 1, sharesCid: 'bafyshares1' })
    assert.equal((await getMaskingKeys(p1, { jobId: other, round: 1 })).sharesPhaseClosed, true, 'every member published')
    await publishKeyShares(p2, { jobId, round: 1, sharesCid: 'bafyshares2' })
    await t.chain.increaseTime(HOUR / 4)
    await rejectsWith(publishKeyShares(p3, { jobId, round: 1, sharesCid: 'bafyshares3' }), 'SharesPhaseClosed')
    await rejectsWith(getMaskingKeys(p1, { jobId: other, round: 5 }), 'InvalidRound')
  })

  test('joining: places, the sponsor, twice; terms are checked', async () => {
    const { jobId } = await openJob(sponsor, terms({ participantsWanted: 2, aggregatorsK: 1 }))
    await rejectsWith(joinJob(sponsor, { jobId }), 'SponsorCannotJoin')
    await joinJob(p1, { jobId })
    await rejectsWith(joinJob(p1, { jobId }), 'AlreadyJoined')
    await joinJob(p2, { jobId })
    await rejectsWith(joinJob(p3, { jobId }), 'JobFull', /already has the 2 participants it wanted/)
    await rejectsWith(joinJob(p3, { jobId: 999_999n }), 'UnknownJob')
    assert.equal(await getJob(p1, { jobId: 999_999n }), undefined)
    await assert.rejects(openJob(sponsor, terms({ aggregatorsK: 4 })), /The agreeing attestations needed \(k\) must be 1 to 3, not 4/)
  })
})

describe('FederatedRounds in contracts files written before it existed', () => {
  test('the actions say to redeploy, and the embedded chain adds the contract on its next start', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-fl-'))
    const file = path.join(dir, CONTRACTS_FILE)
    try {
      const first = await startEmbeddedLedger({ dir })
      const { federatedRounds: _, ...olderContracts } = first.deployment.contracts
      const older = { ...first.deployment, contracts: olderContracts }
      await writeContractsFile(file, older)
      const ledger = await createLedger({ embedded: first.chain, deployment: older, account: testAccount('old fl file') })
      assert.equal(ledger.contracts.federatedRounds, undefined)
      await assert.rejects(getJob(ledger, { jobId: 1n }), (err: any) => {
        assert.ok(err instanceof FederatedRoundsNotDeployedError)
        assert.match(err.message, /has no FederatedRounds contract/)
        return true
      })
      await first.chain.close()

      const second = await startEmbeddedLedger({ dir })
      try {
        const added = second.deployment.contracts.federatedRounds
        assert.ok(added != null)
        assert.deepEqual({ ...second.deployment, contracts: { ...second.deployment.contracts, federatedRounds: undefined } }, { ...older, contracts: { ...olderContracts, federatedRounds: undefined } })
        assert.deepEqual(await readContractsFile(file), second.deployment)
        assert.equal(await second.ledger.contracts.federatedRounds!.read.token(), older.contracts.token)
      } finally {
        await second.chain.close()
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true })
    }
  })
})
