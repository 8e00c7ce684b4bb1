import fs from 'node:fs/promises'

export interface RssSample {
  /** Resident set size now. */
  rss: number
  /** The process's high-water mark of resident memory since it started. */
  hwm: number
}

export interface RssSampler {
  /** Stops sampling; resolves with the highest RSS seen, including the kernel's own high-water mark. */
  stop: () => Promise<number>
}

/** Reads VmRSS and VmHWM (in bytes) from /proc; undefined when the process is gone or not on Linux. */
export async function readRss (pid: number): Promise<RssSample | undefined> {
  let status: string
  try {
    status = await fs.readFile(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') }
}

/**
 * Polls a process's RSS. Polling alone can miss a short spike between samples, so the result is
 * also bounded below by VmHWM read at the end.
 */
export function sampleRss (pid: number, intervalMs: number): RssSampler {
  let peak = 0
  let pending: Promise<void> = Promise.resolve()
  const sample = async (): Promise<void> => {
    const now = await readRss(pid)
    if (now != null) peak = Math.max(peak, now.rss)
  }
  const timer = setInterval(() => { pending = sample() }, intervalMs)
  let stopped: Promise<number> | undefined
  return {
    stop: async () => {
      stopped ??= (async () => {
        clearInterval(timer)
        await pending
        const last = await readRss(pid)
        return Math.max(peak, last?.rss ?? 0, last?.hwm ?? 0)
      })()
      return await stopped
    }
  }
}
