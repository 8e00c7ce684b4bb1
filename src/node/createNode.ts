import fs from 'node:fs/promises'
import { createApiServer, type ApiServer } from '../api/createApiServer.ts'
import { BaseError } from '../errors.ts'
import { Announcer } from '../net/announce/announcer.ts'
import { createNetwork, type Host, type Network } from '../net/createNetwork.ts'
import { registerFetchHandler } from '../net/fetch/handler.ts'
import { createInferenceService, type InferenceService } from '../inference/createInferenceService.ts'
import { createLedgerService, type LedgerService } from '../ledger/createLedgerService.ts'
import { FollowService } from '../registry/followService.ts'
import { LocalIndex } from '../registry/localIndex.ts'
import { BlockStore } from '../storage/blockstore.ts'
import { logger } from '../utils/logger.ts'
import { RateLimiter } from '../utils/rateLimiter.ts'
import { RwLock } from '../utils/rwLock.ts'
import { resolveConfig, type NodeConfig, type NodeConfigInput } from './config.ts'
import { homePaths, writeFileAtomic, type HomePaths } from './home.ts'
import { openHome, readApiToken } from './initHome.ts'
import type { Identity } from '../identity/identity.ts'
import type { FollowServiceComponents } from '../registry/followService.ts'
import type { PullComponents } from '../registry/pullModel.ts'

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
  const network = await createNetwork({
    identity,
    blockstore: store.backing,
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
  const inference = createInferenceService({ store, index, libp2p, announcer })
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
    ledger,
    networkId,
    apiUrl: undefined,
    api: undefined as unknown as ApiServer,
    async start () {
      await store.open()
      await network.start()
      await registerFetchHandler(host(), {
        store,
        resolveName: (name, version) => (version != null ? index.byNameVersion(name, version) : index.newest(name))?.cid,
        rateLimiter: config.serveRate != null ? new RateLimiter(config.serveRate) : undefined
      })
      announcer.start()
      follows.start()
      await inference.start()
      node.apiUrl = await node.api.listen({ host: config.apiHost, port: config.apiPort })
      await writeFileAtomic(paths.apiUrlFile, node.apiUrl + '\n', 0o644)
      log('node %s (%s) started, API %s', identity.peerId, identity.address, node.apiUrl)
    },
    async stop () {
      // Stop taking requests first, let in-flight writes finish, then close the stores under them.
      await node.api.close()
      await fs.rm(paths.apiUrlFile, { force: true })
      await follows.stop()
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
  node.api = await createApiServer({ registry: components, follows, identity, host, home: paths.root, apiToken, apiUrl: () => node.apiUrl, pullTimeoutMs: config.pullTimeoutMs, inference, ledger, networkId })
  return node
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
