import { resolveRef } from '../registry/resolveRef.ts'
import { resolveRefEntry } from '../registry/resolveRefEntry.ts'
import { readModelFile as readStoredFile } from '../registry/readModelFile.ts'
import { SessionCache, type SessionCacheOptions } from './sessionCache.ts'
import { runInference, type InferenceComponents, type ResolvedModel, type RunInferenceParameters, type RunInferenceReturnType } from './runInference.ts'
import type { RegistryComponents } from '../registry/components.ts'

export interface InferenceService {
  sessions: SessionCache
  resolveModel: InferenceComponents['resolveModel']
  run: (parameters: RunInferenceParameters) => Promise<RunInferenceReturnType>
  start: () => void
  stop: () => Promise<void>
}

/** Manifests are immutable, so a resolved version is cached by CID; names are looked up every call. */
const MAX_CACHED_MANIFESTS = 256

/** Local inference over the node's store: sessions are loaded from verified blocks. */
export function createInferenceService (components: Pick<RegistryComponents, 'index' | 'store'>, options: SessionCacheOptions = {}): InferenceService {
  const sessions = new SessionCache(options)
  const manifests = new Map<string, ResolvedModel>()
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
      const { content } = await readStoredFile(components, { ref: model.cid, path: file.path, signal })
      const bytes = new Uint8Array(file.size)
      let offset = 0
      for await (const chunk of content) {
        bytes.set(chunk, offset)
        offset += chunk.byteLength
      }
      return bytes
    }
  }
  return {
    sessions,
    resolveModel: inference.resolveModel,
    run: async parameters => await runInference(inference, parameters),
    start: () => { sessions.start() },
    stop: async () => { await sessions.stop() }
  }
}
