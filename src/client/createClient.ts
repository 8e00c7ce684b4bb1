import fs from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import { Readable } from 'node:stream'
import { API_URL_ENV, envValue } from '../node/defaults.ts'
import { homePaths } from '../node/home.ts'
import { readApiToken } from '../node/initHome.ts'
import { API_PREFIX, CAR_CONTENT_TYPE, PUBLISH_METADATA_FIELD } from '../api/constants.ts'
import { ApiError, NodeNotRunningError } from './errors.ts'
import { multipartBody, type MultipartFile } from './multipart.ts'
import type { PullEvent } from '../api/routes/network.ts'
import type { ManifestJson } from '../manifest/manifest.ts'
import type { PublishMetadata } from '../registry/publishModel.ts'
import type { IndexedVersion } from '../registry/localIndex.ts'
import type { VerifyModelReturnType } from '../registry/verifyModel.ts'
import type { CollectGarbageReturnType } from '../registry/collectGarbage.ts'

export interface ClientOptions {
  /** The node's API URL; found from MYC_API or the node home's `api` file when absent. */
  apiUrl?: string
  home?: string
  /** The API token; read from the node home when absent. */
  token?: string
}

export interface NodeIdentity { peerId: string, address: string, apiUrl: string, multiaddrs: string[], home: string }
export interface VersionDetail { cid: string, entry: IndexedVersion, manifest: ManifestJson }
export interface PublishResult { cid: string, name: string, version: string, manifest: ManifestJson }
export interface PeerInfo { peerId: string, address?: string, addrs: string[], direction: string }
export interface ChainInfo { chainId: number, embedded: boolean, rpcUrl: string, network: string, account: string, deployment: { chainId: number, deployer: string, deployBlock: number, contracts: Record<string, string> } }
export interface TxInfo { transactionHash: string, blockNumber: string, [key: string]: unknown }
export interface ServedInfo { cid: string, name: string, version: string, price: string, maxConcurrency: number, since: string }
export interface ProviderInfo { peerId: string, price: string, source: string }
export interface FollowInfo { name: string, author?: string, since: string }
export interface ImportResult { cid: string, name: string, version: string, blocks: number, added: boolean }

/** `POST /fl/jobs`: amounts in whole tokens, the round duration with a unit (60s, 10m). */
export interface OpenFederatedJobBody {
  model: string
  weightsFile?: string
  rounds: number
  participants: number
  aggregatorsK?: number
  roundDuration: string
  bounty: string
  stake?: string
  strategy?: { name: string, beta?: number, f?: number, m?: number, eta?: number, normBound?: { maxRatio: number } }
  training?: { epochs?: number, batchSize?: number, learningRate?: number, optimizer?: 'sgd' | 'adam', proximalMu?: number }
  dp?: { clipNorm: number, noiseMultiplier: number, delta: number }
  secureAggregation?: { clip: number }
  publish?: string
  validation?: string
  description?: string
}

export type MyceliumClient = Awaited<ReturnType<typeof createClient>>

