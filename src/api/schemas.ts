import { Type, type TSchema } from '@sinclair/typebox'

/** JSON schemas of the API: fastify validates and serializes with them, and the OpenAPI document is generated from them. */
export const ErrorBody = Type.Object({
  error: Type.String(),
  code: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.String()),
  hint: Type.Optional(Type.String())
}, { $id: 'Error' })

export const IndexedVersion = Type.Object({
  cid: Type.String(),
  name: Type.String(),
  version: Type.String(),
  author: Type.String(),
  created: Type.String(),
  size: Type.Integer(),
  fileCount: Type.Integer(),
  addedAt: Type.String()
})

export const ManifestFile = Type.Object({
  path: Type.String(),
  cid: Type.String(),
  size: Type.Integer(),
  sha256: Type.String(),
  format: Type.Optional(Type.Object({ format: Type.String() }, { additionalProperties: true }))
})

export const Manifest = Type.Object({
  type: Type.String(),
  schemaVersion: Type.Integer(),
  name: Type.String(),
  version: Type.String(),
  files: Type.Array(ManifestFile),
  license: Type.Optional(Type.String()),
  card: Type.Optional(Type.String()),
  tags: Type.Array(Type.String()),
  task: Type.Optional(Type.String()),
  parents: Type.Array(Type.String()),
  extra: Type.Optional(Type.Object({}, { additionalProperties: true })),
  author: Type.String(),
  created: Type.String(),
  signature: Type.String()
})

export const VersionDetail = Type.Object({
  cid: Type.String(),
  entry: IndexedVersion,
  manifest: Manifest
})

export const RefParams = Type.Object({ ref: Type.String({ description: 'A manifest CID, name@version, or name (newest version); URL-encoded.' }) })

export const ChunkReport = Type.Object({
  index: Type.Integer(),
  cid: Type.String(),
  offset: Type.Integer(),
  size: Type.Integer(),
  status: Type.String()
})

export const VerifyReport = Type.Object({
  cid: Type.String(),
  name: Type.String(),
  version: Type.String(),
  ok: Type.Boolean(),
  manifest: Type.Object({ ok: Type.Boolean(), reason: Type.Optional(Type.String()) }),
  signature: Type.Object({ ok: Type.Boolean(), signer: Type.Optional(Type.String()), reason: Type.Optional(Type.String()) }),
  files: Type.Array(Type.Object({
    path: Type.String(),
    cid: Type.String(),
    size: Type.Integer(),
    ok: Type.Boolean(),
    chunks: Type.Integer(),
    bad: Type.Array(ChunkReport)
  }))
})

export const PublishMetadataBody = Type.Object({
  name: Type.String(),
  version: Type.String(),
  license: Type.Optional(Type.String()),
  card: Type.Optional(Type.String()),
  tags: Type.Optional(Type.Array(Type.String())),
  task: Type.Optional(Type.String()),
  parents: Type.Optional(Type.Array(Type.String()))
}, { additionalProperties: false })

export const NodeId = Type.Object({
  peerId: Type.String(),
  address: Type.String(),
  apiUrl: Type.String(),
  multiaddrs: Type.Array(Type.String()),
  home: Type.String()
})

/** Standard error responses every route may answer with. */
export function withErrors (responses: Record<number, TSchema>): Record<number, TSchema> {
  return { ...responses, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 500: ErrorBody }
}

/** Ledger values as JSON: bigints (token amounts, ids, block numbers) become decimal strings. */
export function jsonWithBigints (value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v) => typeof v === 'bigint' ? v.toString() : v))
}
