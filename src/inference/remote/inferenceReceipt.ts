import { createHash, randomBytes } from 'node:crypto'
import { keccak_256 as keccak256 } from '@noble/hashes/sha3.js'
import { bytesToHex, domainSeparator, hexToBytes, isAddress, isHex, type Address, type Hex, type LocalAccount } from 'viem'
import { recoverDigestSigner, signedBy } from '../../identity/secp256k1.ts'
import { RECEIPT_DOMAIN } from '../../ledger/receipts.ts'

/**
 * A remote inference call, signed by both sides: the client signs the request (model, input hash,
 * price, nonce, provider) before sending it; the provider signs the whole receipt, output hash and
 * the client's signature included, before answering. Either can show it; the provider anchors it.
 */
export const INFERENCE_RECEIPT_TYPES = {
  InferenceRequest: [
    { name: 'model', type: 'string' },
    { name: 'inputHash', type: 'bytes32' },
    { name: 'price', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
    { name: 'client', type: 'address' },
    { name: 'provider', type: 'address' }
  ],
  InferenceReceipt: [
    { name: 'request', type: 'InferenceRequest' },
    { name: 'clientSignature', type: 'bytes' },
    { name: 'outputHash', type: 'bytes32' }
  ]
} as const

export interface InferenceRequestTerms {
  /** Manifest CID of the version run. */
  model: string
  inputHash: Hex
  /** Token base units. */
  price: bigint
  nonce: Hex
  client: Address
  provider: Address
}

export interface InferenceReceipt {
  request: InferenceRequestTerms
  clientSignature: Hex
  outputHash: Hex
  providerSignature: Hex
}

/** SHA-256 of the request's or response's JSON header and binary tensor data, in order. */
export function hashPayload (parts: Uint8Array[]): Hex {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  return `0x${hash.digest('hex')}`
}

export function newNonce (): Hex {
  return bytesToHex(randomBytes(32))
}

// --- EIP-712 digests -------------------------------------------------------------------------------
//
// Every call hashes these two fixed structs several times, so they are encoded here directly (what
// viem's hashTypedData does generically, at a fraction of its cost); the tests check both agree.

const utf8 = new TextEncoder()
const REQUEST_TYPE = 'InferenceRequest(string model,bytes32 inputHash,uint256 price,bytes32 nonce,address client,address provider)'
const REQUEST_TYPE_HASH = keccak256(utf8.encode(REQUEST_TYPE))
const RECEIPT_TYPE_HASH = keccak256(utf8.encode(`InferenceReceipt(InferenceRequest request,bytes clientSignature,bytes32 outputHash)${REQUEST_TYPE}`))
const DOMAIN_SEPARATOR = hexToBytes(domainSeparator({ domain: RECEIPT_DOMAIN }))
const MAX_UINT256 = (1n << 256n) - 1n

function invalid (field: string, value: unknown): never {
  throw new Error(`Invalid ${field} for the inference receipt: ${String(value)}`)
}

function bytes32 (value: Hex, field: string): Uint8Array {
  if (typeof value !== 'string' || value.length !== 66 || !isHex(value, { strict: true })) invalid(field, value)
  return hexToBytes(value)
}

function address (value: Address, field: string): Uint8Array {
  // isAddress checks the checksum of a mixed-case address, as viem's typed-data validation does.
  if (typeof value !== 'string' || !isAddress(value)) invalid(field, value)
  const word = new Uint8Array(32)
  word.set(hexToBytes(value), 12)
  return word
}

function uint256 (value: bigint, field: string): Uint8Array {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_UINT256) invalid(field, value)
  return hexToBytes(`0x${value.toString(16).padStart(64, '0')}`)
}

function structHash (typeHash: Uint8Array, fields: Uint8Array[]): Uint8Array {
  const data = new Uint8Array(32 * (fields.length + 1))
  data.set(typeHash)
  fields.forEach((field, i) => { data.set(field, 32 * (i + 1)) })
  return keccak256(data)
}

const MAX_CACHED_MODEL_HASHES = 256
const modelHashes = new Map<string, Uint8Array>()

/** keccak256 of a model CID, remembered: a provider serves a few models to many calls. */
function modelHash (model: string): Uint8Array {
  let hash = modelHashes.get(model)
  if (hash == null) {
    hash = keccak256(utf8.encode(model))
    if (modelHashes.size >= MAX_CACHED_MODEL_HASHES) modelHashes.delete(modelHashes.keys().next().value!)
    modelHashes.set(model, hash)
  }
  return hash
}

/**
 * The request's EIP-712 struct hash: both digests of a call build on it, so each side computes it
 * once per call and hands it to the functions below (each computes it itself when not given).
 */
