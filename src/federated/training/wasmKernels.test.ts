import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs'
import { ensureBackend } from './backend.ts'

/** Gradients of Σ conv2d(x, f)² with respect to x and f, on the current backend. */
function convGradients (strides: number | [number, number], pad: 'valid' | 'same'): number[][] {
  return tf.tidy(() => {
    const x = tf.tensor4d(Array.from({ length: 2 * 9 * 7 * 3 }, (_, i) => Math.sin(i)), [2, 9, 7, 3])
    const f = tf.tensor4d(Array.from({ length: 3 * 2 * 3 * 4 }, (_, i) => Math.cos(i)), [3, 2, 3, 4])
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad))))([x, f])
    return grads.map((g) => [...g.dataSync()])
  })
}

describe('wasm kernels', () => {
  it('Conv2DBackpropFilter on wasm matches the cpu backend (strides, valid/same padding)', async () => {
    assert.equal(await ensureBackend(), 'wasm')
    const cases = [[1, 'valid'], [2, 'same'], [[2, 1], 'valid'], [[1, 3], 'same']] as const
    const wasm = cases.map(([s, p]) => convGradients(s as number | [number, number], p))
    // The cpu backend prints a "use tfjs-node" banner on first use; it is only the reference here.
    ;(tf.findBackend('cpu') as unknown as { firstUse: boolean }).firstUse = false
    await tf.setBackend('cpu')
    try {
      const cpu = cases.map(([s, p]) => convGradients(s as number | [number, number], p))
      for (let c = 0; c < cases.length; c++) {
        for (let g = 0; g < 2; g++) {
          assert.equal(wasm[c][g].length, cpu[c][g].length)
          for (let i = 0; i < cpu[c][g].length; i++) {
            assert.ok(Math.abs(wasm[c][g][i] - cpu[c][g][i]) <= 1e-4 * (1 + Math.abs(cpu[c][g][i])), `case ${c}, ${g === 0 ? 'dx' : 'dW'}[${i}]: ${wasm[c][g][i]} vs ${cpu[c][g][i]}`)
          }
        }
      }
    } finally {
      await tf.setBackend('wasm')
    }
  })
})
