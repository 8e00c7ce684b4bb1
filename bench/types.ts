/** One measured figure. `goal` and `ok` are present only for figures that have a target. */
export interface BenchRow {
  name: string
  value: number
  unit: string
  /** Human-readable target, e.g. "≥ 0.6". */
  goal?: string
  ok?: boolean
}

export interface BenchContext {
  /**
   * Registers a cleanup (kill a process, remove a temp dir). Cleanups run in reverse order when
   * the benchmark returns, throws, or the run is interrupted, so a failure never leaks resources.
   */
  defer: (cleanup: () => unknown) => void
  /** Progress output; goes to stderr so stdout stays the result table. */
  log: (message: string) => void
}

/**
 * A benchmark is the default export of a `bench/NAME.bench.ts` file; NAME is what `npm run bench --
 * NAME` selects. Adding a benchmark means adding such a file, nothing else.
 */
export type Benchmark = (context: BenchContext) => Promise<BenchRow[]>

export interface Goal {
  label: string
  test: (value: number) => boolean
}

export const atLeast = (min: number): Goal => ({ label: `≥ ${min}`, test: value => value >= min })
export const below = (max: number): Goal => ({ label: `< ${max}`, test: value => value < max })

export function row (name: string, value: number, unit: string, goal?: Goal): BenchRow {
  return goal == null ? { name, value, unit } : { name, value, unit, goal: goal.label, ok: goal.test(value) }
}
