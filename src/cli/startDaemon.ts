import { createNode } from '../node/createNode.ts'
import { SHUTDOWN_GRACE_MS } from '../node/defaults.ts'
import { tuneRuntimeForBulkData } from '../node/runtimeTuning.ts'
import { printResult, type OutputOptions } from './output.ts'
import type { NodeConfigInput } from '../node/config.ts'

/** Runs a node in this process until SIGINT/SIGTERM, then stops it cleanly. */
export async function startDaemon (config: NodeConfigInput, output: OutputOptions): Promise<void> {
  // This process is the node's own: its GC may be tuned for moving blocks.
  tuneRuntimeForBulkData()
  // Listen for signals before anything else: whoever waits for the ready line may signal at once,
  // and a signal with no listener kills the process without a clean stop.
  let requestStop: (signal: string) => void = () => {}
  const stopRequested = new Promise<string>(resolve => { requestStop = resolve })
  const onSignal = (signal: NodeJS.Signals): void => { requestStop(signal) }
  // `on`, not `once`: a library using signal-exit re-raises a signal when no other listener is left.
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

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

  const signal = await stopRequested
  if (output.json !== true) process.stderr.write(`\n${signal}: stopping (finishing writes)…\n`)
  const force = setTimeout(() => { process.stderr.write('Shutdown took too long; exiting.\n'); process.exit(1) }, SHUTDOWN_GRACE_MS)
  force.unref()
  try {
    await node.stop()
  } catch (err: any) {
    process.stderr.write(`Error while stopping: ${err.message}\n`)
    process.exitCode = 1
  }
}
