import { lpStream } from '@libp2p/utils'
import { BaseError } from '../../errors.ts'
import { logger } from '../../utils/logger.ts'
import { decodeOipRequest, encodeOipError, encodeOipResponse } from '../codecs/oip.ts'
import { INFER_MAX_QUEUED, INFER_MAX_REQUEST_BYTES, INFER_PROTOCOL, INFER_READ_TIMEOUT_MS } from '../constants.ts'
import { decodeEnvelope, encodeJson, type InferReply, type ServiceInfo } from './messages.ts'
import type { RunInferenceParameters, RunInferenceReturnType } from '../runInference.ts'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'

const log = logger('inference:remote:server')

export interface InferServerComponents {
  /** The service offered for a model CID, if this node serves it. */
  serviceFor: (model: string) => ServiceInfo | undefined
  run: (parameters: RunInferenceParameters & { peer: PeerId }) => Promise<RunInferenceReturnType>
}

/** Limits concurrent runs per served model; a full queue answers "busy" instead of piling up. */
class Gate {
  private running = 0
  private readonly queue: Array<() => void> = []
  async enter (limit: number): Promise<boolean> {
    if (this.running < limit) {
      this.running++
      return true
    }
    if (this.queue.length >= INFER_MAX_QUEUED) return false
    await new Promise<void>(resolve => this.queue.push(resolve))
    this.running++
    return true
  }

  leave (): void {
    this.running--
    this.queue.shift()?.()
  }
}

export async function registerInferHandler (libp2p: Pick<Libp2p, 'handle'>, components: InferServerComponents): Promise<void> {
  const gates = new Map<string, Gate>()
  await libp2p.handle(INFER_PROTOCOL, async (stream: Stream, connection: Connection) => {
    try {
      await serve(stream, connection.remotePeer, components, gates)
    } catch (err: any) {
      // Malformed or oversized: reset this stream, keep serving everyone else.
      log('resetting infer stream from %p: %s', connection.remotePeer, err.message)
      stream.abort(err)
    }
  }, { maxInboundStreams: 64 })
}

async function serve (stream: Stream, peer: PeerId, components: InferServerComponents, gates: Map<string, Gate>): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: INFER_MAX_REQUEST_BYTES })
  const signal = AbortSignal.timeout(INFER_READ_TIMEOUT_MS)
  const envelope = decodeEnvelope((await lp.read({ signal })).subarray())
  const binary = (await lp.read({ signal })).subarray()
  const reply = async (message: InferReply, data: Uint8Array[] = []): Promise<void> => {
    await lp.writeV([encodeJson(message), concat(data)])
    await stream.close()
  }
  const service = components.serviceFor(envelope.model)
  if (envelope.op === 'info') {
    await reply({ ok: true, info: service ?? { serving: false, price: '0', maxConcurrency: 0 } })
    return
  }
  if (service == null) {
    await reply({ ok: false, status: 404, error: `This node does not serve ${envelope.model}.` })
    return
  }
  let gate = gates.get(envelope.model)
  if (gate == null) {
    gate = new Gate()
    gates.set(envelope.model, gate)
  }
  if (!(await gate.enter(service.maxConcurrency))) {
    await reply({ ok: false, status: 503, error: 'The provider is busy; try another provider or later.' })
    return
  }
  try {
    const decoded = decodeOipRequest(envelope.request, binary)
    const result = await components.run({ ref: envelope.model, inputs: decoded.inputs, outputs: decoded.outputs, file: decoded.file, peer })
    const encoded = encodeOipResponse({ modelName: result.model.name, modelVersion: result.model.version, id: decoded.id, outputs: result.outputs, binaryByDefault: true })
    await reply({ ok: true, response: encoded.json }, encoded.binary)
  } catch (err) {
    if (!(err instanceof BaseError)) log.error('inference for %p failed: %s', peer, (err as Error).message)
    const { status, body } = encodeOipError(err)
    await reply({ ok: false, status, error: body.error })
  } finally {
    gate.leave()
  }
}

function concat (chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}
