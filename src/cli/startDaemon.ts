import { createNode } from '../node/createNode.ts'
import { SHUTDOWN_GRACE_MS } from '../node/defaults.ts'
import { printResult, type OutputOptions } from './output.ts'
import type { NodeConfigInput } from '../node/config.ts'

/** Runs a node in this process until SIGINT/SIGTERM, then stops it cleanly and exits 0. */
export async function startDaemon (config: NodeConfigInput, output: OutputOptions): Promise<void> {
  const node = await createNode(config)
  await node.start()
  const info = {
    apiUrl: node.apiUrl,
    peerId: node.identity.peerId.toString(),
    address: node.identity.address,
    home: node.paths.root,
    multiaddrs: node.host.getMultiaddrs().map(ma => ma.toString())
  }
  printResult(output, info, () => [
    'Mycelium node running.',
    `  API:     ${info.apiUrl}`,
    `  PeerId:  ${info.peerId}`,
    `  Address: ${info.address}`,
    `  Home:    ${info.home}`,
    ...info.multiaddrs.map(ma => `  Listen:  ${ma}`),
    'Press Ctrl-C to stop.'
  ].join('\n'))

  await new Promise<void>(resolve => {
    let stopping = false
    const shutdown = (signal: string): void => {
      if (stopping) return
      stopping = true
      if (output.json !== true) process.stderr.write(`\n${signal}: stopping (finishing writes)…\n`)
      const force = setTimeout(() => { process.stderr.write('Shutdown took too long; exiting.\n'); process.exit(1) }, SHUTDOWN_GRACE_MS)
      force.unref()
      node.stop().then(resolve, err => { process.stderr.write(`Error while stopping: ${err.message}\n`); process.exitCode = 1; resolve() })
    }
    process.once('SIGINT', () => { shutdown('SIGINT') })
    process.once('SIGTERM', () => { shutdown('SIGTERM') })
  })
}
