import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, test } from 'node:test'
import { keccak_256 as keccak256 } from '@noble/hashes/sha3.js'
import { decodeEventLog, type Hex } from 'viem'
import { publishVersion } from '../actions/publishVersion.ts'
import { modelRegistryAbi } from '../artifacts/ModelRegistry.ts'
import { startTestLedger, testAccount, type TestLedger } from '../testHelpers.ts'
import { createRpcHandler, type RpcHandler } from './createRpcHandler.ts'
import { METHOD_NOT_FOUND } from './methods.ts'

const CID = 'bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae'

describe('createRpcHandler', () => {
  let t: TestLedger
  let handler: RpcHandler
  let server: http.Server
  let url: string

  before(async () => {
    t = await startTestLedger({ users: 1 })
    handler = createRpcHandler(t.chain)
    // What the API's POST /rpc does: parse the body, answer the handler's response.
    server = http.createServer((req, res) => {
      let body = ''
      req.on('data', chunk => { body += chunk })
      req.on('end', () => {
        void handler(JSON.parse(body)).then(response => {
          res.setHeader('content-type', 'application/json')
          res.end(JSON.stringify(response))
        })
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  })
  after(async () => {
    server.close()
    await t.cleanup()
  })

  const call = async (method: string, params: unknown[] = []): Promise<any> => await handler({ jsonrpc: '2.0', id: 7, method, params })

  test('refuses every method that signs with a server key or changes the chain outside a signed transaction', async () => {
    const from = t.users[0].address
    const refused: Array<[string, unknown[]]> = [
      ['eth_sendTransaction', [{ from, to: from, value: '0x1' }]],
      ['eth_sign', [from, '0xdeadbeef']],
      ['eth_signTransaction', [{ from, to: from }]],
      ['eth_signTypedData_v4', [from, '{}']],
      ['personal_sign', ['0xdeadbeef', from]],
      ['personal_unlockAccount', [from, 'password']],
      ['hardhat_setBalance', [from, '0xffffffffffffffff']],
      ['hardhat_impersonateAccount', [from]],
      ['hardhat_mine', ['0x10']],
      ['evm_mine', []],
      ['evm_increaseTime', [3600]],
      ['evm_setNextBlockTimestamp', [2_000_000_000]],
      ['evm_snapshot', []],
      ['anvil_setBalance', [from, '0x1']],
      ['debug_traceTransaction', ['0x' + '0'.repeat(64)]],
      ['no_suchMethod', []]
    ]
    for (const [method, params] of refused) {
      const response = await call(method, params)
      assert.equal(response.id, 7)
      assert.equal(response.error?.code, METHOD_NOT_FOUND, `${method} must be refused`)
      assert.match(response.error.message, new RegExp(method))
    }
    assert.match((await call('eth_sendTransaction')).error.message, /accepts only signed raw transactions/)
    assert.match((await call('evm_mine')).error.message, /changes only through signed transactions/)
    assert.deepEqual((await call('eth_accounts')).result, [], 'no unlocked accounts')
  })

  test('serves reads and signed raw transactions, single or batched; rejects malformed requests', async () => {
    assert.equal((await call('eth_chainId')).result, `0x${t.chain.chainId.toString(16)}`)
    const batch = await handler([
      { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] },
      { jsonrpc: '2.0', id: 2, method: 'evm_mine', params: [] },
      { jsonrpc: '2.0', id: 3, method: 'eth_getBalance', params: [t.users[0].address, 'latest'] }
    ]) as any[]
    assert.deepEqual(batch.map(response => [response.id, 'result' in response]), [[1, true], [2, false], [3, true]])
    assert.equal((await handler([]) as any).error.code, -32600)
    assert.equal((await handler({ id: 1, method: 'eth_chainId' }) as any).error.code, -32600, 'jsonrpc 2.0 required')
    assert.equal((await handler({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: {} }) as any).error.code, -32600)
    assert.equal((await handler(Array.from({ length: 101 }, (_, id) => ({ jsonrpc: '2.0', id, method: 'eth_chainId' }))) as any).error.code, -32600)
    assert.equal((await call('eth_sendRawTransaction', ['nothex'])).error.code, -32602)

    const sender = testAccount('raw sender')
    const nonce = Number((await call('eth_getTransactionCount', [t.chain.accounts.faucet.address, 'pending'])).result)
    const raw = await t.chain.accounts.faucet.signTransaction({ chainId: t.chain.chainId, type: 'eip1559', nonce, to: sender.address, value: 5n, gas: 21_000n, maxFeePerGas: 10n ** 12n, maxPriorityFeePerGas: 0n })
    const sent = await call('eth_sendRawTransaction', [raw])
    const receipt = (await call('eth_getTransactionReceipt', [sent.result])).result
    assert.equal(receipt.status, '0x1', 'mined by the time the hash is answered')
    assert.equal((await call('eth_getBalance', [sender.address, 'latest'])).result, '0x5')
    const resent = await call('eth_sendRawTransaction', [raw])
    assert.match(resent.error.message, /nonce too low/i)
  })

  test('a second library reads the registry events over HTTP JSON-RPC (raw eth_getLogs, not the ledger client)', async () => {
    const ledger = await t.as(t.users[0])
    const published = await publishVersion(ledger, { name: 'interop/model', version: '1.0.0', manifestCid: CID, license: 'MIT' })
    // Topics computed with @noble/hashes from the event signature, the request made with fetch.
    const topic = (text: string): Hex => `0x${Buffer.from(keccak256(new TextEncoder().encode(text))).toString('hex')}`
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'eth_getLogs',
        params: [{ address: t.deployment.contracts.registry, fromBlock: '0x0', toBlock: 'latest', topics: [topic('VersionAdded(bytes32,uint256,address,string,string,uint256[],string)'), topic('interop/model')] }]
      })
    })
    const { result } = await response.json() as { result: Array<{ topics: [Hex, ...Hex[]], data: Hex, transactionHash: Hex }> }
    assert.equal(result.length, 1)
    assert.equal(result[0].transactionHash, published.hash)
    const decoded = decodeEventLog({ abi: modelRegistryAbi, topics: result[0].topics, data: result[0].data })
    assert.equal(decoded.eventName, 'VersionAdded')
    assert.deepEqual(decoded.args, {
      nameHash: topic('interop/model'),
      versionId: published.versionId,
      publisher: t.users[0].address,
      label: '1.0.0',
      manifestCid: CID,
      parents: [],
      license: 'MIT'
    })
  })
})
