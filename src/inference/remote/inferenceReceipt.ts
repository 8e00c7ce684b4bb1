import { createHash, randomBytes } from 'node:crypto'
import { bytesToHex, hashTypedData, recoverTypedDataAddress, type Address, type Hex, type LocalAccount } from 'viem'
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

export async function signRequest (account: LocalAccount, request: InferenceRequestTerms): Promise<Hex> {
  return await account.signTypedData({ domain: RECEIPT_DOMAIN, types: INFERENCE_RECEIPT_TYPES, primaryType: 'InferenceRequest', message: request })
}

export async function recoverRequestSigner (request: InferenceRequestTerms, signature: Hex): Promise<Address> {
  return await recoverTypedDataAddress({ domain: RECEIPT_DOMAIN, types: INFERENCE_RECEIPT_TYPES, primaryType: 'InferenceRequest', message: request, signature })
}

function receiptMessage (receipt: Omit<InferenceReceipt, 'providerSignature'>) {
  return { domain: RECEIPT_DOMAIN, types: INFERENCE_RECEIPT_TYPES, primaryType: 'InferenceReceipt' as const, message: receipt }
}

/** The receipt's identity: the digest the provider signs, and its Merkle leaf when anchored. */
export function hashInferenceReceipt (receipt: Omit<InferenceReceipt, 'providerSignature'>): Hex {
  return hashTypedData(receiptMessage(receipt))
}

export async function signReceipt (account: LocalAccount, receipt: Omit<InferenceReceipt, 'providerSignature'>): Promise<InferenceReceipt> {
  return { ...receipt, providerSignature: await account.signTypedData(receiptMessage(receipt)) }
}

/** Whether the provider named in the receipt signed it. */
export async function providerSigned (receipt: InferenceReceipt): Promise<boolean> {
  try {
    const provider = await recoverTypedDataAddress({ ...receiptMessage(receipt), signature: receipt.providerSignature })
    return provider.toLowerCase() === receipt.request.provider.toLowerCase()
  } catch {
    return false
  }
}

/** Both signatures, from the right parties. */
export async function verifyInferenceReceipt (receipt: InferenceReceipt): Promise<{ valid: boolean, reason?: string }> {
  try {
    const client = await recoverRequestSigner(receipt.request, receipt.clientSignature)
    if (client.toLowerCase() !== receipt.request.client.toLowerCase()) return { valid: false, reason: `the request is signed by ${client}, not by the client ${receipt.request.client}` }
    const provider = await recoverTypedDataAddress({ ...receiptMessage(receipt), signature: receipt.providerSignature })
    if (provider.toLowerCase() !== receipt.request.provider.toLowerCase()) return { valid: false, reason: `the receipt is signed by ${provider}, not by the provider ${receipt.request.provider}` }
    return { valid: true }
  } catch (err: any) {
    return { valid: false, reason: `malformed signature: ${err.shortMessage ?? err.message}` }
  }
}