/** The SDK: a typed client of the node's HTTP API. The CLI is built on it and nothing else. */
export async function createClient (options: ClientOptions = {}) {
  const paths = homePaths(options.home)
  const apiUrl = options.apiUrl ?? envValue(API_URL_ENV) ?? await readApiUrl(paths.apiUrlFile, paths.root)
  const token = options.token ?? await readApiToken(paths.root)
  const base = apiUrl.replace(/\/$/, '')

  async function request (method: string, route: string, init: { body?: RequestInit['body'], headers?: Record<string, string>, signal?: AbortSignal } = {}): Promise<Response> {
    let response: Response
    try {
      response = await fetch(`${base}${route}`, {
        method,
        body: init.body,
        signal: init.signal,
        headers: { ...(token != null ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
        ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {})
      } as RequestInit)
    } catch (err: any) {
      if (err.name === 'AbortError') throw err
      throw new NodeNotRunningError(`at ${base}`, err)
    }
    if (!response.ok) {
      const text = await response.text()
      let body: any
      try { body = JSON.parse(text) } catch { body = undefined }
      throw new ApiError(response.status, body, `${method} ${route} failed with HTTP ${response.status}${text !== '' && body == null ? `: ${text.slice(0, 200)}` : ''}`)
    }
    return response
  }
  const json = async <T>(method: string, route: string, init?: Parameters<typeof request>[2]): Promise<T> => await (await request(method, route, init)).json() as T
  // Inference calls go through node:http on a keep-alive agent of their own: with a request body of a
  // few hundred kB, fetch's extra layers cost most of a millisecond per call.
  let inferAgent: http.Agent | undefined
  const postBinary = async (route: string, body: RequestBody, headers: Record<string, string>, signal?: AbortSignal): Promise<BinaryResponse> => {
    const url = new URL(`${base}${route}`)
    inferAgent ??= url.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true })
    return await postBytes(url, inferAgent, body, headers, signal).catch((err: any) => {
      // As with fetch: failing to get an answer means no node there; an answer cut short is rethrown as is.
      if (err instanceof ResponseError) throw err.cause
      throw new NodeNotRunningError(`at ${base}`, err)
    })
  }
  const ref = (value: string): string => encodeURIComponent(value)

  return {
    apiUrl: base,
    request,
    id: async () => await json<NodeIdentity>('GET', `${API_PREFIX}/id`),
    health: async () => await json<{ status: string, peerId: string }>('GET', '/health'),
    list: async () => (await json<{ versions: IndexedVersion[] }>('GET', `${API_PREFIX}/models`)).versions,
    show: async (value: string) => await json<VersionDetail>('GET', `${API_PREFIX}/models/${ref(value)}`),
    remove: async (value: string) => (await json<{ removed: IndexedVersion }>('DELETE', `${API_PREFIX}/models/${ref(value)}`)).removed,
    verify: async (value: string) => await json<VerifyModelReturnType>('GET', `${API_PREFIX}/models/${ref(value)}/verify`),
    gc: async () => await json<CollectGarbageReturnType>('POST', `${API_PREFIX}/gc`),
    /**
     * Publishes files from this machine. A node on loopback reads them itself (no copy through HTTP)
     * unless `upload` is set; any other node gets them streamed as multipart/form-data.
     */
    async publish (metadata: PublishMetadata, files: MultipartFile[], onBytes?: (bytes: number) => void, options: { upload?: boolean } = {}): Promise<PublishResult> {
      if (options.upload !== true && isLoopback(base)) {
        const localFiles = files.map(file => ({ path: file.path, localPath: path.resolve(file.source) }))
        return await json<PublishResult>('POST', `${API_PREFIX}/models`, jsonBody({ ...metadata, localFiles }))
      }
      const { body, contentType } = multipartBody(PUBLISH_METADATA_FIELD, JSON.stringify(metadata), files, onBytes)
      return await json<PublishResult>('POST', `${API_PREFIX}/models`, { body, headers: { 'content-type': contentType } })
    },
    async downloadFile (value: string, path: string, options: { range?: string, signal?: AbortSignal } = {}): Promise<Response> {
      const route = `${API_PREFIX}/models/${ref(value)}/files/${path.split('/').map(encodeURIComponent).join('/')}`
      return await request('GET', route, { signal: options.signal, headers: options.range != null ? { range: options.range } : {} })
    },
    async exportCar (value: string): Promise<Response> {
      return await request('GET', `${API_PREFIX}/models/${ref(value)}/car`)
    },
    peers: async () => (await json<{ peers: PeerInfo[] }>('GET', `${API_PREFIX}/peers`)).peers,
    connect: async (address: string) => await json<{ peerId: string }>('POST', `${API_PREFIX}/peers/connect`, jsonBody({ multiaddr: address })),
    follows: async () => (await json<{ follows: FollowInfo[] }>('GET', `${API_PREFIX}/follows`)).follows,
    follow: async (name: string) => await json<FollowInfo>('POST', `${API_PREFIX}/follows`, jsonBody({ name })),
    unfollow: async (name: string) => (await json<{ removed: boolean }>('DELETE', `${API_PREFIX}/follows/${ref(name)}`)).removed,
    /** Pulls a version; `onEvent` sees every progress event; rejects with the node's error if the pull fails. */
    async pull (value: string, options: { timeoutMs?: number, allowUnregistered?: boolean, signal?: AbortSignal, onEvent?: (event: PullEvent) => void } = {}): Promise<Extract<PullEvent, { type: 'done' }>> {
      const response = await request('POST', `${API_PREFIX}/pull`, { ...jsonBody({ ref: value, ...(options.timeoutMs != null ? { timeoutMs: options.timeoutMs } : {}), ...(options.allowUnregistered === true ? { allowUnregistered: true } : {}) }), signal: options.signal })
      let last: PullEvent | undefined
      for await (const line of ndjsonLines(response)) {
        last = JSON.parse(line) as PullEvent
        options.onEvent?.(last)
      }
      if (last?.type === 'done') return last
      if (last?.type === 'error') throw new ApiError(502, last, last.message)
      throw new ApiError(502, undefined, 'The pull ended without a result.')
    },
    channels: async () => await json<{ outgoing: any[], incoming: any[] }>('GET', `${API_PREFIX}/channels`),
    claimChannels: async () => (await json<{ claimed: Array<{ channelId: string, amount: string }> }>('POST', `${API_PREFIX}/channels/claim`, jsonBody({}))).claimed,
    audit: async (value: string, proof?: string) => await json<any>('GET', `${API_PREFIX}/audit/${ref(value)}${proof != null ? `?proof=${encodeURIComponent(proof)}` : ''}`),
    chain: async () => await json<ChainInfo>('GET', `${API_PREFIX}/chain`),
    faucet: async (address?: string) => await json<Record<string, string>>('POST', `${API_PREFIX}/chain/faucet`, jsonBody(address != null ? { address } : {})),
    balance: async () => await json<{ address: string, eth: string, tokens: string, withdrawable: string }>('GET', `${API_PREFIX}/balance`),
    withdraw: async () => await json<TxInfo>('POST', `${API_PREFIX}/withdraw`, jsonBody({})),
    transfer: async (name: string, to: string) => await json<TxInfo>('POST', `${API_PREFIX}/transfer`, jsonBody({ name, to })),
    marketList: async (name: string, terms: { price?: string, rentPrice?: string, period?: string }) => await json<TxInfo>('POST', `${API_PREFIX}/market/list`, jsonBody({ name, ...terms })),
    marketUnlist: async (name: string) => await json<TxInfo>('POST', `${API_PREFIX}/market/unlist`, jsonBody({ name })),
    buy: async (name: string) => await json<TxInfo>('POST', `${API_PREFIX}/market/buy`, jsonBody({ name })),
    rent: async (name: string, periods?: number) => await json<TxInfo>('POST', `${API_PREFIX}/market/rent`, jsonBody({ name, ...(periods != null ? { periods } : {}) })),
    listing: async (name: string) => await json<{ name: string, seller: string, price: string, rentPrice: string, rentPeriod: number }>('GET', `${API_PREFIX}/market/listings/${ref(name)}`),
    licenses: async () => (await json<{ licenses: Array<{ name: string, licensed: boolean, purchased: boolean, rentalExpiresAt?: number }> }>('GET', `${API_PREFIX}/market/licenses`)).licenses,
    /** A version's manifest, fetched alone from the network when this node does not store it. */
    manifest: async (value: string) => await json<{ cid: string, local: boolean, manifest: ManifestJson }>('GET', `${API_PREFIX}/manifests/${ref(value)}`),
    serve: async (value: string, options: { price?: string, maxConcurrency?: number } = {}) => await json<ServedInfo>('POST', `${API_PREFIX}/services`, jsonBody({ ref: value, ...options })),
    unserve: async (value: string) => (await json<{ removed: boolean }>('DELETE', `${API_PREFIX}/services/${ref(value)}`)).removed,
    services: async () => (await json<{ services: ServedInfo[] }>('GET', `${API_PREFIX}/services`)).services,
    providers: async (value: string) => (await json<{ providers: ProviderInfo[] }>('GET', `${API_PREFIX}/providers/${ref(value)}`)).providers,
    /** OIP model metadata; `name` may be `org/model`, a CID, or carry `@version`. */
    async modelMetadata (name: string, version?: string): Promise<unknown> {
      return await json('GET', oipModelPath(name, version))
    },
    /** An OIP inference request; the response body as the server sent it (JSON, or JSON + binary tensor data). */
    async infer (name: string, version: string | undefined, body: { body: RequestBody, headers: Record<string, string> }, options: { signal?: AbortSignal, remote?: boolean, peer?: string } = {}): Promise<{ json: unknown, binary?: Uint8Array, provider?: string, receipt?: string }> {
      const query = new URLSearchParams({ ...(options.remote === true ? { remote: '1' } : {}), ...(options.peer != null ? { peer: options.peer } : {}) }).toString()
      const response = await postBinary(`${oipModelPath(name, version)}/infer${query !== '' ? `?${query}` : ''}`, body.body, body.headers, options.signal)
      const headerLength = response.headers.get('inference-header-content-length')
      const bytes = response.bytes
      if (!response.ok) {
        let message = `inference failed with HTTP ${response.status}`
        try {
          message = (JSON.parse(new TextDecoder().decode(bytes)) as { error: string }).error
        } catch {
          // Not the protocol's { error } body: keep the status line.
        }
        throw new ApiError(response.status, { code: `HTTP_${response.status}`, message }, message)
      }
      const provider = response.headers.get('x-mycelium-provider') ?? undefined
      const receipt = response.headers.get('x-mycelium-receipt') ?? undefined
      if (headerLength == null) return { json: JSON.parse(new TextDecoder().decode(bytes)), provider, receipt }
      const length = Number(headerLength)
      return { json: JSON.parse(new TextDecoder().decode(bytes.subarray(0, length))), binary: bytes.subarray(length), provider, receipt }
    },
    fl: {
      jobs: async () => (await json<{ jobs: Array<{ jobId: string, role: string, done: boolean, failed?: string }> }>('GET', `${API_PREFIX}/fl/jobs`)).jobs,
      open: async (body: OpenFederatedJobBody) => await json<any>('POST', `${API_PREFIX}/fl/jobs`, jsonBody(body)),
      join: async (jobId: string, body: { data: string, trainer?: string, dataOptions?: Record<string, unknown> }) => await json<any>('POST', `${API_PREFIX}/fl/jobs/${ref(jobId)}/join`, jsonBody(body)),
      status: async (jobId: string) => await json<any>('GET', `${API_PREFIX}/fl/jobs/${ref(jobId)}`),
      rounds: async (jobId: string) => (await json<{ rounds: any[] }>('GET', `${API_PREFIX}/fl/jobs/${ref(jobId)}/rounds`)).rounds,
      results: async (jobId: string) => await json<any>('GET', `${API_PREFIX}/fl/jobs/${ref(jobId)}/results`)
    },
    async importCar (file: string): Promise<ImportResult> {
      const stream = Readable.toWeb((await fs.open(file)).createReadStream()) as ReadableStream<Uint8Array>
      return await json<ImportResult>('POST', `${API_PREFIX}/import`, { body: stream, headers: { 'content-type': CAR_CONTENT_TYPE } })
    }
  }
}

