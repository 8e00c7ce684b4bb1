import { addressFromPeerId } from '../identity/identity.ts'
import { decodeManifest } from '../manifest/manifest.ts'
import { getListing } from '../ledger/actions/getListing.ts'
import { hasLicense } from '../ledger/actions/hasLicense.ts'
import { parseCid } from '../storage/blockstore.ts'
import { walkDag } from '../storage/dag.ts'
import { logger } from '../utils/logger.ts'
import type { Ledger } from '../ledger/createLedger.ts'
import type { RegistryComponents } from '../registry/components.ts'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

const log = logger('market:gate')

/** How long a licence answer is trusted before the chain is asked again. */
const LICENCE_CACHE_MS = 5_000
/** How often listings are re-read, so a new listing starts being enforced without a restart. */
export const LISTINGS_REFRESH_MS = 15_000

/**
 * Serves the blocks of a model listed for sale or rent only to peers whose address holds a licence:
 * the PeerId is the address, so the check is exact. Blocks of unlisted models are public.
 */
export class LicenceGate {
  private readonly components: Pick<RegistryComponents, 'index' | 'store'> & { ledger: Ledger }
  /** Multihash (base58 of the CID string is enough: blocks are keyed by CID here) → model name. */
  private restricted = new Map<string, string>()
  private readonly answers = new Map<string, { allowed: boolean, at: number }>()
  private timer: NodeJS.Timeout | undefined

  constructor (components: Pick<RegistryComponents, 'index' | 'store'> & { ledger: Ledger }) {
    this.components = components
  }

  async start (): Promise<void> {
    await this.refresh()
    this.timer = setInterval(() => { void this.refresh().catch(err => { log('refresh failed: %s', err.message) }) }, LISTINGS_REFRESH_MS)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /** Re-reads which stored models are listed and indexes their blocks. */
  async refresh (): Promise<void> {
    const restricted = new Map<string, string>()
    const names = [...new Set(this.components.index.list().map(entry => entry.name))]
    for (const name of names) {
      const listing = await getListing(this.components.ledger, { name })
      if (listing == null) continue
      for (const entry of this.components.index.versionsOf(name)) {
        const root = parseCid(entry.cid)!
        restricted.set(root.toString(), name)
        try {
          const manifest = decodeManifest(await this.components.store.getVerified(root))
          for (const file of manifest.files) {
            for await (const block of walkDag(this.components.store, file.cid)) restricted.set(block.cid.toString(), name)
          }
        } catch (err: any) {
          log('cannot index the blocks of %s: %s', entry.cid, err.message)
        }
      }
    }
    this.restricted = restricted
  }

  /** The listed model a block belongs to, if any. */
  modelOf (cid: CID): string | undefined {
    return this.restricted.get(cid.toString())
  }

  async canServe (peer: PeerId, cid: CID): Promise<boolean> {
    const name = this.modelOf(cid)
    if (name == null) return true
    const key = `${name}\n${peer.toString()}`
    const cached = this.answers.get(key)
    if (cached != null && Date.now() - cached.at < LICENCE_CACHE_MS) return cached.allowed
    let allowed = false
    try {
      allowed = await hasLicense(this.components.ledger, { name, account: addressFromPeerId(peer) })
    } catch (err: any) {
      log('licence check of %p for %s failed: %s', peer, name, err.message)
    }
    this.answers.set(key, { allowed, at: Date.now() })
    return allowed
  }
}
