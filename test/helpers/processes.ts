import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { REPO_ROOT } from './daemon.ts'

/** Starts a TypeScript script in its own process and resolves with the first JSON line it prints. */
export async function startScript<T> (script: string, args: string[]): Promise<{ info: T, process: ChildProcess, kill: () => Promise<void> }> {
  const child = spawn(process.execPath, [script, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', chunk => { stderr += chunk })
  const info = await new Promise<T>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', line => { resolve(JSON.parse(line)) })
    child.once('exit', code => { reject(new Error(`${script} exited with ${code}: ${stderr}`)) })
  })
  return {
    info,
    process: child,
    async kill () {
      if (child.exitCode != null || child.signalCode != null) return
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
  }
}
