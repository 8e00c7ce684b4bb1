import { Type } from '@sinclair/typebox'
import { InvalidInputError } from '../../errors.ts'
import { INFER_BODY_POOL_BUFFERS, INFER_BODY_POOL_MAX_BYTES, MAX_JSON_BODY_BYTES } from '../../inference/constants.ts'
import { decodeOipRequest, encodeOipError, encodeOipModelMetadata, encodeOipResponse, joinBinaryBody, OIP_EXTENSIONS, OIP_HEADER_LENGTH_HEADER, splitBinaryBody } from '../../inference/codecs/oip.ts'
import { selectOnnxFile } from '../../inference/runInference.ts'
import { BodyBufferPool } from '../bodyBufferPool.ts'
import type { ApiComponents } from '../createApiServer.ts'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

interface ModelParams { name: string, version?: string }

export const REMOTE_HEADER = 'x-mycelium-remote'
export const PROVIDER_HEADER = 'x-mycelium-provider'
/** The hash of the receipt both sides signed for a remote call. */
export const RECEIPT_HEADER = 'x-mycelium-receipt'

const refOf = ({ name, version }: ModelParams): string => version != null ? `${name}@${version}` : name

/**
 * The Open Inference Protocol (KServe v2 REST), so Triton, KServe and Seldon clients work against a
 * node unchanged. Model names with a namespace are URL-encoded (`acme%2Fmlp`). Errors are `{ error }`.
 */
export async function oipRoutes (app: FastifyInstance, { components }: { components: ApiComponents }): Promise<void> {
  const { inference } = components
  const oip = <R extends FastifyRequest<any>>(handler: (request: R, reply: FastifyReply) => Promise<unknown>) => async (request: R, reply: FastifyReply) => {
    try {
      return await handler(request, reply)
    } catch (err) {
      const { status, body } = encodeOipError(err)
      return await reply.status(status).send(body)
    }
  }

  app.get('/v2', { schema: { tags: ['inference'], summary: 'OIP server metadata' } }, async () => ({ name: 'mycelium', version: '0.1.0', extensions: OIP_EXTENSIONS }))
  app.get('/v2/health/live', { schema: { tags: ['inference'], summary: 'OIP server liveness' } }, async () => ({ live: true }))
  app.get('/v2/health/ready', { schema: { tags: ['inference'], summary: 'OIP server readiness' } }, async () => ({ ready: true }))

  const metadata = oip(async (request: FastifyRequest<{ Params: ModelParams }>) => {
    const model = await inference.resolveModel(refOf(request.params), {})
    const file = selectOnnxFile(model)
    const versions = components.registry.index.versionsOf(model.name).map(v => v.version)
    return encodeOipModelMetadata({ name: model.name, versions, inputs: file.format.inputs, outputs: file.format.outputs })
  })
  app.get('/v2/models/:name', { schema: { tags: ['inference'], summary: 'OIP model metadata (newest version)' } }, metadata)
  app.get('/v2/models/:name/versions/:version', { schema: { tags: ['inference'], summary: 'OIP model metadata' } }, metadata)

  const ready = oip(async (request: FastifyRequest<{ Params: ModelParams }>) => {
    const model = await inference.resolveModel(refOf(request.params), {})
    selectOnnxFile(model)
    return { name: model.name, ready: true }
  })
  app.get('/v2/models/:name/ready', { schema: { tags: ['inference'], summary: 'OIP model readiness' } }, ready)
  app.get('/v2/models/:name/versions/:version/ready', { schema: { tags: ['inference'], summary: 'OIP model readiness' } }, ready)

  const bodies = new BodyBufferPool({ maxBuffers: INFER_BODY_POOL_BUFFERS, maxBufferBytes: INFER_BODY_POOL_MAX_BYTES })
  const infer = oip(async (request: FastifyRequest<{ Params: ModelParams, Querystring: { remote?: string, peer?: string } }>, reply) => {
    const { json, binary, release } = await readInferBody(request, bodies)
    // The decoded tensors may be views on a pooled buffer: it goes back once the answer is out of our hands.
    try {
      const decoded = decodeOipRequest(json, binary)
      // `?remote=1` (or the header) sends the request to a provider on the network instead.
      const remote = request.query.remote === '1' || request.query.remote === 'true' || request.headers[REMOTE_HEADER] === '1' || request.query.peer != null
      const parameters = { ref: refOf(request.params), inputs: decoded.inputs, outputs: decoded.outputs, file: decoded.file }
      const result = remote
        ? await (async () => {
          const answer = await inference.runRemote({ ...parameters, peer: request.query.peer })
          void reply.header(PROVIDER_HEADER, answer.provider).header(RECEIPT_HEADER, answer.receiptHash)
          return { model: { name: answer.modelName, version: answer.modelVersion }, outputs: answer.outputs }
        })()
        : await inference.run(parameters)
      const encoded = encodeOipResponse({
        modelName: result.model.name,
        modelVersion: result.model.version,
        id: decoded.id,
        outputs: result.outputs,
        binaryOutputs: decoded.binaryOutputs,
        binaryByDefault: decoded.binaryByDefault
      })
      if (encoded.binary.length === 0) return encoded.json
      const { body, headerLength } = joinBinaryBody(encoded)
      return await reply.header('content-type', 'application/octet-stream').header(OIP_HEADER_LENGTH_HEADER, headerLength).send(Buffer.from(body.buffer, body.byteOffset, body.byteLength))
    } finally {
      release()
    }
  })
  const inferSchema = {
    tags: ['inference'],
    summary: 'OIP inference request (JSON, or JSON + binary tensor data); ?remote=1 (or x-mycelium-remote: 1) runs it on a provider on the network, ?peer=ID on that one',
    body: Type.Any(),
    querystring: Type.Object({ remote: Type.Optional(Type.String()), peer: Type.Optional(Type.String()) })
  }
  app.post('/v2/models/:name/infer', { schema: inferSchema, bodyLimit: MAX_JSON_BODY_BYTES }, infer)
  app.post('/v2/models/:name/versions/:version/infer', { schema: inferSchema, bodyLimit: MAX_JSON_BODY_BYTES }, infer)
}

