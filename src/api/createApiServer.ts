import { timingSafeEqual } from 'node:crypto'
import multipart from '@fastify/multipart'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { BaseError } from '../errors.ts'
import { logger } from '../utils/logger.ts'
import { API_PREFIX, CAR_CONTENT_TYPE, LOOPBACK_ADDRESSES, MAX_METADATA_BYTES } from './constants.ts'
import { ErrorBody } from './schemas.ts'
import { modelRoutes } from './routes/models.ts'
import { nodeRoutes } from './routes/node.ts'
import { networkRoutes } from './routes/network.ts'
import { gatewayRoutes } from './routes/gateway.ts'
import { oipRoutes } from './routes/oip.ts'
import { serviceRoutes } from './routes/services.ts'
import { ledgerRoutes } from './routes/ledger.ts'
import type { FederatedService } from '../federated/rounds/createFederatedService.ts'
import { auditRoutes } from './routes/audit.ts'
import { federatedRoutes } from './routes/federated.ts'
import type { Identity } from '../identity/identity.ts'
import type { InferenceService } from '../inference/createInferenceService.ts'
import type { LedgerService } from '../ledger/createLedgerService.ts'
import type { LicenceGate } from '../market/licenceGate.ts'
import type { ReceiptBook } from '../market/receiptBook.ts'
import type { Payments } from '../market/payments.ts'
import type { Host } from '../net/createNetwork.ts'
import type { FollowService, FollowServiceComponents } from '../registry/followService.ts'

const log = logger('api')

export interface ApiComponents {
  registry: FollowServiceComponents
  follows: Pick<FollowService, 'follow' | 'unfollow' | 'list'>
  identity: Identity
  /** The libp2p host, which exists once the node started. */
  host: () => Pick<Host, 'getMultiaddrs' | 'getConnections' | 'dial'>
  home: string
  pullTimeoutMs: number
  ledger: LedgerService
  /** Re-reads listings after a change, so a new listing is enforced at once. */
  licences: Pick<LicenceGate, 'refresh'>
  receipts: Pick<ReceiptBook, 'get' | 'ofModel' | 'anchor' | 'document' | 'inferenceOf'>
  payments: Pick<Payments, 'claimAll' | 'channels'>
  networkId: string
  inference: Pick<InferenceService, 'run' | 'resolveModel' | 'runRemote' | 'serve' | 'unserve' | 'served' | 'providers'>
  federated: Pick<FederatedService, 'open' | 'join' | 'list' | 'status' | 'rounds' | 'results' | 'events'>
  apiToken: string
  apiUrl: () => string | undefined
}

export interface ApiServer {
  app: FastifyInstance
  listen: (options: { host: string, port: number }) => Promise<string>
  close: () => Promise<void>
}

export class UnauthorizedError extends BaseError {
  override name = 'UnauthorizedError'
  constructor (reason: string) {
    super(`Unauthorized: ${reason}.`, {
      code: 'UNAUTHORIZED',
      status: 401,
      hint: 'Send `Authorization: Bearer <token>` with the token from the node home\'s `api-token` file (the `myc` CLI does this for you).'
    })
  }
}

function tokenMatches (header: string | undefined, token: string): boolean {
  const given = header?.startsWith('Bearer ') === true ? header.slice(7).trim() : undefined
  if (given == null) return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The one HTTP API: the CLI, the dashboard and the SDK all go through it. */
export async function createApiServer (components: ApiComponents): Promise<ApiServer> {
  const app = Fastify({ logger: false, bodyLimit: MAX_METADATA_BYTES, forceCloseConnections: false, return503OnClosing: true })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Mycelium node API', version: '0.1.0', description: 'Writes need `Authorization: Bearer <api-token>`; reads from 127.0.0.1 do not.' },
      components: { securitySchemes: { apiToken: { type: 'http', scheme: 'bearer' } } }
    }
  })
  await app.register(multipart, { preservePath: true, limits: { fields: 4, fieldSize: MAX_METADATA_BYTES, fileSize: Number.MAX_SAFE_INTEGER, files: 10_000, parts: 10_004 } })
  app.addSchema(ErrorBody)
  // Binary uploads are streamed by the route from `request.raw`, never buffered here.
  app.addContentTypeParser([CAR_CONTENT_TYPE, 'application/octet-stream'], (_request, _payload, done) => { done(null) })

  app.addHook('onRequest', async request => {
    const isRead = request.method === 'GET' || request.method === 'HEAD'
    const isLoopback = LOOPBACK_ADDRESSES.has(request.socket.remoteAddress ?? '')
    // Clients of standard protocols send no token: OIP (inference), JSON-RPC (wallets accept only
    // signed transactions), and the dev faucet for nodes joining this node's chain.
    const isOpenProtocol = request.url.startsWith('/v2/') || request.url === '/rpc' || request.url === `${API_PREFIX}/chain/faucet`
    if ((isRead || isOpenProtocol) && isLoopback) return
    if (!tokenMatches(request.headers.authorization, components.apiToken)) {
      throw new UnauthorizedError(request.headers.authorization == null ? 'this request needs the API token' : 'wrong API token')
    }
  })

  app.setErrorHandler((error: FastifyError | BaseError, request, reply) => {
    if (error instanceof BaseError) {
      if (error.status >= 500) log.error('%s %s: %s', request.method, request.url, error.message)
      return reply.status(error.status).send(error.toJSON())
    }
    const fastifyError = error as FastifyError
    if (fastifyError.validation != null) {
      return reply.status(400).send({ error: 'InvalidRequest', code: 'INVALID_REQUEST', message: `Invalid request: ${fastifyError.message}` })
    }
    const status = fastifyError.statusCode != null && fastifyError.statusCode >= 400 ? fastifyError.statusCode : 500
    if (status >= 500) log.error('%s %s failed: %s', request.method, request.url, fastifyError.stack)
    return reply.status(status).send({ error: fastifyError.name ?? 'Error', code: fastifyError.code ?? 'INTERNAL', message: fastifyError.message })
  })

  await app.register(nodeRoutes, { components })
  await app.register(modelRoutes, { components })
  await app.register(networkRoutes, { components })
  await app.register(gatewayRoutes, { components })
  await app.register(oipRoutes, { components })
  await app.register(serviceRoutes, { components })
  await app.register(ledgerRoutes, { components })
  await app.register(auditRoutes, { components })
  await app.register(federatedRoutes, { components })

  return {
    app,
    async listen ({ host, port }) {
      const address = await app.listen({ host, port })
      // Fastify reports the first bound address, which may be IPv6 for "localhost".
      return address.replace('[::1]', '127.0.0.1')
    },
    async close () {
      await app.close()
    }
  }
}
