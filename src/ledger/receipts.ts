import { hashTypedData, type Address, type Hex, type LocalAccount } from 'viem'
import { recoverDigestSigner } from '../identity/secp256k1.ts'

/**
 * Usage and validation receipts: EIP-712 typed data signed by the node that attests the interaction
 * (the one that served a pull or an inference, the validator of a training round). Their hashes (the
 * EIP-712 digests) are the values of the Merkle trees anchored by UsageAnchor, so anyone holding a receipt,
 * its signature and its proof can check it with standard tools.
 */
export const RECEIPT_DOMAIN = { name: 'Mycelium', version: '1' } as const

export const RECEIPT_TYPES = {
  UsageReceipt: [
    { name: 'kind', type: 'string' },
    { name: 'model', type: 'string' },
    { name: 'manifestCid', type: 'string' },
    { name: 'provider', type: 'address' },
    { name: 'consumer', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'timestamp', type: 'uint64' },
    { name: 'nonce', type: 'bytes32' }
  ]
} as const

export interface UsageReceipt {
  /** What happened: `pull`, `inference`, `training`, `validation`… */
  kind: string
  /** Model name. */
  model: string
  manifestCid: string
  provider: Address
  consumer: Address
  /** Bytes served, requests answered, samples trained… as `kind` says. */
  amount: bigint
  /** Seconds since the epoch. */
  timestamp: bigint
  /** Random, so two identical interactions have distinct receipts. */
  nonce: Hex
}

export interface SignedUsageReceipt {
  receipt: UsageReceipt
  signature: Hex
  /** The EIP-712 digest: the receipt's identity and its Merkle value. */
  hash: Hex
}

function typed (receipt: UsageReceipt) {
  return { domain: RECEIPT_DOMAIN, types: RECEIPT_TYPES, primaryType: 'UsageReceipt' as const, message: receipt }
}

export function hashUsageReceipt (receipt: UsageReceipt): Hex {
  return hashTypedData(typed(receipt))
}

export async function signUsageReceipt (account: LocalAccount, receipt: UsageReceipt): Promise<SignedUsageReceipt> {
  const signature = await account.signTypedData!(typed(receipt))
  return { receipt, signature, hash: hashUsageReceipt(receipt) }
}

export async function recoverUsageReceiptSigner (signed: Pick<SignedUsageReceipt, 'receipt' | 'signature'>): Promise<Address> {
  return recoverDigestSigner(hashUsageReceipt(signed.receipt), signed.signature)
}
