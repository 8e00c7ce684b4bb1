import { runCli } from './runCli.ts'
await runCli(process.argv)
