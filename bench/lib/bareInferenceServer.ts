/**
 * The least an HTTP inference server can do, as the floor the node's OIP endpoint is measured
 * against: node:http alone (no framework, routing, token check, model lookup or input validation),
 * the same onnxruntime session options (a SessionCache), the same OIP binary codec both ways.
 *
 * Run as its own process, as the node is: `node bareInferenceServer.ts MODEL.onnx`; it prints
 * `{"port":N}` on the first line of stdout and serves any POST as an inference request.
 */
import fs from 'node:fs/promises'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import { decodeOipRequest, encodeOipResponse, joinBinaryBody, OIP_HEADER_LENGTH_HEADER, splitBinaryBody } from '../../src/inference/codecs/oip.ts'
import { fromOrtTensor, toOrtTensor } from '../../src/inference/ortTensor.ts'
import { SessionCache } from '../../src/inference/sessionCache.ts'
import { startScript } from '../../test/helpers/processes.ts'

export interface BareInferenceServer {
  url: string
  pid: number
  stop: () => Promise<void>
}

/** Starts the server process for the ONNX file `modelFile` on a free loopback port. */
export async function startBareInferenceServer (modelFile: string): Promise<BareInferenceServer> {
  const { info, process: child, kill } = await startScript<{ port: number }>(fileURLToPath(import.meta.url), [modelFile])
  return { url: `http://127.0.0.1:${info.port}`, pid: child.pid!, stop: kill }
}

async function serve (modelFile: string): Promise<void> {
  const sessions = new SessionCache()
  const session = await sessions.get('model', async () => await fs.readFile(modelFile))
  // One reused body buffer, as the node's pool gives one per call.
  let body = Buffer.allocUnsafeSlow(1024 * 1024)
  const server = http.createServer((request, response) => {
    const length = Number(request.headers['content-length'])
    if (length > body.length) body = Buffer.allocUnsafeSlow(length)
    let received = 0
    request.on('data', (chunk: Buffer) => {
      chunk.copy(body, received)
      received += chunk.length
    })
    request.on('end', () => {
      void (async () => {
        const { json, binary } = splitBinaryBody(body.subarray(0, received), Number(request.headers[OIP_HEADER_LENGTH_HEADER]))
        const decoded = decodeOipRequest(json, binary)
        const feeds = Object.fromEntries(decoded.inputs.map(tensor => [tensor.name, toOrtTensor(tensor)]))
        const results = await session.run(feeds)
        const outputs = session.outputNames.map(name => fromOrtTensor(name, results[name]))
        const encoded = joinBinaryBody(encodeOipResponse({ modelName: 'model', outputs, binaryOutputs: decoded.binaryOutputs, binaryByDefault: decoded.binaryByDefault }))
        response.writeHead(200, { 'content-type': 'application/octet-stream', [OIP_HEADER_LENGTH_HEADER]: String(encoded.headerLength), 'content-length': String(encoded.body.byteLength) })
        response.end(encoded.body)
      })().catch((err: Error) => {
        response.writeHead(500, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ error: err.message }))
      })
    })
  })
  server.listen(0, '127.0.0.1', () => {
    const address = server.address()
    process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address != null ? address.port : null })}\n`)
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await serve(process.argv[2])
