import type { Identity } from '../identity/identity.ts'
import type { Ledger } from '../ledger/createLedger.ts'
import type { BlockStore } from '../storage/blockstore.ts'
import type { RwLock } from '../utils/rwLock.ts'
import type { LocalIndex } from './localIndex.ts'

/** What the registry actions need from the node — and nothing more. */
export interface RegistryComponents {
  store: BlockStore
  index: LocalIndex
  identity: Identity
  /** Held shared by writers of new content, exclusively by gc. */
  storeLock: RwLock
  /** The on-chain registry: publishes are registered there, names resolve through it. */
  ledger?: Ledger
  /** Accept versions that are not on the ledger (pulls, follows). */
  allowUnregistered?: boolean
}
