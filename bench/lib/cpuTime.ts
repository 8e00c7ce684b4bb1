import fs from 'node:fs/promises'

/** Linux reports process times in clock ticks; USER_HZ is 100 on every mainstream kernel build. */
const CLOCK_TICKS_PER_SECOND = 100

/**
 * CPU seconds (user + system, all threads, libuv's pool included) a process has used so far;
 * undefined when it is gone or not on Linux. `pid` omitted means this process.
 */
export async function readCpuSeconds (pid?: number): Promise<number | undefined> {
  if (pid == null) {
    const usage = process.cpuUsage()
    return (usage.user + usage.system) / 1e6
  }
  let stat: string
  try {
    stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) may hold spaces; fields after its closing parenthesis are plain.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND
}

/** Total CPU seconds of `pids` (`undefined` = this process), or undefined if any is unreadable. */
export async function readTotalCpuSeconds (pids: Array<number | undefined>): Promise<number | undefined> {
  const values = await Promise.all(pids.map(readCpuSeconds))
  return values.some(value => value == null) ? undefined : values.reduce<number>((sum, value) => sum + value!, 0)
}
