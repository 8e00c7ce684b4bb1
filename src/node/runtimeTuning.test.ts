import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const MODULE = fileURLToPath(new URL('./runtimeTuning.ts', import.meta.url))

/**
 * A child process keeps a live heap of some tens of MB (as a node does) and allocates 1024 buffers
 * of 1 MiB that die at once (as blocks in transit do); it reports its full GCs and peak RSS.
 */
const SCRIPT = `
import { PerformanceObserver, constants } from 'node:perf_hooks'
import fs from 'node:fs'
if (process.argv[1] === 'tuned') (await import(${JSON.stringify(MODULE)})).tuneRuntimeForBulkData()
let fullGcs = 0
new PerformanceObserver(list => { for (const entry of list.getEntries()) if (entry.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) fullGcs++ }).observe({ entryTypes: ['gc'] })
const live = []
for (let i = 0; i < 400000; i++) live.push({ i, text: String(i) })
let last
for (let i = 0; i < 1024; i++) { last = Buffer.allocUnsafeSlow(1 << 20); last[0] = i }
await new Promise(resolve => setTimeout(resolve, 20))
const peakKb = Number(/VmHWM:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN)
console.log(JSON.stringify({ fullGcs, peakMb: peakKb / 1024, live: live.length, last: last[0] }))
`

async function run (mode: 'default' | 'tuned'): Promise<{ fullGcs: number, peakMb: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SCRIPT, mode])
  return JSON.parse(stdout)
}

describe('runtime tuning for bulk data', () => {
  it('short-lived buffers no longer force full GCs of the heap, and peak memory stays put', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    const untuned = await run('default')
    const tuned = await run('tuned')
    // Without the flag V8 marks the whole heap about every 64 MB of buffers; a missing or renamed
    // flag (a Node upgrade) would show here as equal counts.
    assert.ok(untuned.fullGcs >= 6, `the scenario should provoke full GCs by default (got ${untuned.fullGcs})`)
    assert.ok(tuned.fullGcs * 3 <= untuned.fullGcs, `tuned: ${tuned.fullGcs} full GCs, default: ${untuned.fullGcs}`)
    assert.ok(tuned.peakMb < untuned.peakMb + 64, `peak RSS tuned ${tuned.peakMb.toFixed(0)} MB vs default ${untuned.peakMb.toFixed(0)} MB`)
  })
})
