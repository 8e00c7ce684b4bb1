import net from 'node:net'
import type { CreateListenerOptions, DialTransportOptions, MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

interface SendResult { sentBytes: number, canSendMore: boolean }
interface TcpConnection { socket?: unknown, sendData?: (data: Iterable<Uint8Array> & { byteLength: number }) => SendResult }

/**
 * libp2p-noise hands the TCP connection each 64 KiB frame as three buffers (2-byte length,
 * ciphertext, tag) and @libp2p/tcp writes every buffer with its own `socket.write`: with Nagle off,
 * that is three syscalls and three TCP segments per frame, for the sender and the receiver alike.
 * Corked, Node writes everything one `sendData` gets (the frames of one muxer message) in a single
 * `writev`. Backpressure is unchanged: the connection waits for the socket's `drain` whenever the
 * socket's buffer is over its high-water mark, as before.
 */
export function coalesceWrites (maConn: MultiaddrConnection): MultiaddrConnection {
  const conn = maConn as unknown as TcpConnection
  const socket = conn.socket
  if (!(socket instanceof net.Socket) || typeof conn.sendData !== 'function') return maConn
  conn.sendData = (data) => {
    socket.cork()
    try {
      for (const buf of data) socket.write(buf)
    } finally {
      socket.uncork()
    }
    // What the kernel did not take at once waits in the socket: more only while that is little.
    return { sentBytes: data.byteLength, canSendMore: socket.writableLength < socket.writableHighWaterMark }
  }
  return maConn
}

function coalescingUpgrader (upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get (target, property, receiver) {
      if (property === 'upgradeOutbound') return async (maConn: MultiaddrConnection, opts: any) => await target.upgradeOutbound(coalesceWrites(maConn), opts)
      if (property === 'upgradeInbound') return async (maConn: MultiaddrConnection, opts: any) => { await target.upgradeInbound(coalesceWrites(maConn), opts) }
      const value = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/** Wraps @libp2p/tcp so that its connections write each batch of buffers at once (see coalesceWrites). */
export function withCoalescedWrites<T extends (components: any) => Transport> (factory: T): T {
  return ((components: any) => {
    const transport = factory(components)
    return new Proxy(transport, {
      get (target, property, receiver) {
        if (property === 'dial') return async (ma: Multiaddr, options: DialTransportOptions) => await target.dial(ma, { ...options, upgrader: coalescingUpgrader(options.upgrader) })
        if (property === 'createListener') return (options: CreateListenerOptions) => target.createListener({ ...options, upgrader: coalescingUpgrader(options.upgrader) })
        const value = Reflect.get(target, property, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      }
    })
  }) as T
}
