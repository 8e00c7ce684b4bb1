import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { lpStream } from '@libp2p/utils'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { generatePrivateKey, identityFromPrivateKey, type Identity } from '../../identity/identity.ts'
import { INFER_PROTOCOL, INFER_STREAMS_PROTOCOL } from '../constants.ts'
import { requestRemoteInference, requestServiceInfo } from './client.ts'
import { registerInferHandler } from './handler.ts'
import type { InferenceReceipt } from './inferenceReceipt.ts'
import type { Tensor } from '../tensor.ts'
import type { Libp2p, Stream, StreamHandler } from '@libp2p/interface'

const MODEL = 'bafyreiaekgnfkwremkrppxalqrdsaruedutfx7ep4boqm7dhgpklzmem3e'

async function node (identity: Identity): Promise<Libp2p> {
  return await createLibp2p({
    privateKey: identity.privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
}

function input (values: number[]): Tensor[] {
  return [{ name: 'x', dtype: 'float32', shape: [values.length], data: Float32Array.from(values) }]
}

describe('remote inference streams', () => {
  const providerIdentity = identityFromPrivateKey(generatePrivateKey())
  const clientIdentity = identityFromPrivateKey(generatePrivateKey())
  const oldIdentity = identityFromPrivateKey(generatePrivateKey())
  let provider: Libp2p
  let client: Libp2p
  let old: Libp2p
  const streams: Record<string, number> = {}
  const receipts: InferenceReceipt[] = []

  before(async () => {
    [provider, client, old] = await Promise.all([node(providerIdentity), node(clientIdentity), node(oldIdentity)])
    // Counts the streams the provider is asked to open, per protocol.
    const counting = {
      handle: async (protocol: string | string[], handler: StreamHandler, options?: any) => {
        await provider.handle(protocol, async (stream, connection) => {
          streams[String(protocol)] = (streams[String(protocol)] ?? 0) + 1
          await handler(stream, connection)
        }, options)
      }
    }
    await registerInferHandler(counting, {
      serviceFor: () => ({ serving: true, price: '0', maxConcurrency: 4 }),
      run: async ({ inputs }) => {
        const x = inputs[0].data as Float32Array
        return {
          model: { cid: MODEL, name: 'm', version: '1.0.0', file: 'm.onnx' },
          outputs: [{ name: 'y', dtype: 'float32', shape: [x.length], data: x.map(v => v * 2) }],
          cached: true,
          timing: { prepareMs: 0, loadMs: 0, runMs: 0, totalMs: 0 }
        }
      },
      account: providerIdentity.account,
      onReceipt: receipt => { receipts.push(receipt) }
    })
    // A provider of the one-call-per-stream protocol only, as nodes before INFER_STREAMS_PROTOCOL.
    await old.handle(INFER_PROTOCOL, async (stream: Stream) => {
      streams.old = (streams.old ?? 0) + 1
      const lp = lpStream(stream)
      await lp.read()
      await lp.read()
      await lp.writeV([new TextEncoder().encode(JSON.stringify({ ok: true, info: { serving: true, price: '7', maxConcurrency: 1 } })), new Uint8Array(0)])
      await stream.close()
    })
    await client.dial(provider.getMultiaddrs()[0])
    await client.dial(old.getMultiaddrs()[0])
  })
  after(async () => {
    await Promise.all([provider, client, old].map(async libp2p => { await libp2p?.stop() }))
  })

  it('carries one call after another on one stream, each with its own co-signed receipt', async () => {
    for (let i = 1; i <= 3; i++) {
      const result = await requestRemoteInference(client, provider.peerId, { model: MODEL, inputs: input([i, -i]), account: clientIdentity.account, price: 0n })
      assert.deepEqual(Array.from(result.outputs[0].data as Float32Array), [2 * i, -2 * i])
      assert.equal(result.receipt.request.client, clientIdentity.address)
      assert.equal(result.receipt.request.provider, providerIdentity.address)
    }
    // Concurrent calls each need a stream of their own; afterwards they are reused too.
    await Promise.all([1, 2].map(async i => await requestRemoteInference(client, provider.peerId, { model: MODEL, inputs: input([i]), account: clientIdentity.account, price: 0n })))
    await requestRemoteInference(client, provider.peerId, { model: MODEL, inputs: input([5]), account: clientIdentity.account, price: 0n })
    assert.equal(streams[INFER_STREAMS_PROTOCOL], 2)
    assert.equal(streams[INFER_PROTOCOL], undefined)
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(receipts.length, 6)
    assert.equal(new Set(receipts.map(receipt => receipt.request.nonce)).size, 6)
  })

  it('goes on with a new stream when the provider has dropped an idle one', async () => {
    const before = streams[INFER_STREAMS_PROTOCOL]
    for (const connection of provider.getConnections(client.peerId)) {
      for (const stream of [...connection.streams]) stream.abort(new Error('dropped'))
    }
    const result = await requestRemoteInference(client, provider.peerId, { model: MODEL, inputs: input([4]), account: clientIdentity.account, price: 0n })
    assert.deepEqual(Array.from(result.outputs[0].data as Float32Array), [8])
    assert.equal(streams[INFER_STREAMS_PROTOCOL], before + 1)
  })

  it('falls back to one call per stream with a provider that only has the first protocol', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await requestServiceInfo(client, old.peerId, MODEL)).price, '7')
    assert.equal(streams.old, 3)
  })
})
