import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { LengthPrefixedDecoder } from '@libp2p/utils'

/**
 * Two per-message costs of the libp2p 3 stack that small request/response protocols (inference
 * calls, FL hints) pay on every message, removed without changing anything on the wire's contract:
 *
 * 1. @chainsafe/libp2p-yamux answers every data frame it receives with a WINDOW_UPDATE frame: one
 *    more encrypted frame, one more `writev`, and one more wake-up of the peer per message — on the
 *    critical path of a call (the provider sends it before running the model). Like go-yamux, the
 *    update is sent once half the receive window is consumed; the sender then still has half a
 *    window to send, so nothing ever waits on it. Frames with flags (SYN, ACK) still go out at once.
 * 2. LengthPrefixedDecoder (Noise's framing, length-prefixed streams) learns that its buffer is
 *    empty from a RangeError its length decoder throws: a stack trace captured per message
 *    received. An empty buffer now reads as "not enough bytes" without a throw (any other short
 *    buffer still goes to the real decoder).
 *
 * Both patch the classes' prototypes once per process; the tests check them against the real classes.
 */
export function tuneStreams (): void {
  if (tuned) return
  tuned = true
  batchYamuxWindowUpdates()
  skipEmptyLengthDecodes()
}

let tuned = false

interface YamuxStreamInternals {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
  sendWindowUpdate: () => void
}

function batchYamuxWindowUpdates (): void {
  const prototype = YamuxStream.prototype as unknown as YamuxStreamInternals
  const sendWindowUpdate = prototype.sendWindowUpdate
  if (typeof sendWindowUpdate !== 'function') throw new Error('@chainsafe/libp2p-yamux changed: YamuxStream has no sendWindowUpdate to tune')
  prototype.sendWindowUpdate = function (this: YamuxStreamInternals) {
    if (this.state === StreamState.Established && this.recvWindowCapacity * 2 > this.recvWindow) return
    sendWindowUpdate.call(this)
  }
}

interface DecoderInternals {
  lengthDecoder: (data: { byteLength: number }) => number
  encodingLength: (length: number) => number
  decode: (buf: Uint8Array) => Generator<unknown>
}

const EMPTY_AWARE = Symbol('mycelium:emptyAwareLengthDecoder')

function skipEmptyLengthDecodes (): void {
  const prototype = LengthPrefixedDecoder.prototype as unknown as DecoderInternals
  const decode = prototype.decode
  if (typeof decode !== 'function') throw new Error('@libp2p/utils changed: LengthPrefixedDecoder has no decode to tune')
  prototype.decode = function (this: DecoderInternals & { [EMPTY_AWARE]?: boolean }, buf: Uint8Array) {
    if (this[EMPTY_AWARE] !== true) {
      this[EMPTY_AWARE] = true
      const lengthDecoder = this.lengthDecoder
      // Length 0 then needs at least encodingLength(0) > 0 bytes the empty buffer does not have: the loop stops.
      if (typeof lengthDecoder === 'function' && this.encodingLength(0) > 0) {
        this.lengthDecoder = (data) => data.byteLength === 0 ? 0 : lengthDecoder(data)
      }
    }
    return decode.call(this, buf)
  }
}
