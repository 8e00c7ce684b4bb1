import { createRequire } from 'node:module'
import { secp256k1 as noble } from '@noble/curves/secp256k1.js'
import { keccak_256 as keccak256 } from '@noble/hashes/sha3.js'
import { bytesToHex, getAddress, hashMessage, hashTypedData, hexToBytes, isHex, type Address, type Hex } from 'viem'
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts'
import { logger } from '../utils/logger.ts'

/**
 * Ethereum-style ECDSA over secp256k1 for the hot paths (inference requests and receipts, vouchers):
 * libsecp256k1 through the `secp256k1` package's prebuilt N-API addon when it loads — a signature or
 * a recovery in 60–90 µs, where pure JavaScript takes about 1 ms and 2 ms — and @noble/curves
 * otherwise (platforms without a prebuilt addon). Both sign per RFC 6979 with low s, so they give
 * the same bytes; the tests hold them to it and to viem.
 */
interface Secp256k1Backend {
  name: 'libsecp256k1' | 'noble'
  /** A low-s signature (r ‖ s, 64 bytes) and the parity of R (0 or 1). */
  sign: (digest: Uint8Array, privateKey: Uint8Array) => { signature: Uint8Array, recovery: number }
  /** The uncompressed public key (65 bytes) that made `signature` (r ‖ s) over `digest`, or undefined. */
  recover: (digest: Uint8Array, signature: Uint8Array, recovery: number) => Uint8Array | undefined
}

/** The part of the `secp256k1` package's native binding used here. */
interface NativeSecp256k1 {
  ecdsaSign: (digest: Uint8Array, privateKey: Uint8Array) => { signature: Uint8Array, recid: number }
  ecdsaRecover: (signature: Uint8Array, recovery: number, digest: Uint8Array, compressed: boolean) => Uint8Array
}

const log = logger('identity:secp256k1')

/** n, the order of secp256k1's group: signature scalars r and s lie in [1, n). */
export const SECP256K1_ORDER: bigint = noble.Point.Fn.ORDER

const nobleBackend: Secp256k1Backend = {
  name: 'noble',
  sign (digest, privateKey) {
    const recovered = noble.sign(digest, privateKey, { prehash: false, format: 'recovered' })
    return { signature: recovered.subarray(1), recovery: recovered[0] }
  },
  recover (digest, signature, recovery) {
    try {
      const recovered = new Uint8Array(65)
      recovered[0] = recovery
      recovered.set(signature, 1)
      return noble.Point.fromBytes(noble.recoverPublicKey(recovered, digest, { prehash: false })).toBytes(false)
    } catch {
      return undefined
    }
  }
}

function loadNativeBackend (): Secp256k1Backend | undefined {
  if (process.env.MYCELIUM_SECP256K1 === 'noble') return undefined
  try {
    // The binding alone: the package's own fallback (elliptic) is not one we want.
    const native = createRequire(import.meta.url)('secp256k1/bindings') as NativeSecp256k1
    return {
      name: 'libsecp256k1',
      sign (digest, privateKey) {
        const { signature, recid } = native.ecdsaSign(digest, privateKey)
        return { signature, recovery: recid }
      },
      recover (digest, signature, recovery) {
        try {
          return native.ecdsaRecover(signature, recovery, digest, false)
        } catch {
          return undefined
        }
      }
    }
  } catch (err: any) {
    log('no prebuilt libsecp256k1 for %s-%s (%s): signing in JavaScript', process.platform, process.arch, err.message)
    return undefined
  }
}

function digestBytes (digest: Hex): Uint8Array {
  if (typeof digest !== 'string' || digest.length !== 66 || !isHex(digest, { strict: true })) throw new Error(`A digest is 32 bytes of hex, got ${String(digest)}`)
  return hexToBytes(digest)
}

function addressOfUncompressed (publicKey: Uint8Array): Address {
  return getAddress(bytesToHex(keccak256(publicKey.subarray(1)).subarray(12)))
}

