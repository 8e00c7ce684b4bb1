import { CommanderError } from 'commander'
import { createCli } from './createCli.ts'

export async function runCli (argv: string[]): Promise<void> {
  process.removeAllListeners('warning')
  process.on('warning', warning => { if (warning.name !== 'ExperimentalWarning') process.stderr.write(`${warning.name}: ${warning.message}\n`) })
  try {
    await createCli().parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exitCode = err.exitCode === 0 ? 0 : 2
      return
    }
    throw err
  }
}
