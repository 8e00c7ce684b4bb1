import { bytesToHex, hexToBytes, type Address } from 'viem'
import { InvalidInputError } from '../../errors.ts'
import { federatedRoundsAbi } from '../artifacts/FederatedRounds.ts'
import { assertCid, assertJobId, assertRound, federatedRoundsOf } from '../federatedRounds.ts'
import { readContract, writeContract, type WriteResult } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

/** Secure aggregation, step 1 of a round: the account's two X25519 public keys for the round. */
export async function advertiseMaskingKeys (ledger: Ledger, parameters: { jobId: bigint, round: number, encryptionKey: Uint8Array, maskingKey: Uint8Array }, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  assertJobId(parameters.jobId)
  assertRound(parameters.round)
  for (const key of [parameters.encryptionKey, parameters.maskingKey]) {
    if (key.length !== 32) throw new InvalidInputError(`An X25519 public key is 32 bytes, not ${key.length}.`)
  }
  const action = `advertise masking keys for round ${parameters.round} of federated job ${parameters.jobId}`
  const { address } = federatedRoundsOf(ledger, action)
  return await writeContract(ledger, {
    address,
    abi: federatedRoundsAbi,
    functionName: 'advertiseMaskingKeys',
    args: [parameters.jobId, BigInt(parameters.round), bytesToHex(parameters.encryptionKey), bytesToHex(parameters.maskingKey)],
    action
  }, options)
}

/** Step 2: the CID of the account's encrypted key shares for the round. */
export async function publishKeyShares (ledger: Ledger, parameters: { jobId: bigint, round: number, sharesCid: string }, options?: { signal?: AbortSignal }): Promise<WriteResult> {
  assertJobId(parameters.jobId)
  assertRound(parameters.round)
  assertCid(parameters.sharesCid, 'key shares')
  const action = `publish key shares for round ${parameters.round} of federated job ${parameters.jobId}`
  const { address } = federatedRoundsOf(ledger, action)
  return await writeContract(ledger, {
    address,
    abi: federatedRoundsAbi,
    functionName: 'publishKeyShares',
    args: [parameters.jobId, BigInt(parameters.round), parameters.sharesCid],
    action
  }, options)
}

export interface RoundMaskingKeys {
  /** In advertising order. */
  members: Array<{ participant: Address, encryptionKey: Uint8Array, maskingKey: Uint8Array, sharesCid?: string }>
  /** The masking set (members) is final. */
  keyPhaseClosed: boolean
  /** The maskers (members with shares) are final: masked updates may be made. */
  sharesPhaseClosed: boolean
}

export async function getMaskingKeys (ledger: Ledger, parameters: { jobId: bigint, round: number }, options?: { signal?: AbortSignal }): Promise<RoundMaskingKeys> {
  options?.signal?.throwIfAborted()
  assertJobId(parameters.jobId)
  assertRound(parameters.round)
  const { contract } = federatedRoundsOf(ledger, 'read masking keys')
  const [participants, encryptionKeys, maskingKeys, sharesCids, keyPhaseClosed, sharesPhaseClosed] = await readContract(ledger, `read the masking keys of round ${parameters.round} of federated job ${parameters.jobId}`,
    async () => await contract.read.maskingKeysOf([parameters.jobId, BigInt(parameters.round)]))
  return {
    members: participants.map((participant, i) => ({
      participant,
      encryptionKey: hexToBytes(encryptionKeys[i]),
      maskingKey: hexToBytes(maskingKeys[i]),
      ...(sharesCids[i] !== '' ? { sharesCid: sharesCids[i] } : {})
    })),
    keyPhaseClosed,
    sharesPhaseClosed
  }
}
