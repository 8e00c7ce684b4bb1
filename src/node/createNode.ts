import fs from 'node:fs/promises'
import { createApiServer, type ApiServer } from '../api/createApiServer.ts'
import { BaseError } from '../errors.ts'
import { Announcer } from '../net/announce/announcer.ts'
import { createNetwork, type Host, type Network } from '../net/createNetwork.ts'
import { registerFetchHandler } from '../net/fetch/handler.ts'
import { createInferenceService, type InferenceService } from '../inference/createInferenceService.ts'
import { FederatedService } from '../federated/rounds/createFederatedService.ts'
import { createLedgerService, type LedgerService } from '../ledger/createLedgerService.ts'
import { FollowService } from '../registry/followService.ts'
import { LocalIndex } from '../registry/localIndex.ts'
import { BlockNotFoundError, BlockStore } from '../storage/blockstore.ts'
import { LicenceGate } from '../market/licenceGate.ts'
import { ReceiptBook } from '../market/receiptBook.ts'
import { Payments } from '../market/payments.ts'
import { MANIFEST_CODEC } from '../manifest/manifest.ts'
import { addressFromPeerId } from '../identity/identity.ts'
import { logger } from '../utils/logger.ts'
import { RateLimiter } from '../utils/rateLimiter.ts'
import { RwLock } from '../utils/rwLock.ts'
import { resolveConfig, type NodeConfig, type NodeConfigInput } from './config.ts'
import { homePaths, writeFileAtomic, type HomePaths } from './home.ts'
import { openHome, readApiToken } from './initHome.ts'
import type { Identity } from '../identity/identity.ts'
import type { FollowServiceComponents } from '../registry/followService.ts'
import type { PullComponents } from '../registry/pullModel.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

const log = logger('node')

export interface MyceliumNode {
  config: NodeConfig
  paths: HomePaths
  identity: Identity
  network: Network
  /** The libp2p host; available once started. */
  readonly host: Host
  /** Everything the registry actions (publish, pull, follow…) need. */
  components: FollowServiceComponents
  announcer: Announcer
  follows: FollowService
  inference: InferenceService
  federated: FederatedService
  ledger: LedgerService
  /** The network this node joins (`--network`, or its ledger's). */
  networkId: string
  api: ApiServer
  /** Set once started. */
  apiUrl: string | undefined
  start: () => Promise<void>
  stop: () => Promise<void>
}

export class NodeAlreadyRunningError extends BaseError {
  override name = 'NodeAlreadyRunningError'
  constructor (home: string, apiUrl: string) {
    super(`A node is already running on ${home} (API ${apiUrl}).`, {
      code: 'ALREADY_RUNNING',
      status: 409,
      hint: 'Use that node (every `myc` command finds it), stop it first, or start another with a different --home.'
    })
  }
}

