#!/usr/bin/env node
// Runs the CLI on the Node pinned by the project (the `node` package), whatever Node started this file.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const pinnedNode = path.join(root, 'node_modules', 'node', 'bin', 'node')
const child = spawn(pinnedNode, [path.join(root, 'src', 'cli', 'bin.ts'), ...process.argv.slice(2)], { stdio: 'inherit' })
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => { process.exitCode = code ?? (signal != null ? 1 : 0) })
