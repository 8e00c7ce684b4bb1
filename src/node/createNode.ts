import fs from 'node:fs/promises'
import { createApiServer, type ApiServer } from '../api/createApiServer.ts'
import { BaseError } from '../errors.ts'
import { createHost, type Host } from '../net/createHost.ts'
import { LocalIndex } from '../registry/localIndex.ts'
import { BlockStore } from '../storage/blockstore.ts'
import { logger } from '../utils/logger.ts'
import { RwLock } from '../utils/rwLock.ts'
import { resolveConfig, type NodeConfig, type NodeConfigInput } from './config.ts'
import { homePaths, writeFileAtomic, type HomePaths } from './home.ts'
import { openHome, readApiToken } from './initHome.ts'
import type { Identity } from '../identity/identity.ts'
import type { RegistryComponents } from '../registry/components.ts'

const log = logger('node')

export interface MyceliumNode {
  config: NodeConfig
  paths: HomePaths
  identity: Identity
  host: Host
  registry: RegistryComponents
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

  const store = new BlockStore(paths.blocks)
  const index = new LocalIndex(paths.indexDb)
  const registry: RegistryComponents = { store, index, identity, storeLock: new RwLock() }
  const host = await createHost({ identity, listen: config.listen })
  const apiToken = (await readApiToken(config.home))!
  const node: MyceliumNode = {
    config,
    paths,
    identity,
    host,
    registry,
    apiUrl: undefined,
    api: undefined as unknown as ApiServer,
    async start () {
      await store.open()
      await host.start()
      node.apiUrl = await node.api.listen({ host: config.apiHost, port: config.apiPort })
      await writeFileAtomic(paths.apiUrlFile, node.apiUrl + '\n', 0o644)
      log('node %s (%s) started, API %s', identity.peerId, identity.address, node.apiUrl)
    },
    async stop () {
      // Stop taking requests first, let in-flight writes finish, then close the stores under them.
      await node.api.close()
      await fs.rm(paths.apiUrlFile, { force: true })
      await registry.storeLock.exclusive(async () => {})
      await host.stop()
      index.close()
      await store.close()
      log('node stopped')
    }
  }
  node.api = await createApiServer({ registry, identity, host, home: paths.root, apiToken, apiUrl: () => node.apiUrl })
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
