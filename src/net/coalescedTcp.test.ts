import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { describe, it } from 'node:test'
import { Uint8ArrayList } from 'uint8arraylist'
import { coalesceWrites } from './coalescedTcp.ts'

interface FakeConnection { socket: net.Socket, sendData: (data: Uint8ArrayList) => { sentBytes: number, canSendMore: boolean } }

async function socketPair (): Promise<{ client: net.Socket, server: net.Socket, close: () => void }> {
  const listener = net.createServer()
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const { port } = listener.address() as net.AddressInfo
  const accepted = once(listener, 'connection')
  const client = net.connect(port, '127.0.0.1')
  await once(client, 'connect')
  const [server] = await accepted as [net.Socket]
  return { client, server, close: () => { client.destroy(); server.destroy(); listener.close() } }
}

describe('coalesceWrites', () => {
  it('writes all of each batch, in order, and says to wait while the socket is backed up', async () => {
    const { client, server, close } = await socketPair()
    try {
      const received: Buffer[] = []
      server.pause()
      server.on('data', chunk => received.push(chunk))
      const conn: FakeConnection = { socket: client, sendData: () => { throw new Error('not replaced') } }
      coalesceWrites(conn as any)
      const sent: Buffer[] = []
      let canSendMore = true
      // Far more than the socket buffers hold while the other end does not read.
      for (let i = 0; i < 200 && canSendMore; i++) {
        const pieces = [randomBytes(2), randomBytes(65_519), randomBytes(16)]
        sent.push(...pieces)
        const result = conn.sendData(new Uint8ArrayList(...pieces))
        assert.equal(result.sentBytes, 65_537)
        canSendMore = result.canSendMore
      }
      assert.equal(canSendMore, false, 'a peer that does not read backs the socket up')
      const drained = once(client, 'drain')
      server.resume()
      await drained
      const total = Buffer.concat(sent)
      while (received.reduce((sum, chunk) => sum + chunk.length, 0) < total.length) await once(server, 'data')
      assert.ok(Buffer.concat(received).equals(total))
    } finally {
      close()
    }
  })

  it('leaves connections that are not TCP sockets alone', () => {
    const sendData = (): { sentBytes: number, canSendMore: boolean } => ({ sentBytes: 0, canSendMore: true })
    const conn = { socket: undefined, sendData }
    coalesceWrites(conn as any)
    assert.equal(conn.sendData, sendData)
  })
})
