import { Readable } from 'node:stream'
import { CarWriter } from '@ipld/car'
import { Type } from '@sinclair/typebox'
import { InvalidInputError } from '../../errors.ts'
import { BlockNotFoundError, parseCid } from '../../storage/blockstore.ts'
import { walkDag } from '../../storage/dag.ts'
import type { ApiComponents } from '../createApiServer.ts'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { CID } from 'multiformats/cid'

const RAW = 'application/vnd.ipld.raw'
const CAR = 'application/vnd.ipld.car'

/**
 * The IPFS trustless gateway (specs.ipfs.tech/http-gateways/trustless-gateway): blocks and CARs
 * of anything this node stores, so any IPFS client can fetch and verify our content.
 */
export async function gatewayRoutes (app: FastifyInstance, { components }: { components: ApiComponents }): Promise<void> {
  const { store } = components.registry

  app.get<{ Params: { cid: string }, Querystring: { format?: string, 'dag-scope'?: string } }>('/ipfs/:cid', {
    schema: {
      tags: ['gateway'],
      summary: 'Trustless gateway: a raw block (Accept: application/vnd.ipld.raw) or a CAR (application/vnd.ipld.car, or ?format=car)',
      params: Type.Object({ cid: Type.String() }),
      querystring: Type.Object({ format: Type.Optional(Type.String()), 'dag-scope': Type.Optional(Type.String()) })
    }
  }, async (request, reply) => {
    const cid = parseCid(request.params.cid)
    if (cid == null) throw new InvalidInputError(`"${request.params.cid}" is not a CID.`, { code: 'INVALID_CID' })
    const format = responseFormat(request.query.format, request.headers.accept)
    if (format == null) {
      return await reply.status(406).send({ error: 'NotAcceptable', code: 'NOT_ACCEPTABLE', message: 'This is a trustless gateway: ask for application/vnd.ipld.raw or application/vnd.ipld.car (or ?format=raw|car).' })
    }
    if (!(await store.has(cid))) throw new BlockNotFoundError(cid)
    commonHeaders(reply, cid)
    if (format === 'raw') {
      const bytes = await store.getVerified(cid)
      return await reply.header('content-type', RAW).header('etag', `"${cid.toString()}.raw"`).header('content-length', bytes.byteLength).send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    }
    const scope = request.query['dag-scope'] ?? 'all'
    if (scope !== 'all' && scope !== 'block') throw new InvalidInputError(`dag-scope "${scope}" is not supported; use "all" or "block".`)
    const { writer, out } = CarWriter.create([cid])
    void (async () => {
      try {
        if (scope === 'block') {
          await writer.put({ cid, bytes: await store.getVerified(cid) })
        } else {
          for await (const block of walkDag(store, cid, { withRawLeaves: true })) await writer.put({ cid: block.cid, bytes: block.bytes! })
        }
      } finally {
        await writer.close()
      }
    })().catch(() => {})
    return await reply
      .header('content-type', `${CAR}; version=1; order=dfs; dups=n`)
      .header('etag', `"${cid.toString()}.car"`)
      .header('content-disposition', `attachment; filename="${cid.toString()}.car"`)
      .send(Readable.from(out))
  })
}

function responseFormat (format: string | undefined, accept: string | undefined): 'raw' | 'car' | undefined {
  if (format === 'raw' || format === 'car') return format
  if (format != null) return undefined
  const types = (accept ?? '').split(',').map(part => part.split(';')[0].trim())
  if (types.includes(RAW)) return 'raw'
  if (types.includes(CAR)) return 'car'
  return undefined
}

function commonHeaders (reply: FastifyReply, cid: CID): void {
  void reply
    .header('x-content-type-options', 'nosniff')
    .header('x-ipfs-path', `/ipfs/${cid.toString()}`)
    .header('cache-control', 'public, max-age=29030400, immutable')
    .header('vary', 'Accept')
}
