import assert from 'node:assert/strict'
import { test } from 'node:test'
import { concat, encodeAbiParameters, keccak256, toHex, type Hex } from 'viem'
import { buildReceiptTree, receiptLeaf, verifyReceiptProof } from './merkle.ts'

/**
 * An independent transcription of @openzeppelin/merkle-tree 1.x (`StandardMerkleTree.of(values, ['bytes32'])`
 * and its `makeMerkleTree` / `getProof`), written with viem's keccak256 on hex strings.
 */
function openZeppelinStandardTree (values: Hex[]): { root: Hex, proof: (value: Hex) => Hex[] } {
  const leafHash = (value: Hex): Hex => keccak256(keccak256(encodeAbiParameters([{ type: 'bytes32' }], [value])))
  const compare = (a: Hex, b: Hex): number => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0)
  const hashPair = (a: Hex, b: Hex): Hex => keccak256(concat([a, b].sort(compare)))
  const hashed = values.map((value, valueIndex) => ({ value, valueIndex, hash: leafHash(value) })).sort((a, b) => compare(a.hash, b.hash))
  const tree: Hex[] = new Array(2 * hashed.length - 1)
  hashed.forEach(({ hash }, i) => { tree[tree.length - 1 - i] = hash })
  for (let i = tree.length - 1 - hashed.length; i >= 0; i--) tree[i] = hashPair(tree[2 * i + 1], tree[2 * i + 2])
  return {
    root: tree[0],
    proof: value => {
      let index = tree.length - 1 - hashed.findIndex(entry => entry.value === value)
      const proof: Hex[] = []
      while (index > 0) {
        proof.push(tree[index - (-1) ** (index % 2)])
        index = Math.floor((index - 1) / 2)
      }
      return proof
    }
  }
}

const hashes = (count: number, salt = ''): Hex[] => Array.from({ length: count }, (_, i) => keccak256(toHex(`receipt ${salt}${i}`)))

test('roots and proofs are those of OpenZeppelin StandardMerkleTree (bytes32 leaves), for every size from 1 to 33', () => {
  for (let size = 1; size <= 33; size++) {
    const values = hashes(size, `${size}:`)
    const tree = buildReceiptTree(values)
    const reference = openZeppelinStandardTree(values)
    assert.equal(tree.root, reference.root, `root of ${size}`)
    assert.equal(tree.length, size)
    values.forEach((value, i) => {
      assert.deepEqual(tree.proofAt(i), reference.proof(value), `proof ${i} of ${size}`)
      assert.deepEqual(tree.proof(value), tree.proofAt(i))
      assert.equal(verifyReceiptProof(tree.root, value, tree.proofAt(i)), true)
    })
  }
})

test('a proof fails for another receipt, another root, or a tampered sibling', () => {
  const values = hashes(10)
  const tree = buildReceiptTree(values)
  const proof = tree.proofAt(3)
  assert.equal(verifyReceiptProof(tree.root, values[4], proof), false)
  assert.equal(verifyReceiptProof(buildReceiptTree(hashes(10, 'x')).root, values[3], proof), false)
  assert.equal(verifyReceiptProof(tree.root, values[3], [keccak256('0x01'), ...proof.slice(1)]), false)
  // An inner node is not a receipt: leaves are double-hashed.
  assert.equal(verifyReceiptProof(tree.root, proof[proof.length - 1], []), false)
  assert.throws(() => tree.proof(keccak256('0x02')), /not in this tree/)
  assert.throws(() => buildReceiptTree([]), /at least one/)
  assert.throws(() => receiptLeaf('0x1234'), /32 bytes/)
})

test('a single receipt is its own root', () => {
  const [value] = hashes(1)
  const tree = buildReceiptTree([value])
  assert.equal(tree.root, keccak256(keccak256(value)))
  assert.deepEqual(tree.proofAt(0), [])
})
