import { Type } from '@sinclair/typebox'
import { API_PREFIX } from '../constants.ts'
import { RefParams, withErrors } from '../schemas.ts'
import type { ApiComponents } from '../createApiServer.ts'
import type { FastifyInstance } from 'fastify'

const Served = Type.Object({ cid: Type.String(), name: Type.String(), version: Type.String(), price: Type.String(), maxConcurrency: Type.Integer(), since: Type.String() })
const Provider = Type.Object({ peerId: Type.String(), price: Type.String(), source: Type.String() })

/** Inference as a network service: what this node serves, and who serves a model. */
export async function serviceRoutes (app: FastifyInstance, { components }: { components: ApiComponents }): Promise<void> {
  const { inference } = components

  app.get(`${API_PREFIX}/services`, {
    schema: { tags: ['inference'], summary: 'Versions this node serves inference on', response: withErrors({ 200: Type.Object({ services: Type.Array(Served) }) }) }
  }, async () => ({ services: inference.served() }))

  app.post<{ Body: { ref: string, price?: string, maxConcurrency?: number } }>(`${API_PREFIX}/services`, {
    schema: {
      tags: ['inference'],
      summary: 'Serve inference on a stored version to the network (price in whole tokens per call)',
      security: [{ apiToken: [] }],
      body: Type.Object({ ref: Type.String(), price: Type.Optional(Type.String()), maxConcurrency: Type.Optional(Type.Integer()) }, { additionalProperties: false }),
      response: withErrors({ 200: Served })
    }
  }, async request => await inference.serve(request.body))

  app.delete<{ Params: { ref: string } }>(`${API_PREFIX}/services/:ref`, {
    schema: { tags: ['inference'], summary: 'Stop serving a version', security: [{ apiToken: [] }], params: RefParams, response: withErrors({ 200: Type.Object({ removed: Type.Boolean() }) }) }
  }, async request => ({ removed: inference.unserve(request.params.ref) }))

  app.get<{ Params: { ref: string } }>(`${API_PREFIX}/providers/:ref`, {
    schema: { tags: ['inference'], summary: 'Peers that serve inference on a version, cheapest first', params: RefParams, response: withErrors({ 200: Type.Object({ providers: Type.Array(Provider) }) }) }
  }, async request => ({ providers: await inference.providers(request.params.ref) }))
}
