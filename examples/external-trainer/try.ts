/**
 * Runs train.py through the external-trainer protocol, the way a node does in a federated round:
 * writes 2,000 MNIST digits as CSV into a temporary data dir, then trains softmax regression for
 * a few rounds (one participant, so each round's global weights are the previous update) and
 * prints the held-out accuracy after each round.
 *
 *     npx node examples/external-trainer/try.ts [python3]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { evaluate, holdOut, initialWeights, loadMnist, runExternalTrainer, validateArchitecture } from '../../src/federated/training/index.ts'

const python = process.argv[2] ?? 'python3'
const script = fileURLToPath(new URL('./train.py', import.meta.url))
const architecture = validateArchitecture({ input: { shape: [784] }, layers: [], output: { classes: 10 } })
const { train, test } = holdOut(await loadMnist({ count: 3000, seed: 1 }), 1 / 3, 1)

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'myc-example-data-'))
try {
  const header = [...Array.from({ length: 784 }, (_, i) => `px${i}`), 'label'].join(',')
  const rows = Array.from({ length: train.count }, (_, i) => [...train.x.subarray(i * 784, (i + 1) * 784)].map((v) => +v.toFixed(4)).join(',') + `,${train.y[i]}`)
  await writeFile(path.join(dataDir, 'train.csv'), [header, ...rows].join('\n') + '\n')

  let weights = initialWeights(architecture, 1)
  console.log(`round 0: held-out accuracy ${(await evaluate({ architecture, weights, data: test })).accuracy.toFixed(3)}`)
  for (let round = 1; round <= 3; round++) {
    const result = await runExternalTrainer({
      command: `${python} "${script}" {config}`,
      globalWeights: weights,
      config: { round, epochs: 1, learningRate: 0.1, batchSize: 32, dataDir, architecture },
      timeoutMs: 120_000
    })
    weights = result.weights
    const held = await evaluate({ architecture, weights, data: test })
    console.log(`round ${round}: ${result.numExamples} samples, train loss ${result.metrics.loss?.toFixed(4)}, ` +
      `train accuracy ${result.metrics.accuracy?.toFixed(3)}, held-out accuracy ${held.accuracy.toFixed(3)} (${Math.round(result.durationMs)} ms)`)
  }
} finally {
  await rm(dataDir, { recursive: true, force: true })
}
