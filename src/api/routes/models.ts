import path from 'node:path'
import { Readable } from 'node:stream'
import { Type } from '@sinclair/typebox'
import { InvalidInputError } from '../../errors.ts'
import { manifestToJson } from '../../manifest/manifest.ts'
import { collectGarbage } from '../../registry/collectGarbage.ts'
import { exportCar } from '../../registry/exportCar.ts'
import { importCar } from '../../registry/importCar.ts'
import { provide } from '../../registry/pullModel.ts'
import { publishModel, type PublishFileInput, type PublishMetadata } from '../../registry/publishModel.ts'
import { RangeNotSatisfiableError, readModelFile } from '../../registry/readModelFile.ts'
import { removeModel } from '../../registry/removeModel.ts'
import { resolveRef } from '../../registry/resolveRef.ts'
import { verifyModel } from '../../registry/verifyModel.ts'
import { API_PREFIX, CAR_CONTENT_TYPE, LOOPBACK_ADDRESSES, PUBLISH_METADATA_FIELD } from '../constants.ts'
import { parseRange } from '../range.ts'
import { IndexedVersion, RefParams, VerifyReport, VersionDetail, withErrors } from '../schemas.ts'
import type { ApiComponents } from '../createApiServer.ts'
import type { Multipart } from '@fastify/multipart'
import type { FastifyInstance } from 'fastify'

const PublishResult = Type.Object({ cid: Type.String(), name: Type.String(), version: Type.String(), manifest: VersionDetail.properties.manifest })
const ImportResult = Type.Object({ cid: Type.String(), name: Type.String(), version: Type.String(), blocks: Type.Integer(), added: Type.Boolean() })
const GcResult = Type.Object({ removedBlocks: Type.Integer(), removedBytes: Type.Integer(), keptBlocks: Type.Integer() })

interface RefRequest { Params: { ref: string } }

export async function modelRoutes (app: FastifyInstance, { components }: { components: ApiComponents }): Promise<void> {
  const { registry } = components

  app.get(`${API_PREFIX}/models`, {
    schema: { tags: ['models'], summary: 'Every model version stored on this node', response: withErrors({ 200: Type.Object({ versions: Type.Array(IndexedVersion) }) }) }
  }, async () => ({ versions: registry.index.list() }))

  app.post(`${API_PREFIX}/models`, {
    schema: {
      tags: ['models'],
      summary: 'Publish a model version',
      description: `multipart/form-data: a \`${PUBLISH_METADATA_FIELD}\` field (JSON: name, version, license, card, tags, task, parents) first, then one file part per file whose filename is its path in the package. Files are streamed into the store. From 127.0.0.1 only, an application/json body with the same metadata and \`localFiles: [{ path, localPath }]\` makes the node read the files from its own disk.`,
      consumes: ['multipart/form-data', 'application/json'],
      security: [{ apiToken: [] }],
      response: withErrors({ 201: PublishResult })
    }
  }, async (request, reply) => {
    if (!request.isMultipart()) {
      // Same-machine publish: the daemon reads the files itself, sparing a copy through HTTP.
      if (!LOOPBACK_ADDRESSES.has(request.socket.remoteAddress ?? '')) {
        throw new InvalidInputError('Publishing local paths is only allowed from this machine.', { status: 403, code: 'LOCAL_PATHS_FORBIDDEN', hint: 'Upload the files as multipart/form-data instead.' })
      }
      const body = request.body as { localFiles?: unknown } | undefined
      const metadata = parsePublishMetadata(JSON.stringify({ ...body, localFiles: undefined }))
      // A client that goes away (Ctrl-C on `myc publish`) cancels the publish; nothing gets indexed.
      const controller = new AbortController()
      const socket = request.raw.socket
      const onClose = (): void => { controller.abort(new Error('the client went away')) }
      socket.once('close', onClose)
      const { cid, manifest } = await publishModel(registry, { ...metadata, files: localFilesOf(body?.localFiles), signal: controller.signal }).finally(() => { socket.off('close', onClose) })
      void provide(registry, cid, manifest)
      await components.licences.refresh()
      return await reply.status(201).send({ cid: cid.toString(), name: manifest.name, version: manifest.version, manifest: manifestToJson(manifest) })
    }
    const parts = request.parts()
    const first = await parts.next()
    if (first.done === true || first.value.type !== 'field' || first.value.fieldname !== PUBLISH_METADATA_FIELD) {
      throw new InvalidInputError(`The publish form must start with a "${PUBLISH_METADATA_FIELD}" field.`, { hint: 'Send the metadata JSON before the files.' })
    }
    // @fastify/multipart already parses a field sent as application/json.
    const field = first.value.value
    const metadata = parsePublishMetadata(typeof field === 'string' ? field : JSON.stringify(field))
    const { cid, manifest } = await publishModel(registry, { ...metadata, files: filesOf(parts) })
    void provide(registry, cid, manifest)
    await components.licences.refresh()
    return await reply.status(201).send({ cid: cid.toString(), name: manifest.name, version: manifest.version, manifest: manifestToJson(manifest) })
  })

  app.get<RefRequest>(`${API_PREFIX}/models/:ref`, {
    schema: { tags: ['models'], summary: 'A version and its manifest', params: RefParams, response: withErrors({ 200: VersionDetail }) }
  }, async request => {
    const { cid, entry, manifest } = await resolveRef(registry, request.params.ref)
    return { cid: cid.toString(), entry, manifest: manifestToJson(manifest) }
  })

  app.delete<RefRequest>(`${API_PREFIX}/models/:ref`, {
    schema: { tags: ['models'], summary: 'Remove a version from the index (blocks are reclaimed by gc)', params: RefParams, security: [{ apiToken: [] }], response: withErrors({ 200: Type.Object({ removed: IndexedVersion }) }) }
  }, async request => ({ removed: removeModel(registry, request.params.ref) }))

  app.get<RefRequest & { Params: { '*': string } }>(`${API_PREFIX}/models/:ref/files/*`, {
    schema: { tags: ['models'], summary: 'Download one file of a version (supports Range); every block is verified as it is read', params: Type.Object({ ref: Type.String(), '*': Type.String() }) }
  }, async (request, reply) => {
    const head = await readModelFile(registry, { ref: request.params.ref, path: request.params['*'], end: 1 })
    const range = parseRange(request.headers.range, head.file.size)
    if (range === null) {
      void reply.header('content-range', `bytes */${head.file.size}`)
      throw new RangeNotSatisfiableError(head.file.size)
    }
    const { content, start, end, file } = await readModelFile(registry, { ref: request.params.ref, path: request.params['*'], ...range })
    void reply
      .header('content-type', 'application/octet-stream')
      .header('accept-ranges', 'bytes')
      .header('etag', `"${file.cid.toString()}"`)
      .header('x-content-sha256', file.sha256)
      .header('content-length', end - start)
    if (range != null) void reply.status(206).header('content-range', `bytes ${start}-${end - 1}/${file.size}`)
    return await reply.send(Readable.from(content))
  })

  app.get<RefRequest>(`${API_PREFIX}/models/:ref/verify`, {
    schema: { tags: ['models'], summary: 'Re-hash every block and check the signature; reports per file and per chunk', params: RefParams, response: withErrors({ 200: VerifyReport }) }
  }, async request => await verifyModel(registry, request.params.ref))

  app.get<RefRequest>(`${API_PREFIX}/models/:ref/car`, {
    schema: { tags: ['models'], summary: 'Export a version as a CAR v1 stream (manifest root first)', params: RefParams }
  }, async (request, reply) => {
    const { car, root, manifest } = await exportCar(registry, request.params.ref)
    void reply
      .header('content-type', CAR_CONTENT_TYPE)
      .header('content-disposition', `attachment; filename="${manifest.name.replace('/', '_')}-${manifest.version}.car"`)
      .header('etag', `"${root.toString()}"`)
    return await reply.send(Readable.from(car))
  })

  app.post(`${API_PREFIX}/import`, {
    schema: { tags: ['models'], summary: 'Import a CAR v1 stream holding one model version', consumes: [CAR_CONTENT_TYPE], security: [{ apiToken: [] }], response: withErrors({ 201: ImportResult, 200: ImportResult }) }
  }, async (request, reply) => {
    const result = await importCar(registry, request.raw)
    if (result.added) void provide(registry, result.cid, result.manifest)
    return await reply.status(result.added ? 201 : 200).send({ cid: result.cid.toString(), name: result.manifest.name, version: result.manifest.version, blocks: result.blocks, added: result.added })
  })

  app.post(`${API_PREFIX}/gc`, {
    schema: { tags: ['models'], summary: 'Delete every block no stored version references', security: [{ apiToken: [] }], response: withErrors({ 200: GcResult }) }
  }, async () => await collectGarbage(registry))
}

