/**
 * Kernels `@tensorflow/tfjs-backend-wasm` 4.22 lacks but training needs. Only one so far:
 * Conv2DBackpropFilter (the gradient of a convolution with respect to its filter), without which
 * no conv layer can train on wasm. It runs here in plain JavaScript over the wasm heap: the
 * cpu backend's version works too but costs ~35× more (per-element TensorBuffer.get calls).
 */
import * as tf from '@tensorflow/tfjs'

interface WasmBackend {
  readSync: (dataId: object) => tf.TypedArray
  makeOutput: (shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.TypedArray) => tf.TensorInfo
}

interface Conv2DBackpropFilterAttrs {
  strides: number | [number, number]
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding
  dataFormat: 'NHWC' | 'NCHW'
  dimRoundingMode?: 'floor' | 'round' | 'ceil'
  filterShape: [number, number, number, number]
}

export function registerMissingWasmKernels (): void {
  const present = new Set(tf.getKernelsForBackend('wasm').map((kernel) => kernel.kernelName))
  if (!present.has('Conv2DBackpropFilter')) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc })
  }
}

/** dW[r, c, i, o] = Σ_b,y,x  x[b, y·s + r − pad, x·s + c − pad, i] · dy[b, y, x, o]  (NHWC). */
export function conv2DBackpropFilter ({ inputs, backend, attrs }: { inputs: { x: tf.TensorInfo, dy: tf.TensorInfo }, backend: WasmBackend, attrs: Conv2DBackpropFilterAttrs }): tf.TensorInfo {
  const { x, dy } = inputs
  if (attrs.dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter on wasm: only NHWC is supported, got ${attrs.dataFormat}`)
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast')
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth, filterHeight, filterWidth } = info
  const top = info.padInfo.top
  const left = info.padInfo.left
  const xs = backend.readSync(x.dataId) as Float32Array
  const dys = backend.readSync(dy.dataId) as Float32Array
  const sums = new Float64Array(filterHeight * filterWidth * inChannels * outChannels)
  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < outHeight; yr++) {
      for (let yc = 0; yc < outWidth; yc++) {
        const dyBase = ((b * outHeight + yr) * outWidth + yc) * outChannels
        for (let wr = 0; wr < filterHeight; wr++) {
          const xr = yr * strideHeight + wr - top
          if (xr < 0 || xr >= inHeight) continue
          for (let wc = 0; wc < filterWidth; wc++) {
            const xc = yc * strideWidth + wc - left
            if (xc < 0 || xc >= inWidth) continue
            const xBase = ((b * inHeight + xr) * inWidth + xc) * inChannels
            const wBase = (wr * filterWidth + wc) * inChannels * outChannels
            for (let i = 0; i < inChannels; i++) {
              const xv = xs[xBase + i]
              if (xv === 0) continue // sparse inputs (MNIST, ReLU maps); skips only exact zero terms
              const row = wBase + i * outChannels
              for (let o = 0; o < outChannels; o++) sums[row + o] += xv * dys[dyBase + o]
            }
          }
        }
      }
    }
  }
  return backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32', undefined, Float32Array.from(sums))
}
