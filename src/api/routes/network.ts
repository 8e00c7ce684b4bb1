import { Readable } from 'node:stream'
import { multiaddr } from '@multiformats/multiaddr'
import { Type } from '@sinclair/typebox'
import { BaseError, InvalidInputError } from '../../errors.ts'
import { addressFromPeerId } from '../../identity/identity.ts'
import { pullModel, type PullProgress } from '../../registry/pullModel.ts'
import { API_PREFIX } from '../constants.ts'
import { Manifest, withErrors } from '../schemas.ts'
import { fetchManifest } from '../../registry/fetchManifest.ts'
import { manifestToJson } from '../../manifest/manifest.ts'
import type { ApiComponents } from '../createApiServer.ts'
import type { FastifyInstance } from 'fastify'

const Peer = Type.Object({ peerId: Type.String(), address: Type.Optional(Type.String()), addrs: Type.Array(Type.String()), direction: Type.String() })
const Follow = Type.Object({ name: Type.String(), author: Type.Optional(Type.String()), since: Type.String() })
const PullBody = Type.Object({
  ref: Type.String({ description: 'A manifest CID, name@version, or name (newest version)' }),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
  allowUnregistered: Type.Optional(Type.Boolean({ description: 'Accept a version the on-chain registry does not hold' }))
}, { additionalProperties: false })

export type PullEvent = PullProgress | { type: 'done', cid: string, name: string, version: string, fetched: boolean } | { type: 'error', error: string, code: string, message: string, hint?: string, details?: string }

export async function networkRoutes (app: FastifyInstance, { components }: { components: ApiComponents }): Promise<void> {
  app.get(`${API_PREFIX}/peers`, {
    schema: { tags: ['network'], summary: 'Connected peers', response: withErrors({ 200: Type.Object({ peers: Type.Array(Peer) }) }) }
  }, async () => ({
    peers: components.host().getConnections().map(connection => ({
      peerId: connection.remotePeer.toString(),
      address: connection.remotePeer.type === 'secp256k1' ? addressFromPeerId(connection.remotePeer) : undefined,
      addrs: [connection.remoteAddr.toString()],
      direction: connection.direction
    }))
  }))

  app.post<{ Body: { multiaddr: string } }>(`${API_PREFIX}/peers/connect`, {
    schema: {
      tags: ['network'],
      summary: 'Dial a peer',
      security: [{ apiToken: [] }],
      body: Type.Object({ multiaddr: Type.String() }, { additionalProperties: false }),
      response: withErrors({ 200: Type.Object({ peerId: Type.String() }) })
    }
  }, async request => {
    let address
    try {
      address = multiaddr(request.body.multiaddr)
    } catch (err: any) {
      throw new InvalidInputError(`Invalid multiaddr "${request.body.multiaddr}": ${err.message}`, { hint: 'e.g. /ip4/127.0.0.1/tcp/7711/p2p/16Uiu2…' })
    }
    try {
      const connection = await components.host().dial(address, { signal: AbortSignal.timeout(10_000) })
      return { peerId: connection.remotePeer.toString() }
    } catch (err: any) {
      throw new BaseError(`Could not connect to ${request.body.multiaddr}: ${err.message}`, { code: 'DIAL_FAILED', status: 502, hint: 'Check that the peer runs and the address (and its /p2p/ id) is right.' })
    }
  })

  app.post<{ Body: { ref: string, timeoutMs?: number, allowUnregistered?: boolean } }>(`${API_PREFIX}/pull`, {
    schema: {
      tags: ['network'],
      summary: 'Fetch a version from the network; streams progress events as JSON lines, the last one `done` or `error`',
      security: [{ apiToken: [] }],
      body: PullBody,
      produces: ['application/x-ndjson']
    }
  }, async (request, reply) => {
    const controller = new AbortController()
    const events: PullEvent[] = []
    let wake: (() => void) | undefined
    let finished = false
    const push = (event: PullEvent): void => {
      events.push(event)
      wake?.()
    }
    void pullModel(components.registry, {
      ref: request.body.ref,
      timeoutMs: request.body.timeoutMs ?? components.pullTimeoutMs,
      ...(request.body.allowUnregistered != null ? { allowUnregistered: request.body.allowUnregistered } : {}),
      signal: controller.signal,
      onProgress: push
    }).then(({ cid, manifest, fetched }) => {
      push({ type: 'done', cid: cid.toString(), name: manifest.name, version: manifest.version, fetched })
    }, err => {
      push(err instanceof BaseError ? { type: 'error', ...err.toJSON() } : { type: 'error', error: 'Error', code: 'INTERNAL', message: err.message })
    }).finally(() => { finished = true; wake?.() })

    async function * lines (): AsyncGenerator<string> {
      while (true) {
        while (events.length > 0) yield JSON.stringify(events.shift()) + '\n'
        if (finished && events.length === 0) return
        await new Promise<void>(resolve => { wake = resolve })
      }
    }
    const body = Readable.from(lines())
    // A client that goes away (Ctrl-C) cancels the pull; verified blocks stay for the next try.
    reply.raw.once('close', () => { if (!finished) controller.abort(new Error('client disconnected')) })
    return await reply.header('content-type', 'application/x-ndjson').send(body)
  })

  app.get<{ Params: { ref: string } }>(`${API_PREFIX}/manifests/:ref`, {
    schema: {
      tags: ['network'],
      summary: 'A version\'s signed manifest, from this node or fetched alone from the network (no files)',
      params: Type.Object({ ref: Type.String() }),
      response: withErrors({ 200: Type.Object({ cid: Type.String(), local: Type.Boolean(), manifest: Manifest }) })
    }
  }, async request => {
    const { cid, manifest, local } = await fetchManifest(components.registry, request.params.ref, { timeoutMs: components.pullTimeoutMs })
    return { cid: cid.toString(), local, manifest: manifestToJson(manifest) }
  })

  app.get(`${API_PREFIX}/follows`, {
    schema: { tags: ['network'], summary: 'Followed model names', response: withErrors({ 200: Type.Object({ follows: Type.Array(Follow) }) }) }
  }, async () => ({ follows: components.follows.list() }))

  app.post<{ Body: { name: string } }>(`${API_PREFIX}/follows`, {
    schema: {
      tags: ['network'],
      summary: 'Follow a model: fetch every new version as soon as it is announced',
      security: [{ apiToken: [] }],
      body: Type.Object({ name: Type.String() }, { additionalProperties: false }),
      response: withErrors({ 200: Follow })
    }
  }, async request => await components.follows.follow(request.body.name))

  app.delete<{ Params: { name: string } }>(`${API_PREFIX}/follows/:name`, {
    schema: { tags: ['network'], summary: 'Stop following a model', security: [{ apiToken: [] }], params: Type.Object({ name: Type.String() }), response: withErrors({ 200: Type.Object({ removed: Type.Boolean() }) }) }
  }, async request => ({ removed: components.follows.unfollow(request.params.name) }))
}
