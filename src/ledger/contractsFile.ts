import fs from 'node:fs/promises'
import { getAddress, isAddress, type Address } from 'viem'
import { InvalidInputError } from '../errors.ts'

export interface ContractAddresses {
  registry: Address
  token: Address
  marketplace: Address
  anchor: Address
  /**
   * PaymentChannels. Absent from contracts files written before it existed: the embedded chain deploys
   * it on its next start; elsewhere the payment-channel actions fail with PaymentChannelsNotDeployedError.
   */
  paymentChannels?: Address
  /**
   * FederatedRounds. Absent from contracts files written before it existed: the embedded chain deploys
   * it on its next start; elsewhere the federated-learning actions fail with FederatedRoundsNotDeployedError.
   */
  federatedRounds?: Address
}

/**
 * Where the contracts of a network live: written by `deployContracts`, read by every node of the
 * network (`contracts.json` in the embedded chain's directory, or a file given with `--chain-rpc`).
 */
export interface ContractsFile {
  chainId: number
  deployer: Address
  /** Block of the first deployment: where reading the contracts' history starts. */
  deployBlock: number
  contracts: ContractAddresses
}

const CONTRACT_KEYS = ['registry', 'token', 'marketplace', 'anchor'] as const
/** Contracts added after the first deployments: an older file without them stays readable. */
const OPTIONAL_CONTRACT_KEYS = ['paymentChannels', 'federatedRounds'] as const

export async function readContractsFile (file: string): Promise<ContractsFile | undefined> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err: any) {
    if (err.code === 'ENOENT') return undefined
    throw err
  }
  return parseContractsFile(text, file)
}

export function parseContractsFile (text: string, source = 'contracts file'): ContractsFile {
  const bad = (why: string): InvalidInputError => new InvalidInputError(`Invalid ${source}: ${why}.`, {
    hint: 'Use the contracts file written by `myc chain deploy` (JSON with chainId, deployer, deployBlock and contracts).'
  })
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    throw bad('not JSON')
  }
  if (!Number.isSafeInteger(json?.chainId) || json.chainId <= 0) throw bad('chainId must be a positive integer')
  if (!Number.isSafeInteger(json.deployBlock) || json.deployBlock < 0) throw bad('deployBlock must be a block number')
  if (typeof json.deployer !== 'string' || !isAddress(json.deployer)) throw bad('deployer must be an address')
  const contracts: Partial<ContractAddresses> = {}
  for (const key of CONTRACT_KEYS) {
    const value = json.contracts?.[key]
    if (typeof value !== 'string' || !isAddress(value)) throw bad(`contracts.${key} must be an address`)
    contracts[key] = getAddress(value)
  }
  for (const key of OPTIONAL_CONTRACT_KEYS) {
    const value = json.contracts[key]
    if (value == null) continue
    if (typeof value !== 'string' || !isAddress(value)) throw bad(`contracts.${key} must be an address`)
    contracts[key] = getAddress(value)
  }
  return { chainId: json.chainId, deployer: getAddress(json.deployer), deployBlock: json.deployBlock, contracts: contracts as ContractAddresses }
}

export async function writeContractsFile (file: string, contents: ContractsFile): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`
  await fs.writeFile(temporary, JSON.stringify(contents, null, 2) + '\n')
  await fs.rename(temporary, file)
}
