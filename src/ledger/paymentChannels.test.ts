import assert from 'node:assert/strict'
import { SECP256K1_ORDER } from '../identity/secp256k1.ts'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { concat, encodeDeployData, hexToBigInt, numberToHex, parseSignature, recoverTypedDataAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { balanceOf } from './actions/balanceOf.ts'
import { claimChannel } from './actions/claimChannel.ts'
import { getChannel } from './actions/getChannel.ts'
import { openChannel } from './actions/openChannel.ts'
import { reclaimChannel } from './actions/reclaimChannel.ts'
import { signVoucher } from './actions/signVoucher.ts'
import { topUpChannel } from './actions/topUpChannel.ts'
import { verifyVoucher } from './actions/verifyVoucher.ts'
import { paymentChannelsAbi, paymentChannelsBytecode } from './artifacts/PaymentChannels.ts'
import { callbackTokenAbi, callbackTokenBytecode } from './artifacts/test/CallbackToken.ts'
import { reentrantProviderAbi, reentrantProviderBytecode } from './artifacts/test/ReentrantProvider.ts'
import { fundFromFaucet } from './chain/fundFromFaucet.ts'
import { CONTRACTS_FILE, MAX_CHANNEL_DURATION_SECONDS } from './constants.ts'
import { parseContractsFile, readContractsFile, writeContractsFile } from './contractsFile.ts'
import { createLedger } from './createLedger.ts'
import { PaymentChannelsNotDeployedError } from './errors.ts'
import { checkVoucher, hashVoucher, PAYMENT_CHANNELS_DOMAIN, voucherDomain, voucherTypedData } from './paymentChannels.ts'
import { startEmbeddedLedger } from './startEmbeddedLedger.ts'
import { startTestLedger, testAccount, TOKEN, type TestLedger, rejectsWith } from './testHelpers.ts'
import { writeContract } from './write.ts'
import type { Ledger } from './createLedger.ts'

const HOUR = 3_600
const PRICE = TOKEN / 10n

describe('PaymentChannels', () => {
  let t: TestLedger
  let client: Ledger
  let provider: Ledger
  let stranger: Ledger
  let clientAccount: LocalAccount
  let providerAddress: Address

  const tokens = async (ledger: Ledger): Promise<bigint> => (await balanceOf(ledger)).tokens
  const voucher = async (channelId: Hex, cumulativeAmount: bigint, signer: LocalAccount = clientAccount): Promise<{ channelId: Hex, cumulativeAmount: bigint, signature: Hex }> =>
    ({ channelId, cumulativeAmount, signature: await signVoucher(signer, client, { channelId, cumulativeAmount }) })
  const now = async (): Promise<number> => Number((await client.publicClient.getBlock()).timestamp)

  before(async () => {
    t = await startTestLedger({ users: 3 })
    ;[client, provider, stranger] = await Promise.all(t.users.map(t.as))
    clientAccount = client.account!
    providerAddress = provider.account!.address
  })
  after(async () => { await t.cleanup() })

  test('the EIP-712 domain and voucher digest computed off chain are the contract\'s', async () => {
    const contract = client.contracts.paymentChannels!
    const [, name, version, chainId, verifyingContract] = await contract.read.eip712Domain()
    assert.deepEqual({ name, version, chainId: Number(chainId), verifyingContract }, { ...PAYMENT_CHANNELS_DOMAIN, chainId: client.chainId, verifyingContract: client.addresses.paymentChannels })
    const sample = { channelId: `0x${'ab'.repeat(32)}` as Hex, cumulativeAmount: 123n * TOKEN }
    assert.equal(hashVoucher(voucherDomain(client), sample), await contract.read.voucherDigest([sample.channelId, sample.cumulativeAmount]))
    assert.equal(await contract.read.token(), client.addresses.token)
    assert.equal(Number(await contract.read.MAX_DURATION()), MAX_CHANNEL_DURATION_SECONDS)
  })

  test('open with a permit, one voucher per call, and each claim pays the difference', async () => {
    const clientBefore = await tokens(client)
    const providerBefore = await tokens(provider)
    const opened = await openChannel(client, { provider: providerAddress, deposit: 10n * TOKEN, duration: HOUR })
    assert.equal(opened.expiresAt, await now() + HOUR)
    assert.equal(await tokens(client), clientBefore - 10n * TOKEN)
    assert.deepEqual(await getChannel(stranger, { channelId: opened.channelId }), {
      channelId: opened.channelId, client: clientAccount.address, provider: providerAddress, deposit: 10n * TOKEN, claimed: 0n, expiresAt: opened.expiresAt, closed: false
    })

    // Three calls: the provider checks each voucher against the last one it accepted plus the price.
    let accepted = 0n
    const vouchers = []
    for (let call = 1n; call <= 3n; call++) {
      const v = await voucher(opened.channelId, call * PRICE)
      const check = await verifyVoucher(provider, { ...v, minAmount: accepted + PRICE })
      assert.deepEqual([check.valid, check.reason, check.signer, check.remaining, check.claimable], [true, undefined, clientAccount.address, 10n * TOKEN - call * PRICE, call * PRICE])
      accepted = v.cumulativeAmount
      vouchers.push(v)
    }
    // A voucher that does not add the price of the call is refused before serving.
    const stale = await verifyVoucher(provider, { ...vouchers[2], minAmount: accepted + PRICE })
    assert.deepEqual([stale.valid, stale.reason], [false, 'insufficient'])

    const first = await claimChannel(provider, vouchers[1])
    assert.deepEqual([first.amount, first.claimed], [2n * PRICE, 2n * PRICE])
    const second = await claimChannel(provider, vouchers[2])
    assert.deepEqual([second.amount, second.claimed], [PRICE, 3n * PRICE], 'the second claim pays only the difference')
    assert.equal(await tokens(provider), providerBefore + 3n * PRICE)
    assert.equal((await getChannel(client, { channelId: opened.channelId }))!.claimed, 3n * PRICE)
    assert.equal(await getChannel(client, { channelId: `0x${'00'.repeat(31)}01` }), undefined)
  })

  test('double claims pay nothing: the same voucher again, or an older lower one', async () => {
    const { channelId } = await openChannel(client, { provider: providerAddress, deposit: 5n * TOKEN, duration: HOUR })
    const older = await voucher(channelId, PRICE)
    const latest = await voucher(channelId, 4n * PRICE)
    await claimChannel(provider, latest)
    const before = await tokens(provider)
    await rejectsWith(claimChannel(provider, latest), 'NothingToClaim', /Nothing to claim: the voucher is worth 0.4 MYC and payment channel 0x[0-9a-f]{64} has already paid 0.4 MYC/)
    await rejectsWith(claimChannel(provider, older), 'NothingToClaim')
    assert.equal(await tokens(provider), before)
    assert.equal((await verifyVoucher(provider, latest)).reason, 'already-claimed')
  })

  test('a voucher is bound to its channel, contract and chain: replays fail', async () => {
    const a = await openChannel(client, { provider: providerAddress, deposit: 5n * TOKEN, duration: HOUR })
    const b = await openChannel(client, { provider: providerAddress, deposit: 5n * TOKEN, duration: HOUR })
    assert.notEqual(a.channelId, b.channelId, 'same client, provider and terms: distinct ids')
    const onA = await voucher(a.channelId, TOKEN)
    const replayed = { ...onA, channelId: b.channelId }
    assert.equal((await verifyVoucher(provider, replayed)).reason, 'bad-signature')
    await rejectsWith(claimChannel(provider, replayed), 'InvalidVoucherSignature', /not signed by 0x[0-9a-fA-F]{40}, the client of payment channel/)

    // The same channel id and amount signed for another chain, or for another PaymentChannels contract.
    const signFor = async (domain: { chainId: number, verifyingContract: Address }): Promise<Hex> =>
      await clientAccount.signTypedData(voucherTypedData(domain, { channelId: b.channelId, cumulativeAmount: TOKEN }))
    const otherChain = await signFor({ ...voucherDomain(client), chainId: client.chainId + 1 })
    const otherContract = await signFor({ ...voucherDomain(client), verifyingContract: client.addresses.marketplace })
    for (const signature of [otherChain, otherContract]) {
      await rejectsWith(claimChannel(provider, { channelId: b.channelId, cumulativeAmount: TOKEN, signature }), 'InvalidVoucherSignature')
    }
    // The genuine voucher of channel A still works there.
    assert.equal((await claimChannel(provider, onA)).amount, TOKEN)
  })

  test('vouchers signed by anyone but the client, or malleable, fail on and off chain', async () => {
    const { channelId } = await openChannel(client, { provider: providerAddress, deposit: 5n * TOKEN, duration: HOUR })
    const forged = await voucher(channelId, 5n * TOKEN, provider.account!)
    const check = await verifyVoucher(provider, forged)
    assert.deepEqual([check.valid, check.reason, check.signer], [false, 'bad-signature', providerAddress])
    await rejectsWith(claimChannel(provider, forged), 'InvalidVoucherSignature')

    // The high-s twin of a genuine signature: viem recovers the client from it, the contract refuses it.
    const genuine = await voucher(channelId, TOKEN)
    const { r, s, v } = parseSignature(genuine.signature)
    const twin = concat([r, numberToHex(SECP256K1_ORDER - hexToBigInt(s), { size: 32 }), v === 27n ? '0x1c' : '0x1b'])
    assert.equal(await recoverTypedDataAddress({ ...voucherTypedData(voucherDomain(client), genuine), signature: twin }), clientAccount.address)
    assert.equal((await verifyVoucher(provider, { ...genuine, signature: twin })).reason, 'bad-signature')
    await rejectsWith(claimChannel(provider, { ...genuine, signature: twin }), 'InvalidVoucherSignature')
    assert.equal((await verifyVoucher(provider, { ...genuine, signature: '0x1234' })).signer, undefined)

    // Only the provider claims, even with the client's genuine voucher.
    await rejectsWith(claimChannel(stranger, genuine), 'NotChannelProvider', /is not the provider of payment channel/)
    assert.equal((await verifyVoucher(stranger, genuine)).reason, 'wrong-provider')
  })

  test('a voucher worth more than the deposit fails', async () => {
    const { channelId } = await openChannel(client, { provider: providerAddress, deposit: 2n * TOKEN, duration: HOUR })
    const over = await voucher(channelId, 2n * TOKEN + 1n)
    const check = await verifyVoucher(provider, over)
    assert.deepEqual([check.valid, check.reason, check.remaining, check.claimable], [false, 'over-deposit', 0n, 0n])
    await rejectsWith(claimChannel(provider, over), 'VoucherExceedsDeposit', /worth 2.000000000000000001 MYC, more than the 2 MYC deposited/)
    assert.equal((await claimChannel(provider, await voucher(channelId, 2n * TOKEN))).amount, 2n * TOKEN, 'exactly the deposit is fine')
  })

  test('expiry: the provider claims until it, the client reclaims the rest after it, then the channel is closed', async () => {
    const clientBefore = await tokens(client)
    const { channelId, expiresAt } = await openChannel(client, { provider: providerAddress, deposit: 3n * TOKEN, duration: HOUR })
    const early = await voucher(channelId, TOKEN / 2n)
    const mid = await voucher(channelId, TOKEN)
    const late = await voucher(channelId, 2n * TOKEN)
    await rejectsWith(reclaimChannel(client, { channelId }), 'ChannelNotExpired', /can only be reclaimed after that/)
    await rejectsWith(reclaimChannel(provider, { channelId }), 'NotChannelClient')
    await claimChannel(provider, early)

    await t.chain.increaseTime(HOUR - 60)
    // A minute left: too close to the expiry to accept new calls, but claims still go through.
    assert.equal((await verifyVoucher(provider, late)).reason, 'expiring')
    assert.equal((await verifyVoucher(provider, { ...late, minTimeLeft: 0 })).valid, true)
    await rejectsWith(reclaimChannel(client, { channelId }), 'ChannelNotExpired')
    assert.equal((await claimChannel(provider, mid)).amount, TOKEN / 2n)

    await t.chain.increaseTime(expiresAt - await now())
    assert.equal((await verifyVoucher(provider, late)).reason, 'expired')
    await rejectsWith(claimChannel(provider, late), 'ChannelExpired', /expired at/)
    const reclaimed = await reclaimChannel(client, { channelId })
    assert.equal(reclaimed.amount, 2n * TOKEN)
    assert.equal(await tokens(client), clientBefore - TOKEN, 'the client paid only the claimed voucher')
    assert.equal((await getChannel(client, { channelId }))!.closed, true)

    await rejectsWith(claimChannel(provider, late), 'ChannelClosed', /its client reclaimed the rest/)
    await rejectsWith(reclaimChannel(client, { channelId }), 'ChannelClosed')
    await rejectsWith(topUpChannel(client, { channelId, amount: TOKEN }), 'ChannelClosed')
    assert.equal((await verifyVoucher(provider, late)).reason, 'closed')
  })

  test('a fully claimed channel reclaims nothing but still closes', async () => {
    const { channelId } = await openChannel(client, { provider: providerAddress, deposit: TOKEN, duration: 60 })
    await claimChannel(provider, await voucher(channelId, TOKEN))
    await t.chain.increaseTime(61)
    assert.equal((await reclaimChannel(client, { channelId })).amount, 0n)
    assert.equal((await getChannel(client, { channelId }))!.closed, true)
  })

  test('top-up adds deposit and time (client only, never shortening), and revives an expired channel', async () => {
    const { channelId, expiresAt } = await openChannel(client, { provider: providerAddress, deposit: TOKEN, duration: HOUR })
    const big = await voucher(channelId, 3n * TOKEN)
    await rejectsWith(claimChannel(provider, big), 'VoucherExceedsDeposit')
    const toppedUp = await topUpChannel(client, { channelId, amount: 2n * TOKEN, duration: HOUR })
    assert.deepEqual([toppedUp.amount, toppedUp.deposit, toppedUp.expiresAt], [2n * TOKEN, 3n * TOKEN, expiresAt + HOUR])
    assert.equal((await claimChannel(provider, big)).amount, 3n * TOKEN, 'the old voucher fits the new deposit')

    await rejectsWith(topUpChannel(stranger, { channelId, amount: TOKEN }), 'NotChannelClient', /is not the client of payment channel/)
    await assert.rejects(topUpChannel(client, { channelId }), /must add tokens, time, or both/)
    await rejectsWith(writeContract(client, { address: client.addresses.paymentChannels!, abi: paymentChannelsAbi, functionName: 'topUp', args: [channelId, 0n, 0n], action: 'top up' }), 'EmptyTopUp')
    await rejectsWith(topUpChannel(client, { channelId, duration: MAX_CHANNEL_DURATION_SECONDS }), 'InvalidDuration', /runs 1 second to 365 days ahead/)

    // Past its expiry but not reclaimed: a top-up with time brings it back; one without time cannot.
    await t.chain.increaseTime(2 * HOUR)
    await rejectsWith(topUpChannel(client, { channelId, amount: TOKEN }), 'ChannelExpired')
    const revived = await topUpChannel(client, { channelId, amount: TOKEN, duration: HOUR })
    assert.equal(revived.expiresAt, await now() + HOUR)
    assert.equal((await claimChannel(provider, await voucher(channelId, 4n * TOKEN))).amount, TOKEN)
  })

  test('opening validates the provider, the deposit and the duration', async () => {
    await rejectsWith(openChannel(client, { provider: clientAccount.address, deposit: TOKEN }), 'InvalidProvider', /the provider must be another account/)
    await assert.rejects(openChannel(client, { provider: providerAddress, deposit: 0n }), /needs a deposit/)
    await assert.rejects(openChannel(client, { provider: providerAddress, deposit: TOKEN, duration: MAX_CHANNEL_DURATION_SECONDS + 1 }), /1 to 31536000 seconds/)
    const poor = await t.as(testAccount('poor client'))
    await fundFromFaucet(t.chain, { to: poor.account!.address, tokens: TOKEN / 2n })
    await rejectsWith(openChannel(poor, { provider: providerAddress, deposit: TOKEN }), 'ERC20InsufficientBalance', /has 0.5 MYC, needs 1 MYC/)
    const opened = await openChannel(client, { provider: providerAddress, deposit: TOKEN })
    assert.equal(opened.expiresAt, await now() + 86_400, 'one day by default')
  })

  test('a token that calls back into claim cannot be paid twice (reentrancy guard)', async () => {
    const alice = client
    const deploy = async (data: Hex): Promise<Address> => (await alice.sender('deploy').send({ data })).contractAddress!
    const write = async (ledger: Ledger, address: Address, abi: any, functionName: string, args: readonly unknown[]): Promise<unknown> =>
      await writeContract(ledger, { address, abi, functionName, args, action: functionName } as any)
    const read = async (address: Address, abi: any, functionName: string, args: readonly unknown[] = []): Promise<any> =>
      await alice.publicClient.readContract({ address, abi, functionName, args })

    const token = await deploy(callbackTokenBytecode)
    const channels = await deploy(encodeDeployData({ abi: paymentChannelsAbi, bytecode: paymentChannelsBytecode, args: [token] }))
    const evil = await deploy(encodeDeployData({ abi: reentrantProviderAbi, bytecode: reentrantProviderBytecode, args: [channels, token] }))
    await write(alice, token, callbackTokenAbi, 'mint', [clientAccount.address, 100n])
    await write(alice, token, callbackTokenAbi, 'approve', [channels, 100n])
    await write(alice, channels, paymentChannelsAbi, 'open', [evil, 100n, BigInt(HOUR)])
    const [opened] = await alice.publicClient.getContractEvents({ address: channels, abi: paymentChannelsAbi, eventName: 'ChannelOpened', fromBlock: 0n })
    const channelId = opened.args.channelId!
    const signature = await clientAccount.signTypedData(voucherTypedData({ chainId: alice.chainId, verifyingContract: channels }, { channelId, cumulativeAmount: 60n }))

    await rejectsWith(write(stranger, evil, reentrantProviderAbi, 'attack', [channelId, 60n, signature]), 'ReentrancyGuardReentrantCall', /reentrant/)
    assert.equal(await read(evil, reentrantProviderAbi, 'received'), 0n)
    assert.equal(await read(token, callbackTokenAbi, 'balanceOf', [channels]), 100n, 'the escrow is untouched')
    await write(stranger, evil, reentrantProviderAbi, 'claimOnce', [channelId, 60n, signature])
    assert.equal(await read(evil, reentrantProviderAbi, 'received'), 60n, 'paid exactly once')
    assert.equal(await read(token, callbackTokenAbi, 'balanceOf', [channels]), 40n)
  })

  test('checkVoucher decides from a channel at hand, without the chain', async () => {
    const { channelId } = await openChannel(client, { provider: providerAddress, deposit: TOKEN, duration: HOUR })
    const channel = (await getChannel(provider, { channelId }))!
    const v = await voucher(channelId, PRICE)
    const domain = voucherDomain(provider)
    const at = channel.expiresAt - HOUR
    assert.equal((await checkVoucher(domain, { ...v, channel, now: at, provider: providerAddress })).valid, true)
    assert.equal((await checkVoucher(domain, { ...v, channel: undefined, now: at })).reason, 'unknown-channel')
    assert.equal((await checkVoucher(domain, { ...v, channel: { ...channel, claimed: PRICE }, now: at })).reason, 'already-claimed')
    assert.equal((await checkVoucher(domain, { ...v, channel, now: channel.expiresAt })).reason, 'expired')
    await assert.rejects(checkVoucher(domain, { ...v, channelId: '0x1234', channel, now: at }), /expected 32 bytes of hex/)
  })
})

describe('PaymentChannels in contracts files written before it existed', () => {
  test('the file stays readable, the actions say to redeploy, and the embedded chain adds the contract on its next start', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-channels-'))
    const file = path.join(dir, CONTRACTS_FILE)
    try {
      const first = await startEmbeddedLedger({ dir })
      const { paymentChannels: _, ...olderContracts } = first.deployment.contracts
      const older = { ...first.deployment, contracts: olderContracts }
      await writeContractsFile(file, older)
      const parsed = parseContractsFile(JSON.stringify(older))
      assert.equal(parsed.contracts.paymentChannels, undefined)
      assert.throws(() => parseContractsFile(JSON.stringify({ ...older, contracts: { ...olderContracts, paymentChannels: 'nope' } })), /contracts.paymentChannels must be an address/)

      const ledger = await createLedger({ embedded: first.chain, deployment: parsed, account: testAccount('old file') })
      assert.equal(ledger.contracts.paymentChannels, undefined)
      await assert.rejects(openChannel(ledger, { provider: first.chain.accounts.faucet.address, deposit: TOKEN }), (err: any) => {
        assert.ok(err instanceof PaymentChannelsNotDeployedError)
        assert.equal(err.code, 'CONTRACTS_NOT_DEPLOYED')
        assert.match(err.message, /has no PaymentChannels contract[^]*Redeploy the contracts with `myc chain deploy --rpc URL`/)
        return true
      })
      await assert.rejects(getChannel(ledger, { channelId: `0x${'00'.repeat(32)}` }), PaymentChannelsNotDeployedError)
      await first.chain.close()

      const second = await startEmbeddedLedger({ dir })
      try {
        const added = second.deployment.contracts.paymentChannels
        assert.ok(added != null)
        assert.deepEqual({ ...second.deployment, contracts: { ...second.deployment.contracts, paymentChannels: undefined } }, { ...older, contracts: { ...olderContracts, paymentChannels: undefined } })
        assert.deepEqual(await readContractsFile(file), second.deployment)
        assert.equal(await second.ledger.contracts.paymentChannels!.read.token(), older.contracts.token)
      } finally {
        await second.chain.close()
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true })
    }
  })
})
