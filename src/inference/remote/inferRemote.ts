import { peerIdFromString } from '@libp2p/peer-id'
import { BaseError, InvalidInputError } from '../../errors.ts'
import { logger } from '../../utils/logger.ts'
import { INFER_MAX_ATTEMPTS } from '../constants.ts'
import { RemoteInferenceError, requestRemoteInference, requestServiceInfo, type RemoteInferParameters } from './client.ts'
import type { Announcer } from '../../net/announce/announcer.ts'
import type { InferenceReceipt, InferenceRequestTerms } from './inferenceReceipt.ts'
import type { WirePayment } from './messages.ts'
import type { Hex, LocalAccount } from 'viem'
import type { Tensor } from '../tensor.ts'
import type { AbortOptions, Libp2p, PeerId } from '@libp2p/interface'

const log = logger('inference:remote')

export interface RemoteInferenceComponents {
  libp2p: Pick<Libp2p, 'dialProtocol' | 'dial' | 'getConnections' | 'peerId'>
  announcer: Pick<Announcer, 'servicesOf'>
}

export interface RemoteCallComponents extends RemoteInferenceComponents {
  account: LocalAccount
  /** A voucher for a paid call. */
  pay?: (terms: InferenceRequestTerms) => Promise<WirePayment | undefined>
}

export interface InferenceProvider {
  peerId: string
  price: string
  /** How the provider became known. */
  source: 'announcement' | 'connected'
}

export class NoInferenceProviderError extends BaseError {
  override name = 'NoInferenceProviderError'
  constructor (model: string, reasons: string[]) {
    super(`No provider could run ${model}.`, {
      code: 'NO_INFERENCE_PROVIDER',
      status: 503,
      details: reasons.length > 0 ? reasons.join('; ') : 'no provider is known',
      hint: 'List providers with `myc providers REF`, connect to one with `myc connect`, or run the model locally (without --remote).'
    })
  }
}

/** Providers of inference on `model`: those that announced it, and connected peers that say they serve it. */
export async function findInferenceProviders (components: RemoteInferenceComponents, model: string, options: AbortOptions = {}): Promise<InferenceProvider[]> {
  return (await findProviderPeers(components, model, options)).map(({ peer, price, source }) => ({ peerId: peer.toString(), price: price.toString(), source }))
}

/** findInferenceProviders with the PeerIds as they are (parsing one again costs a key decompression). */
async function findProviderPeers (components: RemoteInferenceComponents, model: string, options: AbortOptions): Promise<Array<{ peer: PeerId, price: bigint, source: InferenceProvider['source'] }>> {
  const found = new Map<string, { peer: PeerId, price: bigint, source: InferenceProvider['source'] }>()
  for (const service of components.announcer.servicesOf(model)) {
    found.set(service.peer.toString(), { peer: service.peer, price: BigInt(service.price), source: 'announcement' })
  }
  await Promise.all(components.libp2p.getConnections().map(async connection => {
    const peer = connection.remotePeer.toString()
    if (found.has(peer)) return
    try {
      const info = await requestServiceInfo(components.libp2p, connection.remotePeer, model, options)
      if (info.serving) found.set(peer, { peer: connection.remotePeer, price: BigInt(info.price), source: 'connected' })
    } catch {
      // A peer that does not speak the protocol simply is no provider.
    }
  }))
  // Cheapest first; announcement order breaks ties.
  return [...found.values()].sort((a, b) => (a.price < b.price ? -1 : a.price > b.price ? 1 : 0))
}

export interface InferRemoteParameters extends Omit<RemoteInferParameters, 'model'> {
  model: string
  /** Use only this provider. */
  peer?: string
}

/**
 * Runs inference on a provider, trying the next one when a provider fails, times out or vanishes
 * mid-call. A request the provider rejects as invalid (4xx) fails at once: another would reject it too.
 */
export async function inferRemote (components: RemoteCallComponents, { model, peer, signal, ...request }: InferRemoteParameters): Promise<{ outputs: Tensor[], provider: string, modelName: string, modelVersion?: string, receipt: InferenceReceipt, receiptHash: Hex }> {
  let candidates: Array<{ peer: PeerId, price?: bigint }>
  if (peer != null) {
    try {
      candidates = [{ peer: peerIdFromString(peer) }]
    } catch {
      throw new InvalidInputError(`"${peer}" is not a PeerId.`)
    }
  } else {
    candidates = await findProviderPeers(components, model, { signal })
  }
  const reasons: string[] = []
  for (const { peer: candidate, price: known } of candidates.slice(0, Math.max(INFER_MAX_ATTEMPTS, peer != null ? 1 : 0))) {
    signal?.throwIfAborted()
    try {
      const price = known ?? BigInt((await requestServiceInfo(components.libp2p, candidate, model, { signal })).price)
      const result = await requestRemoteInference(components.libp2p, candidate, { model, signal, ...request, account: components.account, price, payment: components.pay })
      return { ...result, provider: candidate.toString() }
    } catch (err: any) {
      if (err instanceof RemoteInferenceError && err.status < 500) throw err
      reasons.push(`${candidate.toString()}: ${err.shortMessage ?? err.message}`)
      log('provider %p failed, trying the next: %s', candidate, err.message)
    }
  }
  throw new NoInferenceProviderError(model, reasons)
}