/** Ethereum's signatures (r ‖ s ‖ v, 65 bytes) on one implementation. */
export interface EthereumEcdsa {
  backend: Secp256k1Backend['name']
  /** Signs a 32-byte digest: v = 27 + parity — what viem's `sign({ hash, privateKey, to: 'hex' })` gives. */
  signDigest: (digest: Hex, privateKey: Uint8Array) => Hex
  /**
   * The address that signed `digest` (v 0/1/27/28): what viem's `recoverAddress` gives for such a
   * signature, high s included. Throws for a signature that recovers to no key.
   */
  recoverDigestSigner: (digest: Hex, signature: Hex) => Address
  /**
   * Whether `signature` over `digest` is by `publicKey` (compressed or not; a PeerId's key): exactly
   * what recovering the signer and comparing addresses accepts. Never throws.
   */
  signedBy: (digest: Hex, signature: Hex, publicKey: Uint8Array) => boolean
}

function ethereumEcdsa (backend: Secp256k1Backend): EthereumEcdsa {
  const recoverKey = (digest: Hex, signature: Hex): Uint8Array | undefined => {
    if (typeof signature !== 'string' || signature.length !== 132 || !isHex(signature, { strict: true })) return undefined
    const bytes = hexToBytes(signature)
    const v = bytes[64]
    const recovery = v === 0 || v === 27 ? 0 : v === 1 || v === 28 ? 1 : -1
    if (recovery < 0) return undefined
    return backend.recover(digestBytes(digest), bytes.subarray(0, 64), recovery)
  }
  return {
    backend: backend.name,
    signDigest (digest, privateKey) {
      const { signature, recovery } = backend.sign(digestBytes(digest), privateKey)
      const out = new Uint8Array(65)
      out.set(signature)
      out[64] = 27 + recovery
      return bytesToHex(out)
    },
    recoverDigestSigner (digest, signature) {
      const key = recoverKey(digest, signature)
      if (key == null) throw new Error('The signature recovers to no public key (malformed r, s or v).')
      return addressOfUncompressed(key)
    },
    signedBy (digest, signature, publicKey) {
      try {
        const key = recoverKey(digest, signature)
        // Key against key: no hashing on this path (it runs for every call's request and receipt).
        return key != null && bytesToHex(key) === knownKey(publicKey).uncompressed
      } catch {
        return false
      }
    }
  }
}

const nativeBackend = loadNativeBackend()

/** Both implementations, for the tests that hold them to the same results. */
export const ethereumEcdsaImplementations: { libsecp256k1?: EthereumEcdsa, noble: EthereumEcdsa } = {
  ...(nativeBackend != null ? { libsecp256k1: ethereumEcdsa(nativeBackend) } : {}),
  noble: ethereumEcdsa(nobleBackend)
}

/** The fastest implementation this process has. */
export const { backend: SECP256K1_BACKEND, signDigest, recoverDigestSigner, signedBy } = ethereumEcdsaImplementations.libsecp256k1 ?? ethereumEcdsaImplementations.noble

const MAX_KNOWN_KEYS = 1024
const knownKeys = new Map<string, { uncompressed: Hex, address: Address }>()

/** A peer's key (compressed or not) uncompressed, and its address: remembered per key. */
function knownKey (publicKey: Uint8Array): { uncompressed: Hex, address: Address } {
  const id = bytesToHex(publicKey)
  let found = knownKeys.get(id)
  if (found == null) {
    const uncompressed = noble.Point.fromBytes(publicKey).toBytes(false)
    found = { uncompressed: bytesToHex(uncompressed), address: addressOfUncompressed(uncompressed) }
    if (knownKeys.size >= MAX_KNOWN_KEYS) knownKeys.delete(knownKeys.keys().next().value!)
    knownKeys.set(id, found)
  }
  return found
}

/** The EVM address of a secp256k1 public key (compressed or not), remembered per key. */
export function addressOfKey (publicKey: Uint8Array): Address {
  return knownKey(publicKey).address
}

/**
 * viem's private-key account, with its digests signed by {@link signDigest}: the same signatures,
 * at libsecp256k1's speed. Transactions and authorizations stay with viem (rare, and it serializes them).
 */
export function fastPrivateKeyAccount (privateKey: Uint8Array): PrivateKeyAccount {
  const key = Uint8Array.from(privateKey)
  const account = privateKeyToAccount(bytesToHex(key))
  return {
    ...account,
    sign: async ({ hash }) => signDigest(hash, key),
    signMessage: async ({ message }) => signDigest(hashMessage(message), key),
    signTypedData: async (typedData) => signDigest(hashTypedData(typedData), key)
  }
}
