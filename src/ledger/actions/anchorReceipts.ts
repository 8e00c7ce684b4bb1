import { keccak256, toHex, type Hex } from 'viem'
import { InvalidInputError } from '../../errors.ts'
import { usageAnchorAbi } from '../artifacts/UsageAnchor.ts'
import { buildReceiptTree, type ReceiptTree } from '../merkle.ts'
import { findEvent, writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

const MAX_BATCH = 2 ** 32 - 1
const ZERO_SUBJECT: Hex = `0x${'0'.repeat(64)}`

export interface AnchorReceiptsParameters {
  /** Hashes (EIP-712 digests) of the receipts of the batch, or a tree already built from them. */
  receipts: readonly Hex[] | ReceiptTree
  /** What the batch is about: a model name (its name hash is recorded, as in the registry's events) or a 32-byte tag. */
  subject?: { model: string } | Hex
  /** Where the batch itself can be fetched (e.g. the CID of its CAR). */
  uri?: string
}

export interface AnchorReceiptsReturnType extends WriteResult {
  anchorId: bigint
  root: Hex
  count: number
  /** Proofs for every receipt of the batch. */
  tree: ReceiptTree
}

/** The `subject` of a model's anchors: `keccak256(bytes(name))`, the registry's name hash. */
export function modelSubject (name: string): Hex {
  return keccak256(toHex(name))
}

/** Anchors the Merkle root of a batch of receipts in one transaction. */
export async function anchorReceipts (ledger: Ledger, parameters: AnchorReceiptsParameters, options?: { signal?: AbortSignal }): Promise<AnchorReceiptsReturnType> {
  const tree = 'root' in parameters.receipts ? parameters.receipts : parameters.receipts.length > 0 ? buildReceiptTree(parameters.receipts) : undefined
  if (tree == null) throw new InvalidInputError('Cannot anchor an empty batch of receipts.')
  if (tree.length > MAX_BATCH) throw new InvalidInputError(`A batch holds at most ${MAX_BATCH} receipts.`)
  const subject = parameters.subject == null ? ZERO_SUBJECT : typeof parameters.subject === 'string' ? parameters.subject : modelSubject(parameters.subject.model)
  const result = await writeContract(ledger, {
    address: ledger.addresses.anchor,
    abi: usageAnchorAbi,
    functionName: 'anchor',
    args: [tree.root, tree.length, subject, parameters.uri ?? ''],
    action: `anchor ${tree.length} receipts`
  }, options)
  return { ...result, anchorId: findEvent(result.receipt, usageAnchorAbi, 'Anchored')!.args.anchorId, root: tree.root, count: tree.length, tree }
}