/** JSON bodies are parsed by fastify; binary-extension bodies arrive as a raw stream. */
const NOTHING_TO_RELEASE = (): void => {}

async function readInferBody (request: FastifyRequest, bodies: BodyBufferPool): Promise<{ json: unknown, binary?: Uint8Array, release: () => void }> {
  const headerLength = request.headers[OIP_HEADER_LENGTH_HEADER]
  if (headerLength == null) {
    if (request.body == null) throw new InvalidInputError('The inference request has no body.')
    return { json: request.body, release: NOTHING_TO_RELEASE }
  }
  const declared = Number(request.headers['content-length'])
  if (declared > MAX_JSON_BODY_BYTES) throw tooLarge()
  if (Number.isSafeInteger(declared) && declared > 0) {
    const { buffer, release } = bodies.acquire(declared)
    try {
      let received = 0
      for await (const chunk of request.raw as AsyncIterable<Buffer>) {
        if (received + chunk.length > declared) throw new InvalidInputError(`The request body is longer than its Content-Length (${declared} bytes).`)
        chunk.copy(buffer, received)
        received += chunk.length
      }
      return { ...splitBinaryBody(buffer.subarray(0, received), Number(headerLength)), release }
    } catch (err) {
      release()
      throw err
    }
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request.raw) {
    size += chunk.length
    if (size > MAX_JSON_BODY_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  return { ...splitBinaryBody(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), Number(headerLength)), release: NOTHING_TO_RELEASE }
}

function tooLarge (): InvalidInputError {
  return new InvalidInputError(`The request exceeds ${MAX_JSON_BODY_BYTES} bytes.`, { status: 413, code: 'REQUEST_TOO_LARGE' })
}
