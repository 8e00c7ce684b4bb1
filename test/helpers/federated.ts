import fs from 'node:fs/promises'
import path from 'node:path'
import { encodeSafetensors } from '../../src/federated/tensors.ts'
import { initialWeights, type ArchitectureSpec } from '../../src/federated/training/architecture.ts'
import { REPO_ROOT, startTestDaemon, type TestDaemon } from './daemon.ts'

/** A small MLP for MNIST: fast enough to train a few rounds on every node of a test. */
export const FL_TEST_ARCHITECTURE: ArchitectureSpec = { input: { shape: [784] }, layers: [{ type: 'dense', units: 32, activation: 'relu' }], output: { classes: 10 } }
/** Long enough for an external trainer's start-up on a loaded 2-core machine. */
export const FL_TEST_ROUND_SECONDS = 30
/** An external trainer that trains honestly, then scales its delta (poisoning) or hangs (see the file). */
export const SCRIPTED_TRAINER = path.join(REPO_ROOT, 'test/fixtures/scriptedTrainer.ts')

export async function until<T> (what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await check()
    if (value !== undefined) return value
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/**
 * A federated network of real daemons: a sponsor that runs the embedded chain and `participants`
 * nodes on its chain (funded by its faucet), all connected to each other — participants fetch
 * updates straight from the node that trained them.
 */
export async function startFederatedNodes (participants: number): Promise<{ sponsor: TestDaemon, nodes: TestDaemon[], all: TestDaemon[] }> {
  const sponsor = await startTestDaemon()
  const all = [sponsor]
  try {
    const nodes = await Promise.all(Array.from({ length: participants }, async () => await startTestDaemon({ chainFrom: sponsor })))
    all.push(...nodes)
    for (const node of nodes) await node.json(['chain', 'faucet'])
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) await all[i].json(['connect', all[j].multiaddrs[0]])
    }
    return { sponsor, nodes, all }
  } catch (err) {
    await Promise.all(all.map(async daemon => { await daemon.cleanup() }))
    throw err
  }
}

/** A trainable base model: the layer spec and seeded initial weights, as `myc fl open` expects. */
export async function writeBaseModel (dir: string, architecture: ArchitectureSpec): Promise<void> {
  await fs.mkdir(dir, { recursive: true })
  await fs.writeFile(path.join(dir, 'architecture.json'), JSON.stringify(architecture, null, 2))
  await fs.writeFile(path.join(dir, 'weights.safetensors'), encodeSafetensors(initialWeights(architecture, 1)))
}
