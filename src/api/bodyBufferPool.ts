/**
 * Request bodies of binary inference calls, read into buffers that are reused from call to call.
 *
 * A batch of images is a few hundred KB per call; a fresh buffer for each (and the join of the
 * socket's pieces) is external memory that drives V8's full GCs — without the daemon's runtime tuning
 * (node/runtimeTuning.ts), every few dozen calls at batch 64, marking the whole node's heap on both
 * cores while the model runs. The tensors decoded from a body
 * are views on it and live only until the answer is sent, so its buffer goes back to the pool then.
 */
export class BodyBufferPool {
  private readonly free: Buffer[] = []
  private readonly maxBuffers: number
  private readonly maxBufferBytes: number

  constructor (options: { maxBuffers: number, maxBufferBytes: number }) {
    this.maxBuffers = options.maxBuffers
    this.maxBufferBytes = options.maxBufferBytes
  }

  /** A buffer of at least `size` bytes (its own ArrayBuffer, so tensor data at 8-byte offsets is aligned) and its release. */
  acquire (size: number): { buffer: Buffer, release: () => void } {
    const pooled = size <= this.maxBufferBytes
    let buffer: Buffer | undefined
    if (pooled) {
      let best = -1
      for (let i = 0; i < this.free.length; i++) {
        if (this.free[i].length >= size && (best < 0 || this.free[i].length < this.free[best].length)) best = i
      }
      if (best >= 0) buffer = this.free.splice(best, 1)[0]
    }
    // Power-of-two sizes (at least 64 KiB: never a slice of Node's shared pool) let bodies of a similar size share buffers.
    buffer ??= Buffer.allocUnsafeSlow(pooled ? Math.min(this.maxBufferBytes, 2 ** Math.ceil(Math.log2(Math.max(size, MIN_BUFFER_BYTES)))) : size)
    let released = false
    return {
      buffer,
      release: () => {
        if (released) return
        released = true
        if (pooled && this.free.length < this.maxBuffers) this.free.push(buffer)
      }
    }
  }
}

const MIN_BUFFER_BYTES = 64 * 1024