function parsePublishMetadata (text: string): PublishMetadata {
  let value: any
  try {
    value = JSON.parse(text)
  } catch {
    throw new InvalidInputError('The publish metadata is not valid JSON.')
  }
  if (typeof value?.name !== 'string' || typeof value.version !== 'string') {
    throw new InvalidInputError('The publish metadata needs "name" and "version" strings.', { hint: 'e.g. {"name":"mnist-mlp","version":"1.0.0"}' })
  }
  const strings = (v: unknown, key: string): string[] | undefined => {
    if (v == null) return undefined
    if (!Array.isArray(v) || !v.every(x => typeof x === 'string')) throw new InvalidInputError(`"${key}" must be a list of strings.`)
    return v
  }
  const optional = (v: unknown, key: string): string | undefined => {
    if (v == null) return undefined
    if (typeof v !== 'string') throw new InvalidInputError(`"${key}" must be a string.`)
    return v
  }
  return {
    name: value.name,
    version: value.version,
    license: optional(value.license, 'license'),
    card: optional(value.card, 'card'),
    task: optional(value.task, 'task'),
    tags: strings(value.tags, 'tags'),
    parents: strings(value.parents, 'parents')
  }
}

function localFilesOf (value: unknown): PublishFileInput[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidInputError('"localFiles" must be a non-empty list of { path, localPath }.')
  return value.map((entry: any) => {
    if (typeof entry?.path !== 'string' || typeof entry.localPath !== 'string' || !path.isAbsolute(entry.localPath)) {
      throw new InvalidInputError('Each local file needs "path" (in the package) and an absolute "localPath".')
    }
    return { path: entry.path, source: { path: entry.localPath } }
  })
}

async function * filesOf (parts: AsyncIterableIterator<Multipart>): AsyncGenerator<PublishFileInput> {
  for await (const part of parts) {
    if (part.type !== 'file') throw new InvalidInputError(`Unexpected field "${part.fieldname}" after the files started.`)
    yield { path: part.filename, source: part.file }
  }
}