export function requestStructHash (request: InferenceRequestTerms): Uint8Array {
  if (typeof request.model !== 'string') invalid('model', request.model)
  return structHash(REQUEST_TYPE_HASH, [
    modelHash(request.model),
    bytes32(request.inputHash, 'inputHash'),
    uint256(request.price, 'price'),
    bytes32(request.nonce, 'nonce'),
    address(request.client, 'client'),
    address(request.provider, 'provider')
  ])
}

function typedDataDigest (struct: Uint8Array): Uint8Array {
  const data = new Uint8Array(66)
  data[0] = 0x19
  data[1] = 0x01
  data.set(DOMAIN_SEPARATOR, 2)
  data.set(struct, 34)
  return keccak256(data)
}

/** The EIP-712 digest the client signs: hashTypedData(InferenceRequest). */
export function inferenceRequestDigest (request: InferenceRequestTerms, requestHash = requestStructHash(request)): Hex {
  return bytesToHex(typedDataDigest(requestHash))
}

/** The receipt's identity: the digest the provider signs, and its Merkle leaf when anchored. */
export function hashInferenceReceipt (receipt: Omit<InferenceReceipt, 'providerSignature'>, requestHash = requestStructHash(receipt.request)): Hex {
  if (typeof receipt.clientSignature !== 'string' || !isHex(receipt.clientSignature, { strict: true })) invalid('clientSignature', receipt.clientSignature)
  return bytesToHex(typedDataDigest(structHash(RECEIPT_TYPE_HASH, [
    requestHash,
    keccak256(hexToBytes(receipt.clientSignature)),
    bytes32(receipt.outputHash, 'outputHash')
  ])))
}

async function signDigest (account: LocalAccount, hash: Hex, typedData: () => Promise<Hex>): Promise<Hex> {
  // Both give the same signature (signTypedData signs this very digest, RFC 6979 nonces); `sign` skips re-hashing.
  return account.sign != null ? await account.sign({ hash }) : await typedData()
}

export async function signRequest (account: LocalAccount, request: InferenceRequestTerms, requestHash?: Uint8Array): Promise<Hex> {
  return await signDigest(account, inferenceRequestDigest(request, requestHash), async () => await account.signTypedData({ domain: RECEIPT_DOMAIN, types: INFERENCE_RECEIPT_TYPES, primaryType: 'InferenceRequest', message: request }))
}

export function recoverRequestSigner (request: InferenceRequestTerms, signature: Hex): Address {
  return recoverDigestSigner(inferenceRequestDigest(request), signature)
}

/** The receipt signed by the provider, and its hash (see {@link hashInferenceReceipt}). */
export async function signReceipt (account: LocalAccount, receipt: Omit<InferenceReceipt, 'providerSignature'>, requestHash?: Uint8Array): Promise<{ receipt: InferenceReceipt, hash: Hex }> {
  const hash = hashInferenceReceipt(receipt, requestHash)
  const signature = await signDigest(account, hash, async () => await account.signTypedData({ domain: RECEIPT_DOMAIN, types: INFERENCE_RECEIPT_TYPES, primaryType: 'InferenceReceipt', message: receipt }))
  return { receipt: { ...receipt, providerSignature: signature }, hash }
}

// --- verification ----------------------------------------------------------------------------------

/** Whether the client with `publicKey` signed these terms. */
export function requestSignedBy (request: InferenceRequestTerms, signature: Hex, publicKey: Uint8Array, requestHash?: Uint8Array): boolean {
  return signedBy(inferenceRequestDigest(request, requestHash), signature, publicKey)
}

/** Whether the provider with `publicKey` signed this receipt. */
export function receiptSignedBy (receipt: InferenceReceipt, publicKey: Uint8Array): boolean {
  try {
    return signedBy(hashInferenceReceipt(receipt), receipt.providerSignature, publicKey)
  } catch {
    return false
  }
}

/** Whether the provider named in the receipt signed it. */
export function providerSigned (receipt: InferenceReceipt): boolean {
  try {
    const provider = recoverDigestSigner(hashInferenceReceipt(receipt), receipt.providerSignature)
    return provider.toLowerCase() === receipt.request.provider.toLowerCase()
  } catch {
    return false
  }
}

/** Both signatures, from the right parties. */
export function verifyInferenceReceipt (receipt: InferenceReceipt): { valid: boolean, reason?: string } {
  try {
    const client = recoverRequestSigner(receipt.request, receipt.clientSignature)
    if (client.toLowerCase() !== receipt.request.client.toLowerCase()) return { valid: false, reason: `the request is signed by ${client}, not by the client ${receipt.request.client}` }
    const provider = recoverDigestSigner(hashInferenceReceipt(receipt), receipt.providerSignature)
    if (provider.toLowerCase() !== receipt.request.provider.toLowerCase()) return { valid: false, reason: `the receipt is signed by ${provider}, not by the provider ${receipt.request.provider}` }
    return { valid: true }
  } catch (err: any) {
    return { valid: false, reason: `malformed signature: ${err.shortMessage ?? err.message}` }
  }
}
