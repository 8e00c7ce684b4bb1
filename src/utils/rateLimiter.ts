/** A token bucket: `take(n)` resolves once n more bytes fit within `bytesPerSecond`. */
export class RateLimiter {
  private readonly bytesPerSecond: number
  private available: number
  private last = performance.now()

  constructor (bytesPerSecond: number) {
    this.bytesPerSecond = bytesPerSecond
    // A burst of a quarter second keeps small requests snappy without breaking the limit.
    this.available = bytesPerSecond / 4
  }

  async take (bytes: number): Promise<void> {
    const now = performance.now()
    this.available = Math.min(this.bytesPerSecond / 4, this.available + (now - this.last) / 1000 * this.bytesPerSecond)
    this.last = now
    this.available -= bytes
    if (this.available < 0) {
      await new Promise(resolve => setTimeout(resolve, (-this.available / this.bytesPerSecond) * 1000))
    }
  }
}
