import { IntegrityError } from '../errors.ts'
import { decodeManifest, type Manifest } from '../manifest/manifest.ts'
import { verifyManifestSignature } from '../manifest/sign.ts'
import { DEFAULT_PULL_TIMEOUT_MS } from '../net/constants.ts'
import { parseCid } from '../storage/blockstore.ts'
import { DISCOVERY_PATIENCE_MS } from '../net/constants.ts'
import { BlockFetcher } from '../transfer/blockFetcher.ts'
import { findProviders } from '../transfer/findProviders.ts'
import { resolveRef } from './resolveRef.ts'
import { resolveFromNetwork, type PullComponents } from './pullModel.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * A version's manifest — from the local index, else fetched alone from the network and checked
 * (signature, name) — without its files: enough to call a remote provider with the right inputs.
 */
export async function fetchManifest (components: PullComponents, ref: string, options: AbortOptions & { timeoutMs?: number } = {}): Promise<{ cid: CID, manifest: Manifest, local: boolean }> {
  try {
    const { cid, manifest } = await resolveRef(components, ref, options)
    return { cid, manifest, local: true }
  } catch (err: any) {
    if (err.code !== 'UNKNOWN_REF') throw err
  }
  const cid = parseCid(ref) ?? await resolveFromNetwork(components, ref, options)
  const fetcher = new BlockFetcher(components, { signal: options.signal })
  const timeoutMs = options.timeoutMs ?? DEFAULT_PULL_TIMEOUT_MS
  fetcher.discover(round => findProviders(components, cid, { ...options, ...round }), Math.min(timeoutMs, DISCOVERY_PATIENCE_MS))
  try {
    await fetcher.fetch([{ cid }], timeoutMs)
  } finally {
    fetcher.finished = true
  }
  const manifest = decodeManifest(await components.store.getVerified(cid, options))
  const signature = await verifyManifestSignature(manifest)
  if (!signature.valid) throw new IntegrityError(`The manifest ${cid.toString()} has an invalid signature: ${signature.reason}.`, { code: 'INVALID_SIGNATURE' })
  return { cid, manifest, local: false }
}