interface BinaryResponse {
  ok: boolean
  status: number
  headers: { get: (name: string) => string | null }
  bytes: Uint8Array
}

/** A whole request body: text, bytes, or bytes in parts sent one after another (no joined copy). */
export type RequestBody = Uint8Array | string | readonly Uint8Array[]

/** An error after the response began (thrown as its cause): not a sign that no node is running. */
class ResponseError extends Error {}

/**
 * A POST with the whole body at once, on a keep-alive agent, and the whole response body: used as it
 * came when it came in one chunk, else gathered into one new buffer (so tensor data at an 8-byte
 * offset in it is aligned).
 */
async function postBytes (url: URL, agent: http.Agent, body: RequestBody, headers: Record<string, string>, signal?: AbortSignal): Promise<BinaryResponse> {
  signal?.throwIfAborted()
  const outgoing: Record<string, string> = {}
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== 'content-length') outgoing[key] = value
  }
  // What fetch sends for a string body without a content type.
  if (typeof body === 'string' && !Object.keys(outgoing).some(key => key.toLowerCase() === 'content-type')) outgoing['content-type'] = 'text/plain;charset=UTF-8'
  outgoing['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : isParts(body) ? body.reduce((sum, part) => sum + part.byteLength, 0) : body.byteLength)
  return await new Promise<BinaryResponse>((resolve, reject) => {
    let answered = false
    const fail = (err: unknown): void => { reject(answered ? new ResponseError('response failed', { cause: err }) : err) }
    const request = (url.protocol === 'https:' ? https : http).request(url, { method: 'POST', agent, headers: outgoing, ...(signal != null ? { signal } : {}) }, response => {
      answered = true
      const chunks: Buffer[] = []
      let received = 0
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        received += chunk.byteLength
      })
      response.on('error', err => { fail(signal?.aborted === true ? signal.reason : err) })
      response.on('end', () => {
        let bytes: Uint8Array
        if (chunks.length === 1) {
          bytes = chunks[0]
        } else {
          bytes = new Uint8Array(received)
          let offset = 0
          for (const chunk of chunks) {
            bytes.set(chunk, offset)
            offset += chunk.byteLength
          }
        }
        const status = response.statusCode ?? 0
        resolve({
          ok: status >= 200 && status < 300,
          status,
          headers: { get: name => { const value = response.headers[name.toLowerCase()]; return value == null ? null : Array.isArray(value) ? value.join(', ') : value } },
          bytes
        })
      })
    })
    request.on('error', err => {
      // An abort rejects with the signal's reason, as fetch does.
      fail(signal?.aborted === true ? signal.reason : err)
    })
    if (isParts(body)) {
      // Corked, the parts leave in one writev.
      request.cork()
      for (const part of body) request.write(part)
      request.end()
    } else {
      request.end(body)
    }
  })
}

function isParts (body: RequestBody): body is readonly Uint8Array[] {
  return Array.isArray(body)
}

function isLoopback (url: string): boolean {
  const host = new URL(url).hostname
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]'
}

function oipModelPath (name: string, version?: string): string {
  return `/v2/models/${encodeURIComponent(name)}${version != null ? `/versions/${encodeURIComponent(version)}` : ''}`
}

function jsonBody (value: unknown): { body: string, headers: Record<string, string> } {
  return { body: JSON.stringify(value), headers: { 'content-type': 'application/json' } }
}

async function * ndjsonLines (response: Response): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffered = ''
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true })
    let newline
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim()
      buffered = buffered.slice(newline + 1)
      if (line !== '') yield line
    }
  }
  if (buffered.trim() !== '') yield buffered.trim()
}

async function readApiUrl (file: string, home: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim()
  } catch {
    throw new NodeNotRunningError(`for ${home}`)
  }
}
