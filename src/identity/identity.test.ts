import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addressFromPeerId, generatePrivateKey, identityFromPrivateKey } from './identity.ts'
import { decryptKeystore, encryptKeystore, WrongPassphraseError } from './keystore.ts'

describe('identity', () => {
  it('derives the same EVM address from the key and from the PeerId', () => {
    const identity = identityFromPrivateKey(generatePrivateKey())
    assert.equal(identity.peerId.type, 'secp256k1')
    assert.equal(addressFromPeerId(identity.peerId), identity.address)
    assert.equal(addressFromPeerId(identity.peerId.toString()), identity.address)
  })

  it('matches the well-known address of a fixed key', () => {
    // Hardhat's first default account
    const raw = Buffer.from('ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80', 'hex')
    const identity = identityFromPrivateKey(raw)
    assert.equal(identity.address, '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
    assert.equal(addressFromPeerId(identity.peerId), identity.address)
  })

  it('rejects keys of the wrong length', () => {
    assert.throws(() => identityFromPrivateKey(new Uint8Array(31)), /32 bytes/)
  })
})

describe('keystore v3', () => {
  it('round-trips and refuses a wrong passphrase', async () => {
    const raw = generatePrivateKey()
    const identity = identityFromPrivateKey(raw)
    const keystore = await encryptKeystore(raw, identity.address, 'correct horse')
    assert.deepEqual(await decryptKeystore(keystore, 'correct horse'), raw)
    await assert.rejects(decryptKeystore(keystore, 'wrong'), WrongPassphraseError)
  })
})
