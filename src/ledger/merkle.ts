import type { Hex } from 'viem'
import { keccak256Into, keccak256Short } from './keccak.ts'

/**
 * Merkle trees of receipt hashes, compatible with OpenZeppelin: the tree, the root and the proofs are
 * exactly those of `StandardMerkleTree.of(hashes.map(h => [h]), ['bytes32'])` from
 * `@openzeppelin/merkle-tree` (leaves double-hashed, `leaf = keccak256(keccak256(abi.encode(hash)))`;
 * leaves sorted; pairs hashed in sorted order), and proofs verify with OpenZeppelin's `MerkleProof`
 * (UsageAnchor.verifyReceipt on chain) and with {@link verifyReceiptProof} here.
 */

const HASH = 32

const hexScratch = Buffer.alloc(HASH)

/** A receipt hash as bytes; hex is decoded into a scratch buffer, valid until the next call. */
function toBytes (hash: Hex | Uint8Array): Uint8Array {
  if (typeof hash !== 'string') {
    if (hash.length !== HASH) throw new RangeError(`A receipt hash is 32 bytes, got ${hash.length}.`)
    return hash
  }
  // Buffer#write decodes hex in place and stops at the first non-hex pair: a short count means bad input.
  if (hash.length !== 2 + 2 * HASH || !hash.startsWith('0x') || hexScratch.write(hash.slice(2), 0, HASH, 'hex') !== HASH) {
    const length = /^0x([0-9a-fA-F]{2})*$/.test(hash) ? (hash.length - 2) / 2 : NaN
    throw new RangeError(Number.isNaN(length) ? `A receipt hash is 32 bytes of 0x-prefixed hex, got "${hash}".` : `A receipt hash is 32 bytes, got ${length}.`)
  }
  return hexScratch
}

const toHex = (bytes: Uint8Array, offset: number): Hex => `0x${Buffer.from(bytes.buffer, bytes.byteOffset + offset, HASH).toString('hex')}`

/** The leaf of a receipt hash: `keccak256(bytes.concat(keccak256(abi.encode(bytes32))))`. */
export function receiptLeaf (receiptHash: Hex | Uint8Array): Uint8Array {
  // abi.encode(bytes32) is the 32 bytes themselves.
  return keccak256Short(keccak256Short(toBytes(receiptHash)))
}

/** Compares the 32-byte nodes at byte offsets `a` and `b` of `buffer`. */
function compareNodes (buffer: Uint8Array, a: number, b: number): number {
  for (let k = 0; k < HASH; k++) {
    const difference = buffer[a + k] - buffer[b + k]
    if (difference !== 0) return difference
  }
  return 0
}

export interface ReceiptTree {
  /** The root to anchor. */
  root: Hex
  /** Number of receipts. */
  length: number
  /** The proof of the receipt with this hash; throws if it is not in the tree. */
  proof: (receiptHash: Hex) => Hex[]
  /** The proof of the `index`-th receipt, in the order the receipts were given. */
  proofAt: (index: number) => Hex[]
}

/**
 * Builds the tree of a batch of receipt hashes (at least one). Nodes live in one flat buffer laid out as
 * OpenZeppelin lays its array out (node i has children 2i+1 and 2i+2; leaves at the end, reversed).
 */
export function buildReceiptTree (receiptHashes: ReadonlyArray<Hex | Uint8Array>): ReceiptTree {
  const count = receiptHashes.length
  if (count === 0) throw new RangeError('A Merkle tree needs at least one receipt.')

  // Leaves, in the order given.
  const leaves = new Uint8Array(count * HASH)
  const inner = new Uint8Array(HASH)
  for (let i = 0; i < count; i++) {
    keccak256Into(toBytes(receiptHashes[i]), inner)
    keccak256Into(inner, leaves, i * HASH)
  }
  // Sorted by value: numeric keys from the first 6 bytes, the full hash on a tie.
  const keys = new Float64Array(count)
  for (let i = 0; i < count; i++) {
    const o = i * HASH
    keys[i] = ((leaves[o] * 256 + leaves[o + 1]) * 256 + leaves[o + 2]) * 2 ** 24 + ((leaves[o + 3] << 16) | (leaves[o + 4] << 8) | leaves[o + 5])
  }
  const order = new Uint32Array(count).map((_, i) => i)
  order.sort((a, b) => (keys[a] - keys[b]) || compareNodes(leaves, a * HASH, b * HASH))

  const size = 2 * count - 1
  const tree = new Uint8Array(size * HASH)
  /** Tree position of the leaf of the i-th given receipt. */
  const positions = new Uint32Array(count)
  for (let sorted = 0; sorted < count; sorted++) {
    const index = order[sorted]
    const position = size - 1 - sorted
    tree.set(leaves.subarray(index * HASH, index * HASH + HASH), position * HASH)
    positions[index] = position
  }
  const pair = new Uint8Array(2 * HASH)
  for (let i = size - 1 - count; i >= 0; i--) {
    const left = (2 * i + 1) * HASH
    const right = left + HASH
    const [low, high] = compareNodes(tree, left, right) <= 0 ? [left, right] : [right, left]
    pair.set(tree.subarray(low, low + HASH), 0)
    pair.set(tree.subarray(high, high + HASH), HASH)
    keccak256Into(pair, tree, i * HASH)
  }

  const proofAt = (index: number): Hex[] => {
    if (!Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`No receipt at index ${index} (the tree has ${count}).`)
    const proof: Hex[] = []
    for (let i = positions[index]; i > 0; i = (i - 1) >> 1) proof.push(toHex(tree, (i % 2 === 1 ? i + 1 : i - 1) * HASH))
    return proof
  }
  let byHash: Map<string, number> | undefined
  return {
    root: toHex(tree, 0),
    length: count,
    proofAt,
    proof: receiptHash => {
      byHash ??= new Map(receiptHashes.map((hash, index) => [(typeof hash === 'string' ? hash : toHex(hash, 0)).toLowerCase(), index]))
      const index = byHash.get(receiptHash.toLowerCase())
      if (index == null) throw new RangeError(`Receipt ${receiptHash} is not in this tree.`)
      return proofAt(index)
    }
  }
}

/** Whether `proof` shows the receipt with hash `receiptHash` under `root` (what MerkleProof.verify checks). */
export function verifyReceiptProof (root: Hex, receiptHash: Hex, proof: readonly Hex[]): boolean {
  let computed = receiptLeaf(receiptHash)
  for (const sibling of proof) {
    const other = Uint8Array.from(toBytes(sibling))
    const [a, b] = Buffer.compare(computed, other) <= 0 ? [computed, other] : [other, computed]
    const pair = new Uint8Array(2 * HASH)
    pair.set(a, 0)
    pair.set(b, HASH)
    computed = keccak256Short(pair)
  }
  return toHex(computed, 0) === root.toLowerCase()
}
