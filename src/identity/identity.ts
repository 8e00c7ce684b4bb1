import { privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import type { Address, Hex } from 'viem'
import type { PrivateKeyAccount } from 'viem/accounts'
import { InvalidInputError } from '../errors.ts'
import { addressOfKey, fastPrivateKeyAccount } from './secp256k1.ts'
import type { PeerId, Secp256k1PrivateKey } from '@libp2p/interface'

/**
 * One secp256k1 key is both the libp2p PeerId and the EVM account, so the peer serving a model
 * and the address owning it on chain are provably the same.
 */
export interface Identity {
  privateKey: Secp256k1PrivateKey
  peerId: PeerId
  address: Address
  account: PrivateKeyAccount
}

export function identityFromPrivateKey (raw: Uint8Array): Identity {
  if (raw.length !== 32) throw new InvalidInputError(`A secp256k1 private key is 32 bytes, got ${raw.length}.`)
  const privateKey = privateKeyFromRaw(raw)
  if (privateKey.type !== 'secp256k1') throw new InvalidInputError(`Expected a secp256k1 key, got ${privateKey.type}.`)
  const account = fastPrivateKeyAccount(raw)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), address: account.address, account }
}

export function generatePrivateKey (): Uint8Array {
  return secp256k1.utils.randomSecretKey()
}

/** The EVM address of a secp256k1 PeerId; throws for other key types (they have no address). */
export function addressFromPeerId (peerId: PeerId | string): Address {
  const id = typeof peerId === 'string' ? peerIdFromString(peerId) : peerId
  if (id.type !== 'secp256k1' || id.publicKey == null) {
    throw new InvalidInputError(`Peer ${id.toString()} uses a ${id.type} key; only secp256k1 peers have an EVM address.`)
  }
  return addressOfKey(id.publicKey.raw)
}

export function peerIdFromPublicKeyHex (publicKey: Hex): PeerId {
  const key = publicKeyFromRaw(Buffer.from(publicKey.slice(2), 'hex'))
  return peerIdFromString(key.toString())
}
