import { Type } from '@sinclair/typebox'
import { InvalidInputError } from '../../errors.ts'
import { parseDuration, parseTokens } from '../../ledger/units.ts'
import { parseNameRef } from '../../manifest/validate.ts'
import { API_PREFIX } from '../constants.ts'
import { jsonWithBigints as json } from '../schemas.ts'
import type { ApiComponents } from '../createApiServer.ts'
import type { FastifyInstance } from 'fastify'

const JobParams = Type.Object({ jobId: Type.String({ pattern: '^[1-9][0-9]{0,30}$', description: 'A federated job id (1, 2, …).' }) })

const DataOptions = Type.Object({
  format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('jsonl'), Type.Literal('images')])),
  featureScale: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  labelColumn: Type.Optional(Type.String())
}, { additionalProperties: false })

const OpenBody = Type.Object({
  model: Type.String({ description: 'The base model, NAME@VERSION or a manifest CID, with architecture.json and a .safetensors file.' }),
  weightsFile: Type.Optional(Type.String()),
  rounds: Type.Integer({ minimum: 1 }),
  participants: Type.Integer({ minimum: 1 }),
  aggregatorsK: Type.Optional(Type.Integer({ minimum: 1 })),
  roundDuration: Type.String({ description: 'Per round, e.g. 60s, 10m, 2h.' }),
  bounty: Type.String({ description: 'Whole tokens escrowed, e.g. "100".' }),
  stake: Type.Optional(Type.String({ description: 'Whole tokens each participant stakes.' })),
  strategy: Type.Optional(Type.Object({
    name: Type.String(),
    beta: Type.Optional(Type.Number()),
    f: Type.Optional(Type.Integer()),
    m: Type.Optional(Type.Integer()),
    eta: Type.Optional(Type.Number()),
    beta1: Type.Optional(Type.Number()),
    beta2: Type.Optional(Type.Number()),
    tau: Type.Optional(Type.Number()),
    normBound: Type.Optional(Type.Object({ maxRatio: Type.Number() }))
  }, { additionalProperties: false })),
  training: Type.Optional(Type.Object({
    epochs: Type.Optional(Type.Integer({ minimum: 1 })),
    batchSize: Type.Optional(Type.Integer({ minimum: 1 })),
    learningRate: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    optimizer: Type.Optional(Type.Union([Type.Literal('sgd'), Type.Literal('adam')])),
    proximalMu: Type.Optional(Type.Number({ minimum: 0 }))
  }, { additionalProperties: false })),
  dp: Type.Optional(Type.Object({ clipNorm: Type.Number(), noiseMultiplier: Type.Number(), delta: Type.Number() }, { additionalProperties: false })),
  secureAggregation: Type.Optional(Type.Object({ clip: Type.Number({ exclusiveMinimum: 0 }) }, { additionalProperties: false, description: 'Participants commit masked updates; aggregators see only the sum (fedavg/fedprox).' })),
  publish: Type.Optional(Type.String({ description: 'NAME@VERSION of the final model (default: the base name, next minor version).' })),
  validation: Type.Optional(Type.String({ description: 'Held-out data on this node; each round\'s aggregate is evaluated on it and the metrics posted on chain.' })),
  validationOptions: Type.Optional(DataOptions),
  description: Type.Optional(Type.String({ maxLength: 4096 }))
}, { additionalProperties: false })

const JoinBody = Type.Object({
  data: Type.String({ description: 'Local data on this node (CSV, JSON lines or an image folder); it never leaves the node.' }),
  dataOptions: Type.Optional(DataOptions),
  trainer: Type.Optional(Type.String({ description: 'An external trainer command (see the trainer protocol in the README).' }))
}, { additionalProperties: false })

/** Federated learning: open and join jobs, and what the chain and this node know of their rounds. */
export async function federatedRoutes (app: FastifyInstance, { components }: { components: ApiComponents }): Promise<void> {
  const { federated } = components

  app.get(`${API_PREFIX}/fl/jobs`, {
    schema: { tags: ['federated'], summary: 'Federated jobs this node sponsors or takes part in' }
  }, async () => json({ jobs: await federated.list() }))

  app.post<{ Body: typeof OpenBody.static }>(`${API_PREFIX}/fl/jobs`, {
    schema: { tags: ['federated'], summary: 'Open a federated job as its sponsor (escrows the bounty)', security: [{ apiToken: [] }], body: OpenBody }
  }, async (request, reply) => {
    const body = request.body
    let publish
    if (body.publish != null) {
      const ref = parseNameRef(body.publish)
      if (ref.version == null) throw new InvalidInputError(`--publish needs NAME@VERSION, not "${body.publish}".`)
      publish = { name: ref.name, version: ref.version }
    }
    const opened = await federated.open({
      model: body.model,
      weightsFile: body.weightsFile,
      rounds: body.rounds,
      participants: body.participants,
      aggregatorsK: body.aggregatorsK,
      roundDurationSeconds: parseDuration(body.roundDuration),
      bounty: parseTokens(body.bounty),
      stake: body.stake != null ? parseTokens(body.stake) : undefined,
      strategy: body.strategy as any,
      training: body.training,
      dp: body.dp,
      secureAggregation: body.secureAggregation,
      publish,
      validationDir: body.validation,
      validationOptions: body.validationOptions,
      description: body.description
    })
    return await reply.code(201).send(json(opened))
  })

  app.post<{ Params: typeof JobParams.static, Body: typeof JoinBody.static }>(`${API_PREFIX}/fl/jobs/:jobId/join`, {
    schema: { tags: ['federated'], summary: 'Join a federated job with local data (stakes the job\'s stake)', security: [{ apiToken: [] }], params: JobParams, body: JoinBody }
  }, async request => json(await federated.join({
    jobId: BigInt(request.params.jobId),
    dataDir: request.body.data,
    dataOptions: request.body.dataOptions,
    trainer: request.body.trainer
  })))

  app.get<{ Params: typeof JobParams.static }>(`${API_PREFIX}/fl/jobs/:jobId`, {
    schema: { tags: ['federated'], summary: 'A job: its terms, round in progress, this node\'s part and activity, privacy spent', params: JobParams }
  }, async request => json(await federated.status(BigInt(request.params.jobId))))

  app.get<{ Params: typeof JobParams.static }>(`${API_PREFIX}/fl/jobs/:jobId/rounds`, {
    schema: { tags: ['federated'], summary: 'Every round: commitments, rejections, attestations (agreed or slashed), metrics, and this node\'s record', params: JobParams }
  }, async request => json({ rounds: await federated.rounds(BigInt(request.params.jobId)) }))

  app.get<{ Params: typeof JobParams.static }>(`${API_PREFIX}/fl/jobs/:jobId/results`, {
    schema: { tags: ['federated'], summary: 'The payout, the final model and its metrics', params: JobParams }
  }, async request => json(await federated.results(BigInt(request.params.jobId))))
}
