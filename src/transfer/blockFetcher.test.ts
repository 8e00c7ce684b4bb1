import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generatePrivateKey, identityFromPrivateKey } from '../identity/identity.ts'
import { BlockFetcher } from './blockFetcher.ts'
import type { BlockFetcherComponents } from './blockFetcher.ts'

describe('BlockFetcher discovery', () => {
  it('re-asks connected peers and announcers every round during a transfer, the DHT only now and then', async () => {
    const provider = identityFromPrivateKey(generatePrivateKey()).peerId
    // Nothing is queued, so the fetcher never dials or stores: only its discovery loop runs.
    const components: BlockFetcherComponents = {
      libp2p: { dialProtocol: async () => { throw new Error('no blocks were asked for') } },
      store: { has: async () => false, put: async cid => cid }
    }
    const fetcher = new BlockFetcher(components)
    const rounds: boolean[] = []
    let thirdRound: () => void = () => {}
    const threeRounds = new Promise<void>(resolve => { thirdRound = resolve })
    fetcher.discover(async function * ({ dht }) {
      rounds.push(dht)
      if (rounds.length === 3) thirdRound()
      yield provider
    }, 1_000)
    // The first round, then two rediscovery rounds (one every 2 s).
    await threeRounds
    fetcher.finished = true
    assert.equal(fetcher.activePeers, 1)
    assert.deepEqual(rounds, [true, false, false])
  })
})
