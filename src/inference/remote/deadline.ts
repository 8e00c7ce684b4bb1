/**
 * AbortSignal.timeout whose timer can be cleared once the wait is over, so a call does not leave a
 * timer behind for the full timeout.
 */
export class Deadline {
  private readonly controller = new AbortController()
  private readonly timer: NodeJS.Timeout
  readonly signal = this.controller.signal

  constructor (ms: number) {
    this.timer = setTimeout(() => { this.controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')) }, ms)
    this.timer.unref()
  }

  clear (): void {
    clearTimeout(this.timer)
  }
}
