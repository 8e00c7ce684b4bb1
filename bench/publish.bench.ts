import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createClient } from '../src/client/createClient.ts'
import { startTestDaemon } from '../test/helpers/daemon.ts'
import { writeRandomFile } from './lib/randomFile.ts'
import { readRss, sampleRss } from './lib/rssSampler.ts'
import { formatBytes, GiB, MB, megabytesPerSecond, MiB, timed } from './lib/units.ts'
import { atLeast, below, row, type BenchContext, type BenchRow } from './types.ts'

/** `BENCH_PUBLISH_BYTES=4294967296 npm run bench -- publish` is the 4 GiB streaming check. */
const SIZE_ENV = 'BENCH_PUBLISH_BYTES'
const DEFAULT_SIZE = 1 * GiB
/** Extra Node flags for the daemon only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it. */
const DAEMON_NODE_OPTIONS_ENV = 'BENCH_DAEMON_NODE_OPTIONS'

/** The client reads the file in 1 MiB pieces and the importer cuts 1 MiB chunks; the baseline matches. */
const READ_CHUNK = 1 * MiB
const RSS_SAMPLE_INTERVAL_MS = 50

/** Publishing does far more than hash (chunk, hash again, write blocks, HTTP), but must stay close. */
const THROUGHPUT_RATIO_GOAL = 0.6
/** Publishing streams: memory must not grow with the file, so 1 GiB and 4 GiB share one ceiling. */
const PEAK_RSS_GOAL_MB = 400

/**
 * Publish throughput through the real daemon's HTTP API, as a ratio of plain streaming SHA-256 of
 * the same file on the same machine in the same run, plus the daemon's peak memory while it works.
 */
export default async function publish ({ defer, log }: BenchContext): Promise<BenchRow[]> {
  const size = sizeFromEnv()
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'myc-bench-publish-'))
  defer(async () => { await fs.rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'model.bin')

  log(`writing ${formatBytes(size)} of pseudo-random data to ${file}`)
  await writeRandomFile(file, size)

  log('baseline: streaming SHA-256 with node:crypto')
  const baseline = await timed(async () => await sha256File(file))

  log('starting a daemon')
  // The home lives in our temp dir: startTestDaemon leaves its own temp home behind if the start fails.
  const home = path.join(dir, 'home')
  await fs.mkdir(home)
  const daemonOptions = process.env[DAEMON_NODE_OPTIONS_ENV]
  const daemon = await startTestDaemon({ home, ...(daemonOptions != null ? { env: { NODE_OPTIONS: daemonOptions } } : {}) })
  defer(async () => { await daemon.cleanup() })
  const pid = daemon.process.pid!
  const idleRss = (await readRss(pid))?.rss

  log('publishing through the HTTP API')
  const client = await createClient({ apiUrl: daemon.apiUrl, home: daemon.home })
  const sampler = sampleRss(pid, RSS_SAMPLE_INTERVAL_MS)
  defer(async () => { await sampler.stop() })
  const published = await timed(async () => await client.publish({ name: 'bench-model', version: '1.0.0' }, [{ path: 'model.bin', source: file }]))
  const peakRss = await sampler.stop()
  assertPublishedIntact(published.result.manifest.files[0], size, baseline.result)
  // A clean stop (not the SIGKILL of cleanup) lets --cpu-prof in BENCH_DAEMON_NODE_OPTIONS write its profile.
  await daemon.stop()

  const sha256Rate = megabytesPerSecond(size, baseline.milliseconds)
  const publishRate = megabytesPerSecond(size, published.milliseconds)
  return [
    row(`sha256 baseline (${formatBytes(size)})`, sha256Rate, 'MB/s'),
    row(`publish via API (${formatBytes(size)})`, publishRate, 'MB/s'),
    row('publish / sha256', publishRate / sha256Rate, 'x', atLeast(THROUGHPUT_RATIO_GOAL)),
    ...(idleRss != null ? [row('daemon RSS before publish', idleRss / MB, 'MB')] : []),
    ...(peakRss > 0 ? [row('daemon peak RSS', peakRss / MB, 'MB', below(PEAK_RSS_GOAL_MB))] : [])
  ]
}

function sizeFromEnv (): number {
  const value = process.env[SIZE_ENV]
  if (value == null || value === '') return DEFAULT_SIZE
  const size = Number(value)
  if (!Number.isSafeInteger(size) || size <= 0) throw new Error(`${SIZE_ENV} must be a positive whole number of bytes, got "${value}".`)
  return size
}

async function sha256File (file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** A publish that lost or altered bytes would make a meaningless (and flattering) figure. */
function assertPublishedIntact (entry: { size: number, sha256: string } | undefined, size: number, sha256: string): void {
  if (entry?.size !== size || entry.sha256 !== sha256) {
    throw new Error(`published file does not match the source: expected ${size} bytes with SHA-256 ${sha256}, got ${JSON.stringify(entry)}`)
  }
}
