import { Type } from '@sinclair/typebox'
import { API_PREFIX } from '../constants.ts'
import { NodeId } from '../schemas.ts'
import type { ApiComponents } from '../createApiServer.ts'
import type { FastifyInstance } from 'fastify'

export async function nodeRoutes (app: FastifyInstance, { components }: { components: ApiComponents }): Promise<void> {
  app.get('/health', {
    schema: { tags: ['node'], summary: 'Liveness', response: { 200: Type.Object({ status: Type.Literal('ok'), peerId: Type.String() }) } }
  }, async () => ({ status: 'ok' as const, peerId: components.identity.peerId.toString() }))

  app.get(`${API_PREFIX}/id`, {
    schema: { tags: ['node'], summary: 'The node identity: PeerId, EVM address, API URL and listen addresses', response: { 200: NodeId } }
  }, async () => ({
    peerId: components.identity.peerId.toString(),
    address: components.identity.address,
    apiUrl: components.apiUrl() ?? '',
    multiaddrs: components.host().getMultiaddrs().map(ma => ma.toString()),
    home: components.home
  }))

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}
