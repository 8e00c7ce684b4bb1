import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { bytesToHex, recoverAddress, type Hex } from 'viem'
import { privateKeyToAccount, sign } from 'viem/accounts'
import { addressOfKey, ethereumEcdsaImplementations, fastPrivateKeyAccount, SECP256K1_BACKEND, SECP256K1_ORDER, type EthereumEcdsa } from './secp256k1.ts'

const implementations = Object.values(ethereumEcdsaImplementations).filter((i): i is EthereumEcdsa => i != null)

/** Flips the recovery byte (27 ↔ 28): same r and s, the other candidate key. */
function otherRecovery (signature: Hex): Hex {
  const v = Number.parseInt(signature.slice(130), 16)
  return `${signature.slice(0, 130)}${(v === 27 ? 28 : 27).toString(16)}` as Hex
}

/** The same signature with s replaced by n − s and the recovery bit flipped: still valid for recovery. */
function highS (signature: Hex): Hex {
  const n = SECP256K1_ORDER
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130), 16)
  return `${signature.slice(0, 66)}${(n - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}` as Hex
}

describe('secp256k1 signatures', () => {
  it('run on libsecp256k1 where its prebuilt addon exists (linux-x64, darwin-arm64, win32-x64)', () => {
    const prebuilt = ['linux-x64', 'darwin-arm64', 'win32-x64'].includes(`${process.platform}-${process.arch}`)
    if (prebuilt && process.env.MYCELIUM_SECP256K1 !== 'noble') assert.equal(SECP256K1_BACKEND, 'libsecp256k1')
    assert.ok(ethereumEcdsaImplementations.noble != null)
  })

  for (const ecdsa of implementations) {
    describe(ecdsa.backend, () => {
      it('signs exactly as viem does (RFC 6979, low s, v 27/28) and recovers the signer', async () => {
        for (let i = 0; i < 40; i++) {
          const key = randomBytes(32)
          const digest = bytesToHex(randomBytes(32))
          const signature = ecdsa.signDigest(digest, key)
          assert.equal(signature, await sign({ hash: digest, privateKey: bytesToHex(key), to: 'hex' }))
          const address = privateKeyToAccount(bytesToHex(key)).address
          assert.equal(ecdsa.recoverDigestSigner(digest, signature), address)
          assert.ok(ecdsa.signedBy(digest, signature, secp256k1.getPublicKey(key, true)))
        }
      })

      it('accepts a signature against a known key exactly when recovering its signer (viem) gives that key', async () => {
        const key = randomBytes(32)
        const publicKey = secp256k1.getPublicKey(key, true)
        const address = privateKeyToAccount(bytesToHex(key)).address
        const digest = bytesToHex(randomBytes(32))
        const signature = ecdsa.signDigest(digest, key)
        const cases: Array<[string, Hex, boolean]> = [
          ['as signed', signature, true],
          ['v as 0/1', `${signature.slice(0, 130)}${signature.endsWith('1b') ? '00' : '01'}` as Hex, true],
          ['high s with the flipped recovery bit (recovery accepts it)', highS(signature), true],
          ['the other recovery bit', otherRecovery(signature), false],
          ['v = 29', `${signature.slice(0, 130)}1d` as Hex, false],
          ['64 bytes', signature.slice(0, 130) as Hex, false],
          ['r = 0', `0x${'00'.repeat(32)}${signature.slice(66)}` as Hex, false],
          ['s = n', `${signature.slice(0, 66)}${SECP256K1_ORDER.toString(16)}${signature.slice(130)}` as Hex, false],
          ['not hex', `0x${'zz'.repeat(65)}` as Hex, false]
        ]
        for (const [what, candidate, expected] of cases) {
          assert.equal(ecdsa.signedBy(digest, candidate, publicKey), expected, what)
          assert.equal(ecdsa.signedBy(digest, candidate, secp256k1.Point.fromBytes(publicKey).toBytes(false)), expected, `${what} (uncompressed key)`)
          const recovered = await recoverAddress({ hash: digest, signature: candidate }).catch(() => undefined)
          assert.equal(recovered === address, expected, `viem agrees: ${what}`)
          let ours: string | undefined
          try { ours = ecdsa.recoverDigestSigner(digest, candidate) } catch { ours = undefined }
          assert.equal(ours === address, expected, `recovery: ${what}`)
        }
        assert.equal(ecdsa.signedBy(digest, signature, new Uint8Array([2])), false, 'not a key')
        assert.equal(ecdsa.signedBy(digest, signature, secp256k1.getPublicKey(randomBytes(32), true)), false, 'another key')
        assert.throws(() => ecdsa.signDigest('0x1234', key), /32 bytes/)
      })
    })
  }

  it('gives the node an account that signs as viem\'s does, messages and typed data included', async () => {
    const key = randomBytes(32)
    const ours = fastPrivateKeyAccount(key)
    const viems = privateKeyToAccount(bytesToHex(key))
    assert.equal(ours.address, viems.address)
    assert.equal(ours.publicKey, viems.publicKey)
    const hash = bytesToHex(randomBytes(32))
    assert.equal(await ours.sign({ hash }), await viems.sign({ hash }))
    assert.equal(await ours.signMessage({ message: 'hello mycelium' }), await viems.signMessage({ message: 'hello mycelium' }))
    assert.equal(await ours.signMessage({ message: { raw: hash } }), await viems.signMessage({ message: { raw: hash } }))
    const typedData = {
      domain: { name: 'Test', version: '1', chainId: 31337 },
      types: { Thing: [{ name: 'value', type: 'uint256' }, { name: 'owner', type: 'address' }] },
      primaryType: 'Thing',
      message: { value: 42n, owner: viems.address }
    } as const
    assert.equal(await ours.signTypedData(typedData), await viems.signTypedData(typedData))
    const tx = { chainId: 31337, to: viems.address, value: 1n, nonce: 0, gas: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n } as const
    assert.equal(await ours.signTransaction(tx), await viems.signTransaction(tx))
  })

  it('knows the address of a key, compressed or not', () => {
    const key = randomBytes(32)
    const address = privateKeyToAccount(bytesToHex(key)).address
    assert.equal(addressOfKey(secp256k1.getPublicKey(key, true)), address)
    assert.equal(addressOfKey(secp256k1.getPublicKey(key, false)), address)
  })
})
