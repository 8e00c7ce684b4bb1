import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { createClient, type MyceliumClient } from './createClient.ts'
import { ApiError, NodeNotRunningError } from './errors.ts'

interface Seen { url: string, headers: http.IncomingHttpHeaders, body: Buffer, socket: unknown }

describe('createClient().infer', () => {
  let server: http.Server
  let client: MyceliumClient
  let base: string
  const seen: Seen[] = []
  const header = Buffer.from('{"outputs":[]}'.padEnd(16, ' '))

  before(async () => {
    server = http.createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        seen.push({ url: request.url!, headers: request.headers, body: Buffer.concat(chunks), socket: request.socket })
        const path = new URL(request.url!, 'http://x').pathname
        if (path.includes('bad')) {
          response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'input "x" expects float32' }))
        } else if (path.includes('plain')) {
          response.writeHead(500).end('boom')
        } else if (path.includes('json')) {
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ outputs: [1] }))
        } else if (path.includes('slow')) {
          response.writeHead(200, { 'inference-header-content-length': String(header.length) })
          response.write(header) // and the rest never comes
        } else {
          // Header and tensor data in several writes: the client must gather them, tensor data aligned.
          response.writeHead(200, { 'inference-header-content-length': String(header.length), 'x-mycelium-provider': 'peer', 'x-mycelium-receipt': '0xabc' })
          response.write(header)
          setImmediate(() => response.end(Buffer.from(new Float32Array([1, 2, 3]).buffer)))
        }
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    client = await createClient({ apiUrl: base, token: 'secret' })
  })
  after(() => {
    server.closeAllConnections()
    server.close()
  })

  test('sends the body and headers as given, returns the JSON header and the tensor data, on one kept-alive connection', async () => {
    const body = new Uint8Array(200 * 1024).map((_, i) => i % 251)
    const first = await client.infer('acme/m', '1.0.0', { body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': '8' } }, { remote: true, peer: 'P' })
    assert.deepEqual(first.json, { outputs: [] })
    assert.equal(first.binary!.byteOffset % 4, 0, 'tensor data aligned')
    assert.deepEqual([...new Float32Array(first.binary!.buffer, first.binary!.byteOffset, 3)], [1, 2, 3])
    assert.equal(first.provider, 'peer')
    assert.equal(first.receipt, '0xabc')
    const request = seen.at(-1)!
    assert.equal(request.url, '/v2/models/acme%2Fm/versions/1.0.0/infer?remote=1&peer=P')
    assert.ok(request.body.equals(body))
    assert.equal(request.headers['content-length'], String(body.byteLength))
    assert.equal(request.headers['content-type'], 'application/octet-stream')
    assert.equal(request.headers['inference-header-content-length'], '8')
    assert.equal(request.headers.authorization, undefined, 'OIP calls carry no API token')

    const second = await client.infer('m', undefined, { body: '{"inputs":[]}', headers: {} })
    assert.deepEqual(second.json, { outputs: [] })
    assert.equal(seen.at(-1)!.headers['content-type'], 'text/plain;charset=UTF-8', 'as fetch sends a string')
    assert.equal(seen.at(-1)!.socket, request.socket, 'the connection is reused')

    assert.deepEqual(await client.infer('json', undefined, { body: '{}', headers: { 'content-type': 'application/json' } }), { json: { outputs: [1] }, provider: undefined, receipt: undefined })
  })

  test('errors: the node\'s message, the status line, no node, an abort', async () => {
    await assert.rejects(client.infer('bad', undefined, { body: '{}', headers: {} }), (err: any) => {
      assert.ok(err instanceof ApiError)
      assert.deepEqual([err.status, err.code, err.message], [400, 'HTTP_400', 'input "x" expects float32'])
      return true
    })
    await assert.rejects(client.infer('plain', undefined, { body: '{}', headers: {} }), (err: any) => err instanceof ApiError && err.status === 500 && err.message === 'inference failed with HTTP 500')

    const nowhere = await createClient({ apiUrl: 'http://127.0.0.1:1', token: 'x' })
    await assert.rejects(nowhere.infer('m', undefined, { body: '{}', headers: {} }), NodeNotRunningError)
    await assert.rejects(client.infer('m', undefined, { body: '{}', headers: {} }, { signal: AbortSignal.abort() }), NodeNotRunningError)

    // Cut short once the answer has begun: the abort itself, as fetch reports it.
    const controller = new AbortController()
    const call = client.infer('slow', undefined, { body: '{}', headers: {} }, { signal: controller.signal })
    setTimeout(() => { controller.abort() }, 100)
    await assert.rejects(call, (err: any) => err.name === 'AbortError')
  })
})
