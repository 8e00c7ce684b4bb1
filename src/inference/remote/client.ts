import { lpStream } from '@libp2p/utils'
import { BaseError } from '../../errors.ts'
import { MalformedMessageError } from '../../net/fetch/messages.ts'
import { decodeOipResponse, encodeOipRequest } from '../codecs/oip.ts'
import { INFER_MAX_RESPONSE_BYTES, INFER_PROTOCOL, INFER_REQUEST_TIMEOUT_MS } from '../constants.ts'
import { encodeJson, type InferEnvelope, type InferReply, type ServiceInfo } from './messages.ts'
import type { Tensor } from '../tensor.ts'
import type { AbortOptions, Libp2p, PeerId } from '@libp2p/interface'

/** An error the provider answered with; 4xx means the request itself was wrong (no point retrying elsewhere). */
export class RemoteInferenceError extends BaseError {
  override name = 'RemoteInferenceError'
  constructor (peer: PeerId, status: number, message: string) {
    super(message, { status, code: status < 500 ? 'REMOTE_BAD_REQUEST' : 'REMOTE_FAILED', details: `provider ${peer.toString()}` })
  }
}

export interface RemoteInferParameters extends AbortOptions {
  model: string
  inputs: readonly Tensor[]
  outputs?: readonly string[]
  file?: string
}

async function exchange (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, envelope: InferEnvelope, binary: Uint8Array[], options: AbortOptions): Promise<{ reply: InferReply, binary: Uint8Array }> {
  const signal = AbortSignal.any([AbortSignal.timeout(INFER_REQUEST_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
  const stream = await libp2p.dialProtocol(peer, INFER_PROTOCOL, { signal })
  try {
    const lp = lpStream(stream, { maxDataLength: INFER_MAX_RESPONSE_BYTES })
    const payload = new Uint8Array(binary.reduce((sum, chunk) => sum + chunk.length, 0))
    let offset = 0
    for (const chunk of binary) {
      payload.set(chunk, offset)
      offset += chunk.length
    }
    await lp.writeV([encodeJson(envelope), payload], { signal })
    const header = (await lp.read({ signal })).subarray()
    const data = (await lp.read({ signal })).subarray()
    await stream.close({ signal })
    let reply: InferReply
    try {
      reply = JSON.parse(new TextDecoder().decode(header))
    } catch {
      throw new MalformedMessageError('the provider answered with malformed JSON')
    }
    return { reply, binary: data }
  } catch (err: any) {
    stream.abort(err)
    throw err
  }
}

/** Runs one inference on `peer` over `/mycelium/infer/1.0.0`. */
export async function requestRemoteInference (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, { model, inputs, outputs, file, signal }: RemoteInferParameters): Promise<{ modelName: string, modelVersion?: string, outputs: Tensor[] }> {
  const encoded = encodeOipRequest(inputs, { binary: true, ...(outputs != null ? { outputs: [...outputs] } : {}), ...(file != null ? { parameters: { file } } : {}) })
  const { reply, binary } = await exchange(libp2p, peer, { op: 'infer', model, request: encoded.json }, encoded.binary, { signal })
  if (!reply.ok) throw new RemoteInferenceError(peer, reply.status, reply.error)
  if (!('response' in reply)) throw new MalformedMessageError('the provider answered without a response')
  return decodeOipResponse(reply.response, binary)
}

export async function requestServiceInfo (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, model: string, options: AbortOptions = {}): Promise<ServiceInfo> {
  const { reply } = await exchange(libp2p, peer, { op: 'info', model }, [], options)
  if (!reply.ok || !('info' in reply)) throw new MalformedMessageError('the provider answered without service info')
  return reply.info
}
