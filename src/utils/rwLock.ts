/**
 * A readers–writer lock: publishes and imports share it, garbage collection takes it alone, so gc
 * never deletes blocks of a publish that has not committed yet.
 */
export class RwLock {
  private readers = 0
  private writer = false
  private readonly waiting: Array<{ exclusive: boolean, resolve: () => void }> = []

  async shared<T> (fn: () => Promise<T>): Promise<T> {
    await this.acquire(false)
    try {
      return await fn()
    } finally {
      this.readers--
      this.drain()
    }
  }

  async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    await this.acquire(true)
    try {
      return await fn()
    } finally {
      this.writer = false
      this.drain()
    }
  }

  private async acquire (exclusive: boolean): Promise<void> {
    if (this.canEnter(exclusive) && this.waiting.length === 0) {
      this.enter(exclusive)
      return
    }
    await new Promise<void>(resolve => this.waiting.push({ exclusive, resolve }))
  }

  private canEnter (exclusive: boolean): boolean {
    return exclusive ? !this.writer && this.readers === 0 : !this.writer
  }

  private enter (exclusive: boolean): void {
    if (exclusive) this.writer = true
    else this.readers++
  }

  // FIFO: a waiting writer blocks later readers, so gc is not starved by a stream of publishes.
  private drain (): void {
    while (this.waiting.length > 0 && this.canEnter(this.waiting[0].exclusive)) {
      const next = this.waiting.shift()!
      this.enter(next.exclusive)
      next.resolve()
    }
  }
}
