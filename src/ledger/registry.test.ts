import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { NotFoundError } from '../errors.ts'
import { addVersion } from './actions/addVersion.ts'
import { approvePublisher } from './actions/approvePublisher.ts'
import { deprecateVersion } from './actions/deprecateVersion.ts'
import { publishVersion } from './actions/publishVersion.ts'
import { registerModel } from './actions/registerModel.ts'
import { resolveVersion } from './actions/resolveVersion.ts'
import { revokePublisher } from './actions/revokePublisher.ts'
import { transferModel } from './actions/transferModel.ts'
import { startTestLedger, type TestLedger, rejectsWith } from './testHelpers.ts'
import type { Ledger } from './createLedger.ts'

const CID = 'bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae'
const CID2 = 'bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'

describe('ModelRegistry', () => {
  let t: TestLedger
  let alice: Ledger
  let bob: Ledger
  let carol: Ledger

  before(async () => {
    t = await startTestLedger({ users: 3 })
    ;[alice, bob, carol] = await Promise.all(t.users.map(t.as))
  })
  after(async () => { await t.cleanup() })

  test('the first registrant owns a name; a second registration is refused', async () => {
    await registerModel(alice, { name: 'acme/first' })
    assert.equal(await alice.contracts.registry.read.ownerOf(['acme/first']), alice.account!.address)
    await rejectsWith(registerModel(bob, { name: 'acme/first' }), 'NameTaken', new RegExp(`acme/first is already registered to ${alice.account!.address}`), 409)
  })

  test('publishVersion registers a new name and adds the version in one transaction; resolveVersion finds it', async () => {
    const published = await publishVersion(alice, { name: 'acme/mlp', version: '1.0.0', manifestCid: CID, license: 'Apache-2.0' })
    assert.equal(published.registered, true)
    const again = await publishVersion(alice, { name: 'acme/mlp', version: '1.1.0', manifestCid: CID2, parents: [{ name: 'acme/mlp', version: '1.0.0' }] })
    assert.equal(again.registered, false)
    const resolved = await resolveVersion(bob, { name: 'acme/mlp', version: '1.1.0' })
    assert.deepEqual({ ...resolved, publishedAt: 0 }, {
      versionId: again.versionId,
      name: 'acme/mlp',
      version: '1.1.0',
      manifestCid: CID2,
      license: '',
      parents: [published.versionId],
      publisher: alice.account!.address,
      publishedAt: 0,
      deprecated: false
    })
    assert.equal((await resolveVersion(bob, { name: 'acme/mlp' })).version, '1.1.0', 'name alone resolves to the latest version')
    assert.deepEqual(await bob.contracts.registry.read.versionsOf(['acme/mlp']), [published.versionId, again.versionId])
  })

  test('versions are immutable', async () => {
    await publishVersion(alice, { name: 'acme/immutable', version: '1.0.0', manifestCid: CID })
    await rejectsWith(publishVersion(alice, { name: 'acme/immutable', version: '1.0.0', manifestCid: CID2 }), 'VersionExists', /acme\/immutable@1\.0\.0 already exists/, 409)
  })

  test('a non-owner cannot add versions; an approved publisher can, until revoked', async () => {
    await publishVersion(alice, { name: 'acme/team', version: '1.0.0', manifestCid: CID })
    const bobAddress = bob.account!.address
    await rejectsWith(addVersion(bob, { name: 'acme/team', version: '1.0.1', manifestCid: CID }), 'NotPublisher', new RegExp(`${bobAddress} may not publish versions of acme/team`), 403)
    await rejectsWith(publishVersion(bob, { name: 'acme/team', version: '1.0.1', manifestCid: CID }), 'NotPublisher', /may not publish/, 403)
    await rejectsWith(approvePublisher(bob, { name: 'acme/team', publisher: bobAddress }), 'NotNameOwner', new RegExp(`Not the owner of acme/team: ${bobAddress}`), 403)

    await approvePublisher(alice, { name: 'acme/team', publisher: bobAddress })
    const added = await addVersion(bob, { name: 'acme/team', version: '1.0.1', manifestCid: CID2 })
    assert.equal((await resolveVersion(carol, { versionId: added.versionId })).publisher, bobAddress)
    await rejectsWith(deprecateVersion(bob, { name: 'acme/team', version: '1.0.1' }), 'NotNameOwner', /Not the owner of acme\/team/, 403)

    await revokePublisher(alice, { name: 'acme/team', publisher: bobAddress })
    await rejectsWith(addVersion(bob, { name: 'acme/team', version: '1.0.2', manifestCid: CID }), 'NotPublisher', /may not publish/)
  })

  test('transferring a name moves every owner right, and only the owner may transfer', async () => {
    await publishVersion(alice, { name: 'acme/sold', version: '1.0.0', manifestCid: CID })
    await rejectsWith(transferModel(carol, { name: 'acme/sold', to: carol.account!.address }), 'NotNameOwner', /Not the owner of acme\/sold/)
    await transferModel(alice, { name: 'acme/sold', to: carol.account!.address })
    assert.equal(await carol.contracts.registry.read.ownerOf(['acme/sold']), carol.account!.address)
    await rejectsWith(addVersion(alice, { name: 'acme/sold', version: '2.0.0', manifestCid: CID2 }), 'NotPublisher', /may not publish/)
    await addVersion(carol, { name: 'acme/sold', version: '2.0.0', manifestCid: CID2 })
  })

  test('deprecated versions stay resolvable by version but latest skips them', async () => {
    await publishVersion(alice, { name: 'acme/dep', version: '1.0.0', manifestCid: CID })
    await publishVersion(alice, { name: 'acme/dep', version: '2.0.0', manifestCid: CID2 })
    await deprecateVersion(alice, { name: 'acme/dep', version: '2.0.0', reason: 'broken weights' })
    assert.equal((await resolveVersion(bob, { name: 'acme/dep' })).version, '1.0.0')
    assert.equal((await resolveVersion(bob, { name: 'acme/dep', version: '2.0.0' })).deprecated, true)
    await rejectsWith(deprecateVersion(alice, { name: 'acme/dep', version: '2.0.0' }), 'AlreadyDeprecated', /already deprecated/, 409)
  })

  test('unknown names, versions and parents are clear errors', async () => {
    await assert.rejects(resolveVersion(bob, { name: 'nobody/nothing', version: '1.0.0' }), (err: any) => err instanceof NotFoundError && /nobody\/nothing@1\.0\.0 is not on the ledger/.test(err.message))
    await assert.rejects(publishVersion(alice, { name: 'acme/orphan', version: '1.0.0', manifestCid: CID, parents: [{ name: 'nobody/base', version: '1.0.0' }] }), /Parent nobody\/base@1\.0\.0 is not on the ledger/)
    await rejectsWith(publishVersion(alice, { name: 'acme/orphan', version: '1.0.0', manifestCid: CID, parents: [999n] }), 'UnknownVersion', /no version with id 999/, 404)
    await rejectsWith(addVersion(alice, { name: 'nobody/unregistered', version: '1.0.0', manifestCid: CID }), 'UnknownModel', /nobody\/unregistered is not registered/, 404)
  })
})
