/** Benchmarks report decimal units (1 MB = 10^6 bytes), as disk and network figures usually are. */
export const MB = 1_000_000
export const MiB = 1024 * 1024
export const GiB = 1024 * MiB

export function megabytesPerSecond (bytes: number, milliseconds: number): number {
  return (bytes / MB) / (milliseconds / 1000)
}

export function formatBytes (bytes: number): string {
  return bytes >= GiB ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`
}

/** Runs `fn` and returns its result with the wall-clock time it took. */
export async function timed<T> (fn: () => Promise<T>): Promise<{ result: T, milliseconds: number }> {
  const start = performance.now()
  const result = await fn()
  return { result, milliseconds: performance.now() - start }
}
