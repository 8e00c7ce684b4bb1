import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { http as httpTransport } from 'viem'
import { publishVersion } from './actions/publishVersion.ts'
import { resolveVersion } from './actions/resolveVersion.ts'
import { createEmbeddedChain, type EmbeddedChain } from './chain/createEmbeddedChain.ts'
import { createRpcHandler } from './chain/createRpcHandler.ts'
import { fundFromFaucet } from './chain/fundFromFaucet.ts'
import { readContractsFile } from './contractsFile.ts'
import { createLedger } from './createLedger.ts'
import { deployContracts } from './deployContracts.ts'
import { ChainIdMismatchError, ChainUnreachableError, ContractsNotDeployedError, FaucetDisabledError, InsufficientFundsError, NoAccountError } from './errors.ts'
import { testAccount } from './testHelpers.ts'
import type { ContractsFile } from './contractsFile.ts'

const CID = 'bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae'

describe('a ledger on an external chain (JSON-RPC over HTTP)', () => {
  // The "external" chain is another embedded chain behind its /rpc handler: to this client it is any EVM node.
  let remote: EmbeddedChain
  let server: http.Server
  let url: string
  let dir: string
  let deployment: ContractsFile
  const deployer = testAccount('external deployer')
  const publisher = testAccount('external publisher')

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-external-'))
    remote = await createEmbeddedChain({ chainId: 31_337 })
    const handler = createRpcHandler(remote)
    server = http.createServer((req, res) => {
      let body = ''
      req.on('data', chunk => { body += chunk })
      req.on('end', () => { void handler(JSON.parse(body)).then(response => res.end(JSON.stringify(response))) })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    await fundFromFaucet(remote, { to: deployer.address, tokens: 0n })
    await fundFromFaucet(remote, { to: publisher.address, tokens: 0n })
  })
  after(async () => {
    server.close()
    await remote.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  test('deployContracts deploys through JSON-RPC with signed transactions and writes the contracts file', async () => {
    const file = path.join(dir, 'contracts.json')
    deployment = await deployContracts({ transport: httpTransport(url), chainId: 31_337, deployer, file })
    assert.deepEqual(await readContractsFile(file), deployment)
    assert.equal(deployment.deployer, deployer.address)
    const ledger = await createLedger({ rpcUrl: url, chainId: 31_337, account: publisher, deployment })
    const published = await publishVersion(ledger, { name: 'ext/model', version: '1.0.0', manifestCid: CID })
    assert.equal((await resolveVersion(ledger, { name: 'ext/model', version: '1.0.0' })).versionId, published.versionId)
    assert.equal(await ledger.contracts.marketplace.read.royaltyBps(), 1_000n)
  })

  test('a wrong chain id, an unreachable endpoint and missing contracts are clear errors', async () => {
    await assert.rejects(createLedger({ rpcUrl: url, chainId: 1, deployment }), (err: any) => {
      assert.ok(err instanceof ChainIdMismatchError)
      assert.match(err.message, new RegExp(`The chain at ${url} has chain id 31337, but chain id 1 was expected`))
      return true
    })
    await assert.rejects(createLedger({ rpcUrl: 'http://127.0.0.1:9', chainId: 31_337, deployment }), (err: any) => {
      assert.ok(err instanceof ChainUnreachableError)
      assert.match(err.message, /Cannot reach the chain's JSON-RPC endpoint at http:\/\/127\.0\.0\.1:9/)
      assert.equal(err.status, 503)
      return true
    })
    const elsewhere = { ...deployment, contracts: { ...deployment.contracts, registry: testAccount('no code').address } }
    await assert.rejects(createLedger({ rpcUrl: url, chainId: 31_337, deployment: elsewhere }), (err: any) => err instanceof ContractsNotDeployedError && /no ModelRegistry contract at/.test(err.message))
    await assert.rejects(createLedger({ rpcUrl: url, chainId: 31_337, deployment: { ...deployment, chainId: 5 } }), /contracts file is for chain 5/)
  })

  test('no faucet on an external chain; no writes without an account; no gas money is a clear error', async () => {
    const reader = await createLedger({ rpcUrl: url, chainId: 31_337, deployment })
    await assert.rejects(fundFromFaucet(reader, { to: publisher.address }), FaucetDisabledError)
    await assert.rejects(publishVersion(reader, { name: 'ext/x', version: '1.0.0', manifestCid: CID }), NoAccountError)
    const broke = await createLedger({ rpcUrl: url, chainId: 31_337, deployment, account: testAccount('broke') })
    await assert.rejects(publishVersion(broke, { name: 'ext/broke', version: '1.0.0', manifestCid: CID }), (err: any) => {
      assert.ok(err instanceof InsufficientFundsError, `${err.name}: ${err.message}`)
      assert.equal(err.status, 402)
      return true
    })
  })
})
