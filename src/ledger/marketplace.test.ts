import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { encodeDeployData, encodeFunctionData, parseEventLogs, type Address } from 'viem'
import { balanceOf } from './actions/balanceOf.ts'
import { buyLicense } from './actions/buyLicense.ts'
import { getLicense } from './actions/getLicense.ts'
import { getListing } from './actions/getListing.ts'
import { hasLicense } from './actions/hasLicense.ts'
import { listModel } from './actions/listModel.ts'
import { publishVersion } from './actions/publishVersion.ts'
import { rentLicense } from './actions/rentLicense.ts'
import { transferModel } from './actions/transferModel.ts'
import { unlistModel } from './actions/unlistModel.ts'
import { withdraw } from './actions/withdraw.ts'
import { marketplaceAbi, marketplaceBytecode } from './artifacts/Marketplace.ts'
import { mycTokenAbi } from './artifacts/MycToken.ts'
import { callbackTokenAbi, callbackTokenBytecode } from './artifacts/test/CallbackToken.ts'
import { reentrantSellerAbi, reentrantSellerBytecode } from './artifacts/test/ReentrantSeller.ts'
import { fundFromFaucet } from './chain/fundFromFaucet.ts'
import { startTestLedger, testAccount, TOKEN, type TestLedger, rejectsWith } from './testHelpers.ts'
import { writeContract } from './write.ts'
import type { Ledger } from './createLedger.ts'

const CID = 'bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae'
const HOUR = 3_600

