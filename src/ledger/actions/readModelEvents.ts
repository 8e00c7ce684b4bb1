import { decodeEventLog, encodeEventTopics, hexToBigInt, keccak256, numberToHex, toHex, zeroAddress, type Abi, type Address, type Hex } from 'viem'
import { marketplaceAbi } from '../artifacts/Marketplace.ts'
import { modelRegistryAbi } from '../artifacts/ModelRegistry.ts'
import { usageAnchorAbi } from '../artifacts/UsageAnchor.ts'
import { LOG_RANGE_BLOCKS } from '../constants.ts'
import { readContract } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

export type ModelEventContract = 'registry' | 'marketplace' | 'anchor' | 'federated'

/** One on-chain event about a model, as `myc audit` shows it. */
export interface ModelEvent {
  contract: ModelEventContract
  /** The Solidity event: ModelRegistered, VersionAdded, Listed, Purchased, Rented, RoyaltyPaid, Anchored… */
  eventName: string
  /** Decoded arguments, as named in the contract. */
  args: Record<string, unknown>
  /**
   * The account the event is about: the registrant, publisher, approver, previous owner, seller, buyer,
   * renter, royalty recipient, or anchoring node; for federated jobs the sponsor, participant, attester
   * or validator (the zero address for RoundFinalized and JobPaidOut, which nobody in particular caused).
   */
  actor: Address
  blockNumber: bigint
  /** Block time, seconds since the epoch. */
  timestamp: number
  transactionHash: Hex
  logIndex: number
}

interface RawLog {
  address: Address
  topics: Hex[]
  data: Hex
  blockNumber: Hex
  transactionHash: Hex
  logIndex: Hex
}

const ACTOR_ARGUMENT: Record<string, string> = {
  ModelRegistered: 'owner',
  VersionAdded: 'publisher',
  VersionDeprecated: 'actor',
  PublisherApproved: 'actor',
  PublisherRevoked: 'actor',
  ModelTransferred: 'previousOwner',
  Listed: 'seller',
  Unlisted: 'seller',
  Purchased: 'buyer',
  Rented: 'renter',
  RoyaltyPaid: 'recipient',
  Anchored: 'submitter',
  JobOpened: 'sponsor',
  Joined: 'participant',
  UpdateCommitted: 'participant',
  Attested: 'attester',
  Slashed: 'attester',
  MetricPosted: 'validator',
  UpdateRejected: 'participant',
  ParticipantPaid: 'participant'
}

/**
 * Every event about a model, oldest first: its registration, versions, deprecations, publishers,
 * transfers, listings, sales, rentals, royalties it paid or earned (as a parent), and usage anchors whose
 * subject is the model. Reads `eth_getLogs` from the deployment block on, in ranges that external
 * chains accept.
 */
export async function readModelEvents (ledger: Ledger, parameters: { name: string, fromBlock?: bigint, toBlock?: bigint }, options?: { signal?: AbortSignal }): Promise<ModelEvent[]> {
  const nameHash = keccak256(toHex(parameters.name))
  const { registry, marketplace, anchor } = ledger.addresses
  const royaltyAsParent = encodeEventTopics({ abi: marketplaceAbi, eventName: 'RoyaltyPaid' })[0]
  const anchored = encodeEventTopics({ abi: usageAnchorAbi, eventName: 'Anchored' })[0]
  const filters = [
    // Every registry and marketplace event indexes the name hash first (RoyaltyPaid: of the model sold).
    { address: [registry, marketplace], topics: [null, nameHash] },
    { address: marketplace, topics: [royaltyAsParent, null, nameHash] },
    { address: anchor, topics: [anchored, null, nameHash] }
  ]
  return await readDecodedLogs(ledger, {
    filters,
    sources: {
      [registry.toLowerCase()]: { contract: 'registry', abi: modelRegistryAbi },
      [marketplace.toLowerCase()]: { contract: 'marketplace', abi: marketplaceAbi },
      [anchor.toLowerCase()]: { contract: 'anchor', abi: usageAnchorAbi }
    },
    fromBlock: parameters.fromBlock,
    toBlock: parameters.toBlock,
    what: `the events of ${parameters.name}`
  }, options)
}

export interface ReadDecodedLogsParameters {
  filters: Array<{ address: Address | Address[], topics: Array<Hex | Hex[] | null> }>
  /** Lower-case contract address → which contract it is and its ABI. */
  sources: Record<string, { contract: ModelEventContract, abi: Abi }>
  fromBlock?: bigint
  toBlock?: bigint
  /** For error messages: "the events of NAME". */
  what: string
}

/**
 * The logs matching any of `filters`, decoded and in chain order, each with its block time. Reads
 * `eth_getLogs` from the deployment block on, in ranges that external chains accept.
 */
export async function readDecodedLogs (ledger: Ledger, parameters: ReadDecodedLogsParameters, options?: { signal?: AbortSignal }): Promise<ModelEvent[]> {
  const { filters } = parameters
  const from = parameters.fromBlock ?? BigInt(ledger.deployment.deployBlock)
  const to = parameters.toBlock ?? await readContract(ledger, 'read the block number', async () => await ledger.publicClient.getBlockNumber({ cacheTime: 0 }))

  const logs = new Map<string, RawLog>()
  for (let start = from; start <= to; start += LOG_RANGE_BLOCKS) {
    const end = start + LOG_RANGE_BLOCKS - 1n < to ? start + LOG_RANGE_BLOCKS - 1n : to
    for (const filter of filters) {
      options?.signal?.throwIfAborted()
      const found = await readContract(ledger, `read ${parameters.what}`, async () => await ledger.publicClient.request({
        method: 'eth_getLogs',
        params: [{ ...filter, fromBlock: numberToHex(start), toBlock: numberToHex(end) } as any]
      }) as unknown as RawLog[])
      for (const log of found) logs.set(`${log.blockNumber}:${log.logIndex}`, log)
    }
  }

  const abis = parameters.sources
  const timestamps = new Map<bigint, number>()
  const events: ModelEvent[] = []
  const sorted = [...logs.values()].sort((a, b) => Number(hexToBigInt(a.blockNumber) - hexToBigInt(b.blockNumber)) || Number(hexToBigInt(a.logIndex) - hexToBigInt(b.logIndex)))
  for (const log of sorted) {
    const source = abis[log.address.toLowerCase()]
    if (source == null) continue
    let decoded: { eventName: string, args: Record<string, unknown> }
    try {
      decoded = decodeEventLog({ abi: source.abi, topics: log.topics as [Hex, ...Hex[]], data: log.data }) as any
    } catch {
      continue // not one of ours (cannot happen with these filters, but a log is no reason to fail an audit)
    }
    const blockNumber = hexToBigInt(log.blockNumber)
    if (!timestamps.has(blockNumber)) {
      options?.signal?.throwIfAborted()
      const block = await readContract(ledger, 'read a block', async () => await ledger.publicClient.getBlock({ blockNumber }))
      timestamps.set(blockNumber, Number(block.timestamp))
    }
    events.push({
      contract: source.contract,
      eventName: decoded.eventName,
      args: decoded.args,
      actor: (decoded.args[ACTOR_ARGUMENT[decoded.eventName]] ?? zeroAddress) as Address,
      blockNumber,
      timestamp: timestamps.get(blockNumber)!,
      transactionHash: log.transactionHash,
      logIndex: Number(hexToBigInt(log.logIndex))
    })
  }
  return events
}
