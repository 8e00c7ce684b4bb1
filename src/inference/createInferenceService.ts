import { parseUnits, type Hex } from 'viem'
import { InvalidInputError } from '../errors.ts'
import { resolveRef } from '../registry/resolveRef.ts'
import { resolveRefEntry } from '../registry/resolveRefEntry.ts'
import { parseCid } from '../storage/blockstore.ts'
import { readModelFileBytes } from '../registry/readModelFile.ts'
import { logger } from '../utils/logger.ts'
import { INFER_DEFAULT_MAX_CONCURRENCY, SERVICE_ANNOUNCE_INTERVAL_MS } from './constants.ts'
import { registerInferHandler } from './remote/handler.ts'
import { findInferenceProviders, inferRemote, type InferenceProvider, type InferRemoteParameters, type RemoteInferenceComponents } from './remote/inferRemote.ts'
import { SessionCache, type SessionCacheOptions } from './sessionCache.ts'
import { runInference, selectOnnxFile, type InferenceComponents, type ResolvedModel, type RunInferenceParameters, type RunInferenceReturnType } from './runInference.ts'
import type { Announcer } from '../net/announce/announcer.ts'
import type { InferenceReceipt } from './remote/inferenceReceipt.ts'
import type { Payments } from '../market/payments.ts'
import type { ReceiptBook } from '../market/receiptBook.ts'
import type { LocalAccount } from 'viem'
import type { RegistryComponents } from '../registry/components.ts'
import type { Service } from '../registry/localIndex.ts'
import type { Libp2p } from '@libp2p/interface'

const log = logger('inference')

/** Manifests are immutable, so a resolved version (and a CID's name) is cached by CID; names are looked up every call. */
const MAX_CACHED_MANIFESTS = 256
const TOKEN_DECIMALS = 18

export interface InferenceServiceComponents extends Pick<RegistryComponents, 'index' | 'store'>, RemoteInferenceComponents {
  libp2p: RemoteInferenceComponents['libp2p'] & Pick<Libp2p, 'handle'>
  announcer: RemoteInferenceComponents['announcer'] & Pick<Announcer, 'announceService'>
  account: LocalAccount
  payments: Pick<Payments, 'voucherFor' | 'accept'>
  receipts: Pick<ReceiptBook, 'keep'>
}

export interface ServeParameters {
  ref: string
  /** Whole tokens per call, decimals allowed. */
  price?: string
  maxConcurrency?: number
}

export interface ServedModel extends Service {
  name: string
  version: string
}

export interface InferenceService {
  sessions: SessionCache
  resolveModel: InferenceComponents['resolveModel']
  run: (parameters: RunInferenceParameters) => Promise<RunInferenceReturnType>
  runRemote: (parameters: Omit<InferRemoteParameters, 'model'> & { ref: string }) => ReturnType<typeof inferRemote>
  serve: (parameters: ServeParameters) => Promise<ServedModel>
  unserve: (ref: string) => boolean
  served: () => ServedModel[]
  providers: (ref: string) => Promise<InferenceProvider[]>
  start: () => Promise<void>
  stop: () => Promise<void>
}

