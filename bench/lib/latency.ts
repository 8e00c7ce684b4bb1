/** Closed-loop latency sampling: one call in flight, each call timed on its own. */

export interface LatencySummary {
  iterations: number
  medianMs: number
  p90Ms: number
  meanMs: number
  minMs: number
}

/** Runs `fn` `warmup` times untimed, then `iterations` times, and returns each timed call's milliseconds. */
export async function sampleLatencies (fn: () => Promise<unknown>, { warmup, iterations }: { warmup: number, iterations: number }): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn()
  const samples: number[] = []
  for (let i = 0; i < iterations; i++) {
    const start = performance.now()
    await fn()
    samples.push(performance.now() - start)
  }
  return samples
}

/** Nearest-rank percentile (`p` in 0..100) of unsorted samples. */
export function percentile (samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

export function summarize (samples: readonly number[]): LatencySummary {
  return {
    iterations: samples.length,
    medianMs: percentile(samples, 50),
    p90Ms: percentile(samples, 90),
    meanMs: samples.reduce((sum, value) => sum + value, 0) / samples.length,
    minMs: Math.min(...samples)
  }
}
