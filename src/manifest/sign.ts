import { hashTypedData, keccak256, type Address, type Hex, type TypedDataDomain } from 'viem'
import { recoverDigestSigner } from '../identity/secp256k1.ts'
import { encodeManifest, type Manifest, type UnsignedManifest } from './manifest.ts'
import type { PrivateKeyAccount } from 'viem/accounts'

/**
 * EIP-712 typed data, so any Ethereum library — and a contract, via ecrecover — can check who
 * signed a model version. No chainId: a package is valid on every network it travels to.
 */
export const MANIFEST_DOMAIN = { name: 'Mycelium', version: '1' } as const satisfies TypedDataDomain

export const MANIFEST_TYPES = {
  ModelVersion: [
    { name: 'name', type: 'string' },
    { name: 'version', type: 'string' },
    { name: 'author', type: 'address' },
    { name: 'created', type: 'string' },
    { name: 'contentHash', type: 'bytes32' }
  ]
} as const

/** keccak256 of the DAG-CBOR bytes of the manifest without its signature. */
export function manifestContentHash (manifest: UnsignedManifest | Manifest): Hex {
  const { signature: _signature, ...unsigned } = manifest as Manifest
  return keccak256(encodeManifest(unsigned))
}

function typedMessage (manifest: UnsignedManifest | Manifest) {
  return {
    domain: MANIFEST_DOMAIN,
    types: MANIFEST_TYPES,
    primaryType: 'ModelVersion' as const,
    message: {
      name: manifest.name,
      version: manifest.version,
      author: manifest.author,
      created: manifest.created,
      contentHash: manifestContentHash(manifest)
    }
  }
}

export async function signManifest (account: PrivateKeyAccount, manifest: UnsignedManifest): Promise<Manifest> {
  const signature = await account.signTypedData(typedMessage(manifest))
  return { ...manifest, signature }
}

export function manifestSigningHash (manifest: UnsignedManifest | Manifest): Hex {
  return hashTypedData(typedMessage(manifest))
}

export interface ManifestSignatureCheck {
  valid: boolean
  signer?: Address
  reason?: string
}

export async function verifyManifestSignature (manifest: Manifest): Promise<ManifestSignatureCheck> {
  try {
    const signer = recoverDigestSigner(hashTypedData(typedMessage(manifest)), manifest.signature)
    if (signer.toLowerCase() !== manifest.author.toLowerCase()) {
      return { valid: false, signer, reason: `signed by ${signer}, but the manifest names ${manifest.author} as author` }
    }
    return { valid: true, signer }
  } catch (err: any) {
    return { valid: false, reason: `malformed signature: ${err.shortMessage ?? err.message}` }
  }
}