/** Local inference over the node's store, and inference as a network service. */
export function createInferenceService (components: InferenceServiceComponents, options: SessionCacheOptions = {}): InferenceService {
  const sessions = new SessionCache(options)
  const manifests = new Map<string, ResolvedModel>()
  let announceTimer: NodeJS.Timeout | undefined

  const inference: InferenceComponents = {
    sessions,
    async resolveModel (ref, { signal }) {
      const entry = resolveRefEntry(components, ref)
      const cached = manifests.get(entry.cid)
      if (cached != null) return cached
      const { manifest } = await resolveRef(components, entry.cid, { signal })
      const model: ResolvedModel = {
        cid: entry.cid,
        name: manifest.name,
        version: manifest.version,
        files: manifest.files.map(file => ({ path: file.path, size: file.size, cid: file.cid.toString(), format: file.format }))
      }
      if (manifests.size >= MAX_CACHED_MANIFESTS) manifests.delete(manifests.keys().next().value!)
      manifests.set(entry.cid, model)
      return model
    },
    async readModelFile (model, file, { signal }) {
      return await readModelFileBytes(components, { ref: model.cid, path: file.path, signal })
    }
  }

  /**
   * Receipts are filed under the model's name (audits go by name; a manifest CID names one model
   * for good, so the name is remembered); the provider anchors its copies. The book writes them in
   * batches, after the answers have gone out.
   */
  const modelNames = new Map<string, string>()
  const nameOf = (cid: string): string => {
    let name = modelNames.get(cid)
    if (name == null) {
      name = components.index.byCid(cid)?.name
      if (name == null) return cid
      if (modelNames.size >= MAX_CACHED_MANIFESTS) modelNames.delete(modelNames.keys().next().value!)
      modelNames.set(cid, name)
    }
    return name
  }
  const keepReceipt = (receipt: InferenceReceipt, hash: Hex, anchor: boolean): void => {
    try {
      components.receipts.keep({ hash, model: nameOf(receipt.request.model), document: receipt, signature: receipt.providerSignature, anchor })
    } catch (err: any) {
      log.error('keeping the receipt of a call to %s failed: %s', receipt.request.model, err.message)
    }
  }
  const describe = (service: Service): ServedModel => {
    const entry = components.index.byCid(service.cid)
    return { ...service, name: entry?.name ?? '?', version: entry?.version ?? '?' }
  }
  const announceAll = async (): Promise<void> => {
    for (const service of components.index.services()) {
      const entry = components.index.byCid(service.cid)
      if (entry != null) await components.announcer.announceService({ cid: entry.cid, name: entry.name, version: entry.version, price: service.price })
    }
  }

  return {
    sessions,
    resolveModel: inference.resolveModel,
    run: async parameters => await runInference(inference, parameters),
    async runRemote ({ ref, ...parameters }) {
      // A name is resolved locally when the version is here; a CID needs nothing local at all.
      const model = resolveModelCid(components, ref)
      const result = await inferRemote({ ...components, pay: async terms => await components.payments.voucherFor(terms) }, { ...parameters, model })
      keepReceipt(result.receipt, result.receiptHash, false)
      return result
    },
    async serve ({ ref, price = '0', maxConcurrency = INFER_DEFAULT_MAX_CONCURRENCY }) {
      const model = await inference.resolveModel(ref, {})
      selectOnnxFile(model)
      let units: bigint
      try {
        units = parseUnits(price, TOKEN_DECIMALS)
      } catch {
        throw new InvalidInputError(`Invalid price "${price}".`, { hint: 'Give whole tokens per call, decimals allowed, e.g. 0.01.' })
      }
      if (units < 0n) throw new InvalidInputError('A price cannot be negative.')
      if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 256) throw new InvalidInputError('--max-concurrency must be between 1 and 256.')
      components.index.serve(model.cid, units.toString(), maxConcurrency)
      await components.announcer.announceService({ cid: model.cid, name: model.name, version: model.version, price: units.toString() })
      log('serving %s@%s at %s per call', model.name, model.version, units)
      return describe(components.index.service(model.cid)!)
    },
    unserve (ref) {
      return components.index.unserve(resolveRefEntry(components, ref).cid)
    },
    served: () => components.index.services().map(describe),
    async providers (ref) {
      return await findInferenceProviders(components, resolveModelCid(components, ref))
    },
    async start () {
      sessions.start()
      await registerInferHandler(components.libp2p, {
        serviceFor: model => {
          const service = components.index.service(model)
          return service != null ? { serving: true, price: service.price, maxConcurrency: service.maxConcurrency } : undefined
        },
        run: async ({ peer: _peer, ...parameters }) => await runInference(inference, parameters),
        account: components.account,
        acceptPayment: async (terms, payment, clientKey) => { await components.payments.accept(terms, payment, clientKey) },
        onReceipt: (receipt, hash) => { keepReceipt(receipt, hash, true) }
      })
      // Peers that join later learn about services from the next round.
      announceTimer = setInterval(() => { void announceAll() }, SERVICE_ANNOUNCE_INTERVAL_MS)
      announceTimer.unref()
      void announceAll()
    },
    async stop () {
      clearInterval(announceTimer)
      await sessions.stop()
    }
  }
}

function resolveModelCid (components: Pick<RegistryComponents, 'index'>, ref: string): string {
  // A CID needs nothing local; only a name is looked up.
  if (parseCid(ref) != null) return ref
  return resolveRefEntry(components, ref).cid
}
