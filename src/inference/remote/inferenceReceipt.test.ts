import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { bytesToHex, hashTypedData, hexToBytes, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { fastPrivateKeyAccount } from '../../identity/secp256k1.ts'
import { RECEIPT_DOMAIN } from '../../ledger/receipts.ts'
import {
  hashInferenceReceipt, inferenceRequestDigest, INFERENCE_RECEIPT_TYPES, newNonce, providerSigned, receiptSignedBy,
  recoverRequestSigner, requestSignedBy, requestStructHash, signReceipt, signRequest, verifyInferenceReceipt, type InferenceRequestTerms
} from './inferenceReceipt.ts'

// Fixed keys: the client's checksummed address has several letters of each case.
const clientKey = hexToBytes(`0x${'11'.repeat(32)}`)
const providerKey = hexToBytes(`0x${'22'.repeat(32)}`)
const client = privateKeyToAccount(bytesToHex(clientKey))
const provider = privateKeyToAccount(bytesToHex(providerKey))
const clientPublic = secp256k1.getPublicKey(clientKey, true)
const providerPublic = secp256k1.getPublicKey(providerKey, true)

function terms (overrides: Partial<InferenceRequestTerms> = {}): InferenceRequestTerms {
  return {
    model: 'bafyreiaekgnfkwremkrppxalqrdsaruedutfx7ep4boqm7dhgpklzmem3e',
    inputHash: newNonce(),
    price: 10n ** 18n + 7n,
    nonce: newNonce(),
    client: client.address,
    provider: provider.address,
    ...overrides
  }
}

describe('inference receipts', () => {
  it('hash the request and the receipt exactly as EIP-712 (viem) does', () => {
    for (const price of [0n, 1n, 10n ** 18n, (1n << 256n) - 1n]) {
      const request = terms({ price, model: `bafy-${price}-ünïcode`, client: client.address.toLowerCase() as Hex })
      assert.equal(inferenceRequestDigest(request), hashTypedData({ domain: RECEIPT_DOMAIN, types: INFERENCE_RECEIPT_TYPES, primaryType: 'InferenceRequest', message: request }))
      const receipt = { request, clientSignature: `0x${'ab'.repeat(65)}` as Hex, outputHash: newNonce() }
      assert.equal(hashInferenceReceipt(receipt), hashTypedData({ domain: RECEIPT_DOMAIN, types: INFERENCE_RECEIPT_TYPES, primaryType: 'InferenceReceipt', message: receipt }))
    }
  })

  it('refuse what EIP-712 refuses: a bad checksum, a short hash, a price beyond uint256', () => {
    // The checksummed address with the case of one letter flipped (a checksummed address has upper and lower letters).
    const letter = client.address.slice(2).search(/[a-fA-F]/) + 2
    const flipped = client.address[letter] === client.address[letter].toUpperCase() ? client.address[letter].toLowerCase() : client.address[letter].toUpperCase()
    const mixed = `${client.address.slice(0, letter)}${flipped}${client.address.slice(letter + 1)}` as Hex
    assert.ok(/[a-f]/.test(mixed) && /[A-F]/.test(mixed), 'still mixed case')
    assert.throws(() => inferenceRequestDigest(terms({ client: mixed })))
    assert.throws(() => inferenceRequestDigest(terms({ inputHash: '0x1234' })))
    assert.throws(() => inferenceRequestDigest(terms({ price: 1n << 256n })))
    assert.throws(() => inferenceRequestDigest(terms({ price: -1n })))
  })

  it('sign the digests as signTypedData does, and verify against the signer\'s key', async () => {
    const request = terms()
    const signature = await signRequest(client, request)
    assert.equal(await signRequest(fastPrivateKeyAccount(clientKey), request), signature, 'the node\'s account signs the same bytes')
    assert.equal(signature, await client.signTypedData({ domain: RECEIPT_DOMAIN, types: INFERENCE_RECEIPT_TYPES, primaryType: 'InferenceRequest', message: request }))
    assert.equal(await recoverRequestSigner(request, signature), client.address)
    assert.ok(requestSignedBy(request, signature, clientPublic))
    assert.ok(requestSignedBy(request, signature, secp256k1.Point.fromBytes(clientPublic).toBytes(false)))
    assert.ok(!requestSignedBy(request, signature, providerPublic))
    assert.ok(!requestSignedBy({ ...request, price: request.price + 1n }, signature, clientPublic))

    const { receipt, hash } = await signReceipt(provider, { request, clientSignature: signature, outputHash: newNonce() })
    assert.equal(hash, hashInferenceReceipt(receipt))
    assert.equal(hashInferenceReceipt(receipt, requestStructHash(request)), hash)
    assert.equal(receipt.providerSignature, await provider.signTypedData({ domain: RECEIPT_DOMAIN, types: INFERENCE_RECEIPT_TYPES, primaryType: 'InferenceReceipt', message: receipt }))
    assert.ok(receiptSignedBy(receipt, providerPublic))
    assert.ok(await providerSigned(receipt))
    assert.deepEqual(await verifyInferenceReceipt(receipt), { valid: true })
    assert.ok(!receiptSignedBy(receipt, clientPublic))
    assert.ok(!receiptSignedBy({ ...receipt, outputHash: newNonce() }, providerPublic))
  })
})
