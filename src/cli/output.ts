import cliProgress from 'cli-progress'
import { BaseError } from '../errors.ts'

export interface OutputOptions { json?: boolean }

export function printResult (options: OutputOptions, value: unknown, text: () => string): void {
  process.stdout.write(options.json === true ? JSON.stringify(value) + '\n' : text() + '\n')
}

export function formatBytes (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

export interface Progress {
  update: (bytes: number) => void
  stop: () => void
}

/** A byte progress bar on an interactive terminal; silent under --json or when piped. */
export function progressBar (options: OutputOptions, label: string, total: number): Progress {
  if (options.json === true || process.stderr.isTTY !== true || total <= 0) return { update () {}, stop () {} }
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {percentage}% | {done}/{size} | {rate}/s | ETA {eta_formatted}`,
    hideCursor: true,
    clearOnComplete: true
  }, cliProgress.Presets.shades_classic)
  const started = Date.now()
  bar.start(total, 0, { done: formatBytes(0), size: formatBytes(total), rate: formatBytes(0) })
  return {
    update (bytes) {
      const seconds = Math.max((Date.now() - started) / 1000, 0.001)
      bar.update(bytes, { done: formatBytes(bytes), rate: formatBytes(bytes / seconds) })
    },
    stop () { bar.stop() }
  }
}

/** Prints an error the way a user can act on it, and returns the exit code. */
export function reportError (options: OutputOptions, err: unknown): number {
  if (options.json === true) {
    const body = err instanceof BaseError ? err.toJSON() : { error: 'Error', code: 'INTERNAL', message: (err as Error).message ?? String(err) }
    process.stdout.write(JSON.stringify(body) + '\n')
  } else if (err instanceof BaseError) {
    process.stderr.write(`Error: ${err.message}\n`)
  } else {
    process.stderr.write(`Error: ${(err as Error)?.stack ?? String(err)}\n`)
  }
  return 1
}

/**
 * Pull progress: a bar with bytes, rate, ETA and peers on a terminal; under --json every event is
 * printed as one JSON line.
 */
export function pullProgress (options: OutputOptions): { onEvent: (event: any) => void, stop: () => void } {
  if (options.json === true) {
    return { onEvent: event => { process.stdout.write(JSON.stringify(event) + '\n') }, stop () {} }
  }
  if (process.stderr.isTTY !== true) return { onEvent () {}, stop () {} }
  let bar: cliProgress.SingleBar | undefined
  return {
    onEvent (event) {
      if (event.type === 'manifest') {
        bar = new cliProgress.SingleBar({
          stream: process.stderr,
          format: `pulling ${event.name}@${event.version} [{bar}] {percentage}% | {done}/{size} | {rate}/s | ETA {eta_formatted} | {peers} peer(s)`,
          hideCursor: true,
          clearOnComplete: true
        }, cliProgress.Presets.shades_classic)
        bar.start(event.totalBytes, event.localBytes, { done: formatBytes(event.localBytes), size: formatBytes(event.totalBytes), rate: formatBytes(0), peers: 0 })
      } else if (event.type === 'progress') {
        bar?.update(event.bytes, { done: formatBytes(event.bytes), rate: formatBytes(event.bytesPerSecond), peers: event.peers })
      }
    },
    stop () { bar?.stop() }
  }
}
