import { spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { createInterface } from 'node:readline'

/**
 * The sending side runs in its own process, as a providing daemon does: on two cores, a sender
 * and a receiver sharing one event loop would halve the baseline and flatter every ratio against it.
 * It streams the file from disk (1 MiB reads) to each connection, then closes it.
 */
const SERVER_SCRIPT = `
const fs = require('node:fs')
const net = require('node:net')
const server = net.createServer(socket => {
  socket.on('error', () => {})
  fs.createReadStream(process.argv[1], { highWaterMark: 1024 * 1024 }).pipe(socket)
})
server.listen(0, '127.0.0.1', () => { console.log(server.address().port) })
`

export interface RawTcpServer {
  port: number
  pid: number
  stop: () => Promise<void>
}

/** Starts the sending process for `file` on a free loopback port. */
export async function startRawTcpServer (file: string): Promise<RawTcpServer> {
  const child = spawn(process.execPath, ['-e', SERVER_SCRIPT, file], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'exit')
  const [line] = await Promise.race([
    once(createInterface({ input: child.stdout }), 'line') as Promise<[string]>,
    exited.then(([code]) => { throw new Error(`raw TCP server exited with ${code}`) })
  ])
  return {
    port: Number(line),
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode != null || child.signalCode != null) return
      child.kill('SIGKILL')
      await exited
    }
  }
}

/** Connects, reads until the sender closes and discards the bytes; resolves with how many arrived. */
export async function drainTcp (port: number): Promise<number> {
  const socket = net.connect({ host: '127.0.0.1', port })
  let bytes = 0
  socket.on('data', (chunk: Buffer) => { bytes += chunk.length })
  await once(socket, 'end')
  socket.destroy()
  return bytes
}