/** The composition root: the one place that builds a node from its parts. */
export async function createNode (input: NodeConfigInput = {}): Promise<MyceliumNode> {
  const config = await resolveConfig(input)
  const paths = homePaths(config.home)
  const { identity } = await openHome({ home: config.home, passphrase: config.passphrase })
  await assertNotRunning(paths)
  await fs.mkdir(paths.tmp, { recursive: true })

  const ledger = await createLedgerService({ chainDir: paths.chain, chainRpc: config.chainRpc, contractsFile: config.contractsFile, account: identity.account })
  const store = new BlockStore(paths.blocks)
  const index = new LocalIndex(paths.indexDb)
  const networkId = config.network ?? ledger.info().network
  const gate = new LicenceGate({ index, store, ledger: ledger.ledger })
  const receipts = new ReceiptBook({ file: paths.receiptsDb, account: identity.account, ledger: ledger.ledger })
  const payments = new Payments({ file: paths.paymentsDb, account: identity.account, ledger: ledger.ledger })
  const network = await createNetwork({
    identity,
    blockstore: bitswapBlockstore(store, gate),
    network: networkId,
    listen: config.listen,
    bootstrap: config.bootstrap,
    mdns: config.mdns,
    swarmKeyFile: config.swarmKeyFile
  })
  const host = (): Host => network.host
  const announcer = new Announcer({
    get pubsub () { return host().services.pubsub },
    getMultiaddrs: () => host().getMultiaddrs()
  }, networkId)
  // The libp2p host exists only once the network started; components reach it lazily.
  const libp2p: PullComponents['libp2p'] & Pick<Host, 'handle'> = {
    getConnections: (...args) => host().getConnections(...args),
    dial: async (...args) => await host().dial(...args),
    dialProtocol: async (...args) => await host().dialProtocol(...args),
    handle: async (...args) => { await host().handle(...args) },
    get contentRouting () { return host().contentRouting },
    get peerId () { return host().peerId }
  }
  const components: FollowServiceComponents = { store, index, identity, storeLock: new RwLock(), libp2p, announcer, ledger: ledger.ledger, allowUnregistered: config.allowUnregistered }
  const follows = new FollowService(components)
  const inference = createInferenceService({ store, index, libp2p, announcer, account: identity.account, payments, receipts })
  const federated = new FederatedService({
    registry: components,
    libp2p: host,
    pubsub: () => host().services.pubsub,
    networkId,
    tmpDir: paths.tmp
  })
  const apiToken = (await readApiToken(config.home))!

  const node: MyceliumNode = {
    config,
    paths,
    identity,
    network,
    get host () { return host() },
    components,
    announcer,
    follows,
    inference,
    federated,
    ledger,
    networkId,
    apiUrl: undefined,
    api: undefined as unknown as ApiServer,
    async start () {
      await store.open()
      await network.start()
      await gate.start()
      receipts.start()
      await registerFetchHandler(host(), {
        store,
        canServe: async (peer, cid) => await gate.canServe(peer, cid),
        onServed: (peer, cid) => {
          // A pull is served when its manifest is: one signed receipt per version fetched.
          const entry = cid.code === MANIFEST_CODEC ? index.byCid(cid.toString()) : undefined
          if (entry == null || peer.type !== 'secp256k1') return
          void receipts.record({ kind: 'pull', model: entry.name, manifestCid: entry.cid, consumer: addressFromPeerId(peer) }).catch(err => { log.error('recording a receipt failed: %s', err.message) })
        },
        resolveName: (name, version) => (version != null ? index.byNameVersion(name, version) : index.newest(name))?.cid,
        rateLimiter: config.serveRate != null ? new RateLimiter(config.serveRate) : undefined
      })
      announcer.start()
      follows.start()
      await inference.start()
      await federated.start()
      node.apiUrl = await node.api.listen({ host: config.apiHost, port: config.apiPort })
      await writeFileAtomic(paths.apiUrlFile, node.apiUrl + '\n', 0o644)
      log('node %s (%s) started, API %s', identity.peerId, identity.address, node.apiUrl)
    },
    async stop () {
      // Stop taking requests first, let in-flight writes finish, then close the stores under them.
      await node.api.close()
      await fs.rm(paths.apiUrlFile, { force: true })
      await follows.stop()
      await federated.stop()
      gate.stop()
      await receipts.stop()
      payments.close()
      await inference.stop()
      announcer.stop()
      await components.storeLock.exclusive(async () => {})
      await network.stop()
      index.close()
      await store.close()
      await ledger.stop()
      log('node stopped')
    }
  }
  node.api = await createApiServer({ registry: components, follows, identity, host, home: paths.root, apiToken, apiUrl: () => node.apiUrl, pullTimeoutMs: config.pullTimeoutMs, inference, federated, ledger, licences: gate, receipts, payments, networkId })
  return node
}

/**
 * Bitswap serves whoever asks without saying who asks, so it never serves blocks of listed
 * models; those go only over the fetch protocol, which checks the licence of the requesting peer.
 */
function bitswapBlockstore (store: BlockStore, gate: LicenceGate): Blockstore {
  const backing = store.backing
  return new Proxy(backing, {
    get (target, property, receiver) {
      if (property === 'get') {
        return async function * (cid: CID, options?: AbortOptions) {
          if (gate.modelOf(cid) != null) throw new BlockNotFoundError(cid)
          yield * target.get(cid, options)
        }
      }
      if (property === 'has') {
        return async (cid: CID, options?: AbortOptions) => gate.modelOf(cid) == null && await target.has(cid, options)
      }
      const value = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

async function assertNotRunning (paths: HomePaths): Promise<void> {
  let apiUrl: string
  try {
    apiUrl = (await fs.readFile(paths.apiUrlFile, 'utf8')).trim()
  } catch {
    return
  }
  try {
    const response = await fetch(new URL('/health', apiUrl), { signal: AbortSignal.timeout(1000) })
    if (response.ok) throw new NodeAlreadyRunningError(paths.root, apiUrl)
  } catch (err) {
    if (err instanceof NodeAlreadyRunningError) throw err
  }
  // A stale file from a node that was killed: it no longer answers.
  await fs.rm(paths.apiUrlFile, { force: true })
}
