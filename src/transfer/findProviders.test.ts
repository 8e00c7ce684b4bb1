import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { generatePrivateKey, identityFromPrivateKey } from '../identity/identity.ts'
import { findProviders, type FindProvidersComponents } from './findProviders.ts'

describe('findProviders', () => {
  it('asks the DHT unless the round says not to', async () => {
    const cid = CID.createV1(raw.code, await sha256.digest(Uint8Array.of(1, 2, 3)))
    let dhtLookups = 0
    const components: FindProvidersComponents = {
      libp2p: {
        peerId: identityFromPrivateKey(generatePrivateKey()).peerId,
        getConnections: () => [],
        dial: async () => { throw new Error('nobody to dial') },
        dialProtocol: async () => { throw new Error('nobody to ask') },
        contentRouting: {
          // No provider on the DHT: the lookup ends without one.
          findProviders: async function * () { dhtLookups++; yield * [] },
          provide: async () => {},
          cancelReprovide: async () => {},
          put: async () => {},
          get: async () => new Uint8Array()
        }
      }
    }
    for await (const peer of findProviders(components, cid, { dht: false })) assert.fail(`found ${peer.toString()}`)
    assert.equal(dhtLookups, 0)
    for await (const peer of findProviders(components, cid)) assert.fail(`found ${peer.toString()}`)
    assert.equal(dhtLookups, 1)
  })
})