describe('Marketplace', () => {
  let t: TestLedger
  let alice: Ledger
  let bob: Ledger
  let carol: Ledger
  let dave: Ledger

  before(async () => {
    t = await startTestLedger({ users: 4, royaltyBps: 1_000 })
    ;[alice, bob, carol, dave] = await Promise.all(t.users.map(t.as))
  })
  after(async () => { await t.cleanup() })

  test('only the owner of a name may list or unlist it; listings validate their terms', async () => {
    await publishVersion(alice, { name: 'shop/a', version: '1.0.0', manifestCid: CID })
    await rejectsWith(listModel(bob, { name: 'shop/a', price: 5n * TOKEN }), 'NotNameOwner', /Not the owner of shop\/a/)
    await rejectsWith(listModel(bob, { name: 'shop/none', price: 5n * TOKEN }), 'UnknownModel', /shop\/none is not registered/)
    await assert.rejects(listModel(alice, { name: 'shop/a', rentPrice: 1n }), /A rental price needs a rental period/)
    await listModel(alice, { name: 'shop/a', price: 5n * TOKEN })
    assert.deepEqual(await getListing(bob, { name: 'shop/a' }), { name: 'shop/a', seller: alice.account!.address, price: 5n * TOKEN, rentPrice: 0n, rentPeriod: 0 })
    await rejectsWith(unlistModel(bob, { name: 'shop/a' }), 'NotNameOwner')
    await unlistModel(alice, { name: 'shop/a' })
    assert.equal(await getListing(bob, { name: 'shop/a' }), undefined)
    await rejectsWith(unlistModel(alice, { name: 'shop/a' }), 'NotListed', /shop\/a is not listed/)
  })

  test('buying: insufficient balance, price protection and double purchase are refused with readable reasons', async () => {
    await publishVersion(alice, { name: 'shop/b', version: '1.0.0', manifestCid: CID })
    await listModel(alice, { name: 'shop/b', price: 10n * TOKEN })
    const poor = testAccount('poor buyer')
    await fundFromFaucet(t.chain, { to: poor.address, tokens: 3n * TOKEN / 2n })
    const poorLedger = await t.as(poor)
    await rejectsWith(buyLicense(poorLedger, { name: 'shop/b' }), 'ERC20InsufficientBalance', new RegExp(`Insufficient balance: ${poor.address} has 1.5 MYC, needs 10 MYC`))
    await rejectsWith(buyLicense(bob, { name: 'shop/b', maxPrice: 9n * TOKEN }), 'PriceAboveMax', /The price is 10 MYC, more than the 9 MYC accepted/)
    await rejectsWith(buyLicense(alice, { name: 'shop/b' }), 'AlreadyLicensed')

    assert.equal(await hasLicense(bob, { name: 'shop/b', account: bob.account!.address }), false)
    const before = await balanceOf(bob)
    await buyLicense(bob, { name: 'shop/b' })
    assert.equal(await hasLicense(carol, { name: 'shop/b', account: bob.account!.address }), true)
    assert.equal((await balanceOf(bob)).tokens, before.tokens - 10n * TOKEN)
    assert.equal((await balanceOf(alice)).withdrawable >= 10n * TOKEN, true)
    await rejectsWith(buyLicense(bob, { name: 'shop/b' }), 'AlreadyLicensed', /already holds a licence to shop\/b/)
  })

  test('rentals expire with chain time, can be extended, and an expired one renews from now', async () => {
    await publishVersion(alice, { name: 'shop/rent', version: '1.0.0', manifestCid: CID })
    await listModel(alice, { name: 'shop/rent', rentPrice: 2n * TOKEN, rentPeriod: HOUR })
    await rejectsWith(buyLicense(carol, { name: 'shop/rent' }), 'NotForSale')
    const rented = await rentLicense(carol, { name: 'shop/rent', periods: 2 })
    assert.equal(rented.amount, 4n * TOKEN)
    const startedAt = Number((await carol.publicClient.getBlock()).timestamp)
    assert.equal(rented.expiresAt, startedAt + 2 * HOUR)
    assert.equal(await hasLicense(carol, { name: 'shop/rent', account: carol.account!.address }), true)

    await t.chain.increaseTime(2 * HOUR - 10)
    assert.equal(await hasLicense(carol, { name: 'shop/rent', account: carol.account!.address }), true, 'still valid 10 s before expiry')
    await t.chain.increaseTime(11)
    assert.equal(await hasLicense(carol, { name: 'shop/rent', account: carol.account!.address }), false, 'expired')
    assert.deepEqual(await getLicense(carol, { name: 'shop/rent' }), { licensed: false, purchased: false, rentalExpiresAt: rented.expiresAt })

    // An expired rental renews from the current time.
    const renewed = await rentLicense(carol, { name: 'shop/rent' })
    const now = Number((await carol.publicClient.getBlock()).timestamp)
    assert.equal(renewed.expiresAt, now + HOUR)
    // An active one is extended from its expiry, with `rent` or with `extend`.
    const extended = await rentLicense(carol, { name: 'shop/rent' })
    assert.equal(extended.expiresAt, renewed.expiresAt + HOUR)
    const market = carol.addresses.marketplace
    await writeContract(carol, { address: carol.addresses.token, abi: mycTokenAbi, functionName: 'approve', args: [market, 2n * TOKEN], action: 'approve' })
    await writeContract(carol, { address: market, abi: marketplaceAbi, functionName: 'extend', args: ['shop/rent', 1n, 2n * TOKEN], action: 'extend' })
    assert.equal((await getLicense(carol, { name: 'shop/rent' })).rentalExpiresAt, extended.expiresAt + HOUR)
    await rejectsWith(writeContract(dave, { address: market, abi: marketplaceAbi, functionName: 'extend', args: ['shop/rent', 1n, 2n * TOKEN], action: 'extend' }), 'NoRental')
  })

  test('a listing lapses when the name changes hands', async () => {
    await publishVersion(alice, { name: 'shop/moved', version: '1.0.0', manifestCid: CID })
    await listModel(alice, { name: 'shop/moved', price: TOKEN })
    await transferModel(alice, { name: 'shop/moved', to: dave.account!.address })
    assert.equal(await getListing(bob, { name: 'shop/moved' }), undefined)
    await rejectsWith(writeContract(bob, { address: bob.addresses.marketplace, abi: marketplaceAbi, functionName: 'buy', args: ['shop/moved', TOKEN], action: 'buy' }), 'NotListed')
  })

  test('royalties over a 3-level lineage: 10% up each level, split among parents, rounding kept by the payer', async () => {
    // A (alice) <- B1 (bob) <- C (dave) -> B2 (carol): C derives from B1 and B2, B1 from A.
    const a = await publishVersion(alice, { name: 'line/a', version: '1.0.0', manifestCid: CID })
    const b1 = await publishVersion(bob, { name: 'line/b1', version: '1.0.0', manifestCid: CID, parents: [a.versionId] })
    const b2 = await publishVersion(carol, { name: 'line/b2', version: '1.0.0', manifestCid: CID })
    await publishVersion(dave, { name: 'line/c', version: '1.0.0', manifestCid: CID, parents: [b1.versionId, b2.versionId] })
    const price = 10_001n // base units, so that rounding shows
    await listModel(dave, { name: 'line/c', price })
    const buyer = await t.as(testAccount('royalty buyer'))
    await fundFromFaucet(t.chain, { to: buyer.account!.address, tokens: price })

    const owed = async (ledger: Ledger): Promise<bigint> => (await balanceOf(ledger)).withdrawable
    const before = { alice: await owed(alice), bob: await owed(bob), carol: await owed(carol), dave: await owed(dave) }
    const bought = await buyLicense(buyer, { name: 'line/c' })

    // Level 1: 10% of 10,001 = 1,000 (floor), 500 to each parent. Level 2: B1 passes 10% of its 500 = 50 to A.
    assert.equal(await owed(alice) - before.alice, 50n)
    assert.equal(await owed(bob) - before.bob, 450n)
    assert.equal(await owed(carol) - before.carol, 500n)
    assert.equal(await owed(dave) - before.dave, 9_001n)
    const royalties = parseEventLogs({ abi: marketplaceAbi, logs: bought.receipt.logs, eventName: 'RoyaltyPaid' })
    assert.deepEqual(royalties.map(log => [log.args.recipient, log.args.amount, log.args.depth]), [
      [alice.account!.address, 50n, 2n],
      [bob.account!.address, 450n, 1n],
      [carol.account!.address, 500n, 1n]
    ])
  })

  test('royalties stop at the lineage depth bound', async () => {
    let parent: bigint | undefined
    for (let level = 10; level >= 1; level--) {
      const published = await publishVersion(bob, { name: `deep/l${level}`, version: '1.0.0', manifestCid: CID, ...(parent != null ? { parents: [parent] } : {}) })
      parent = published.versionId
    }
    await publishVersion(dave, { name: 'deep/sold', version: '1.0.0', manifestCid: CID, parents: [parent!] })
    await listModel(dave, { name: 'deep/sold', price: 100n * TOKEN })
    const bought = await buyLicense(carol, { name: 'deep/sold' })
    const depths = parseEventLogs({ abi: marketplaceAbi, logs: bought.receipt.logs, eventName: 'RoyaltyPaid' }).map(log => Number(log.args.depth))
    assert.deepEqual(depths.sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8])
  })

  test('withdrawals: each account withdraws its own balance only, once', async () => {
    const carolOwed = (await balanceOf(carol)).withdrawable
    const daveOwed = (await balanceOf(dave)).withdrawable
    assert.ok(daveOwed > 0n)
    const stranger = await t.as(testAccount('stranger'))
    await fundFromFaucet(t.chain, { to: stranger.account!.address, tokens: 0n })
    await rejectsWith(withdraw(stranger), 'NothingToWithdraw', /has nothing to withdraw/)
    assert.equal((await balanceOf(dave)).withdrawable, daveOwed, 'another account withdrawing takes nothing of dave\'s')

    const tokensBefore = (await balanceOf(dave)).tokens
    const paid = await withdraw(dave)
    assert.equal(paid.amount, daveOwed)
    assert.deepEqual([(await balanceOf(dave)).tokens, (await balanceOf(dave)).withdrawable], [tokensBefore + daveOwed, 0n])
    await rejectsWith(withdraw(dave), 'NothingToWithdraw')
    assert.equal((await balanceOf(carol)).withdrawable, carolOwed)
  })

  test('a token that calls back into withdraw cannot drain the marketplace (reentrancy guard)', async () => {
    const deploy = async (data: `0x${string}`): Promise<Address> => (await alice.sender('deploy').send({ data })).contractAddress!
    const token = await deploy(callbackTokenBytecode)
    const market = await deploy(encodeDeployData({ abi: marketplaceAbi, bytecode: marketplaceBytecode, args: [alice.addresses.registry, token, 1_000n, alice.account!.address] }))
    const seller = await deploy(encodeDeployData({ abi: reentrantSellerAbi, bytecode: reentrantSellerBytecode, args: [market, alice.addresses.registry, token] }))
    const write = async (ledger: Ledger, address: Address, abi: any, functionName: string, args: readonly unknown[]): Promise<unknown> =>
      await writeContract(ledger, { address, abi, functionName, args, action: functionName } as any)

    await write(alice, seller, reentrantSellerAbi, 'publishAndList', ['evil/model', CID, 100n])
    await write(bob, token, callbackTokenAbi, 'mint', [bob.account!.address, 1_000n])
    await write(bob, token, callbackTokenAbi, 'approve', [market, 100n])
    await write(bob, market, marketplaceAbi, 'buy', ['evil/model', 100n])
    const read = async (address: Address, abi: any, functionName: string, args: readonly unknown[] = []): Promise<any> =>
      await alice.publicClient.readContract({ address, abi, functionName, args })
    assert.equal(await read(market, marketplaceAbi, 'balanceOf', [seller]), 100n)

    await rejectsWith(write(alice, seller, reentrantSellerAbi, 'attack', []), 'ReentrancyGuardReentrantCall', /reentrant/)
    assert.equal(await read(market, marketplaceAbi, 'balanceOf', [seller]), 100n, 'the balance is untouched')
    assert.equal(await read(token, callbackTokenAbi, 'balanceOf', [market]), 100n, 'the escrow is untouched')
    assert.equal(await read(seller, reentrantSellerAbi, 'received'), 0n)

    await write(alice, seller, reentrantSellerAbi, 'withdrawOnce', [])
    assert.equal(await read(seller, reentrantSellerAbi, 'received'), 100n, 'paid exactly once')
    assert.equal(await read(token, callbackTokenAbi, 'balanceOf', [market]), 0n)
    await rejectsWith(write(alice, seller, reentrantSellerAbi, 'withdrawOnce', []), 'NothingToWithdraw')
  })

  test('only the marketplace administrator sets the royalty rate, within its bound', async () => {
    const market = alice.addresses.marketplace
    await rejectsWith(writeContract(alice, { address: market, abi: marketplaceAbi, functionName: 'setRoyaltyBps', args: [500n], action: 'set the royalty' }), 'OwnableUnauthorizedAccount', /not the marketplace's administrator/)
    const admin = await t.as(t.chain.accounts.deployer)
    await rejectsWith(writeContract(admin, { address: market, abi: marketplaceAbi, functionName: 'setRoyaltyBps', args: [6_000n], action: 'set the royalty' }), 'RoyaltyTooHigh')
    await writeContract(admin, { address: market, abi: marketplaceAbi, functionName: 'setRoyaltyBps', args: [500n], action: 'set the royalty' })
    assert.equal(await alice.contracts.marketplace.read.royaltyBps(), 500n)
    await rejectsWith(writeContract(alice, { address: alice.addresses.token, abi: mycTokenAbi, functionName: 'mint', args: [alice.account!.address, 1n], action: 'mint' }), 'AccessControlUnauthorizedAccount', /lacks the minter role/)
    void encodeFunctionData
  })
})
