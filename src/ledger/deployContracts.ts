import path from 'node:path'
import { createPublicClient, encodeDeployData, encodeFunctionData, getAddress, type Address, type LocalAccount, type PublicClient, type Transport } from 'viem'
import { logger } from '../utils/logger.ts'
import { federatedRoundsAbi, federatedRoundsBytecode } from './artifacts/FederatedRounds.ts'
import { marketplaceAbi, marketplaceBytecode } from './artifacts/Marketplace.ts'
import { modelRegistryBytecode } from './artifacts/ModelRegistry.ts'
import { mycTokenAbi, mycTokenBytecode } from './artifacts/MycToken.ts'
import { paymentChannelsAbi, paymentChannelsBytecode } from './artifacts/PaymentChannels.ts'
import { usageAnchorBytecode } from './artifacts/UsageAnchor.ts'
import { CONTRACTS_FILE, DEFAULT_ROYALTY_BPS } from './constants.ts'
import { readContractsFile, writeContractsFile, type ContractsFile } from './contractsFile.ts'
import { embeddedTransport, viemChain } from './createLedger.ts'
import { ContractsNotDeployedError, toLedgerError } from './errors.ts'
import { TransactionSender } from './transactions.ts'
import type { EmbeddedChain } from './chain/createEmbeddedChain.ts'

const log = logger('ledger:deploy')

export interface DeployContractsParameters {
  /** The chain: a viem transport (an `http(url)` or the embedded chain's). */
  transport: Transport
  chainId: number
  /** Deploys, and administers the token (admin and minter) and the marketplace (royalty rate). */
  deployer: LocalAccount
  /** Royalty share of sales of derived models, in basis points (default 10%). */
  royaltyBps?: number
  /** Further accounts allowed to mint tokens (the faucet, a rewards service). */
  minters?: Address[]
  /** Writes the result here (e.g. `contracts.json`). */
  file?: string
  /** Whether the chain is the embedded one (answers transactions once mined). */
  embedded?: boolean
}

type Deploy = (name: string, data: `0x${string}`) => Promise<{ address: Address, blockNumber: bigint }>

function deployer (parameters: Pick<DeployContractsParameters, 'transport' | 'chainId' | 'deployer' | 'embedded'>, options?: { signal?: AbortSignal }): { client: PublicClient, sender: TransactionSender, deploy: Deploy } {
  const { transport, chainId } = parameters
  const client = createPublicClient({ chain: viemChain(chainId), transport }) as PublicClient
  const sender = new TransactionSender({ client, account: parameters.deployer, chainId, embedded: parameters.embedded ?? false })
  const deploy: Deploy = async (name, data) => {
    try {
      const receipt = await sender.send({ data }, options)
      if (receipt.contractAddress == null) throw new ContractsNotDeployedError(name, 'no address', chainId)
      log('deployed %s at %s', name, receipt.contractAddress)
      return { address: getAddress(receipt.contractAddress), blockNumber: receipt.blockNumber }
    } catch (err) {
      throw toLedgerError(err, { action: `deploy ${name}` })
    }
  }
  return { client, sender, deploy }
}

const paymentChannelsDeployData = (token: Address): `0x${string}` =>
  encodeDeployData({ abi: paymentChannelsAbi, bytecode: paymentChannelsBytecode, args: [token] })
const federatedRoundsDeployData = (token: Address): `0x${string}` =>
  encodeDeployData({ abi: federatedRoundsAbi, bytecode: federatedRoundsBytecode, args: [token] })

/**
 * Deploys ModelRegistry, MycToken, Marketplace, UsageAnchor, PaymentChannels and FederatedRounds in that order (so a fresh
 * deployer always gets the same addresses; contracts added later come last, so the older ones keep
 * theirs), then grants the minter role. Works on any EVM chain: it only signs raw transactions with
 * `deployer`.
 */
export async function deployContracts (parameters: DeployContractsParameters, options?: { signal?: AbortSignal }): Promise<ContractsFile> {
  const { chainId, deployer: account } = parameters
  const { client, sender, deploy } = deployer(parameters, options)

  const registry = await deploy('ModelRegistry', modelRegistryBytecode)
  const token = await deploy('MycToken', encodeDeployData({ abi: mycTokenAbi, bytecode: mycTokenBytecode, args: [account.address] }))
  const marketplace = await deploy('Marketplace', encodeDeployData({
    abi: marketplaceAbi,
    bytecode: marketplaceBytecode,
    args: [registry.address, token.address, BigInt(parameters.royaltyBps ?? DEFAULT_ROYALTY_BPS), account.address]
  }))
  const anchor = await deploy('UsageAnchor', usageAnchorBytecode)
  const paymentChannels = await deploy('PaymentChannels', paymentChannelsDeployData(token.address))
  const federatedRounds = await deploy('FederatedRounds', federatedRoundsDeployData(token.address))
  const minterRole = await client.readContract({ address: token.address, abi: mycTokenAbi, functionName: 'MINTER_ROLE' })
  for (const minter of parameters.minters ?? []) {
    try {
      await sender.send({ to: token.address, data: encodeFunctionData({ abi: mycTokenAbi, functionName: 'grantRole', args: [minterRole, minter] }) }, options)
    } catch (err) {
      throw toLedgerError(err, { action: `grant the minter role to ${minter}` })
    }
  }

  const deployment: ContractsFile = {
    chainId,
    deployer: account.address,
    deployBlock: Number(registry.blockNumber),
    contracts: {
      registry: registry.address,
      token: token.address,
      marketplace: marketplace.address,
      anchor: anchor.address,
      paymentChannels: paymentChannels.address,
      federatedRounds: federatedRounds.address
    }
  }
  if (parameters.file != null) await writeContractsFile(parameters.file, deployment)
  return deployment
}

export interface DeployPaymentChannelsParameters extends Pick<DeployContractsParameters, 'transport' | 'chainId' | 'deployer' | 'file' | 'embedded'> {
  /** The deployment to complete: a contracts file written before PaymentChannels existed. */
  deployment: ContractsFile
}

/**
 * Adds PaymentChannels (paid in the deployment's token) to an existing deployment and returns the
 * completed contracts file (written to `file` if given). Any account may deploy it: it has no admin.
 */
export async function deployPaymentChannels (parameters: DeployPaymentChannelsParameters, options?: { signal?: AbortSignal }): Promise<ContractsFile> {
  const { deployment } = parameters
  const { deploy } = deployer(parameters, options)
  const paymentChannels = await deploy('PaymentChannels', paymentChannelsDeployData(deployment.contracts.token))
  const completed: ContractsFile = { ...deployment, contracts: { ...deployment.contracts, paymentChannels: paymentChannels.address } }
  if (parameters.file != null) await writeContractsFile(parameters.file, completed)
  return completed
}

export interface DeployFederatedRoundsParameters extends Pick<DeployContractsParameters, 'transport' | 'chainId' | 'deployer' | 'file' | 'embedded'> {
  /** The deployment to complete: a contracts file written before FederatedRounds existed. */
  deployment: ContractsFile
}

/**
 * Adds FederatedRounds (paid in the deployment's token) to an existing deployment and returns the
 * completed contracts file (written to `file` if given). Any account may deploy it: it has no admin.
 */
export async function deployFederatedRounds (parameters: DeployFederatedRoundsParameters, options?: { signal?: AbortSignal }): Promise<ContractsFile> {
  const { deployment } = parameters
  const { deploy } = deployer(parameters, options)
  const federatedRounds = await deploy('FederatedRounds', federatedRoundsDeployData(deployment.contracts.token))
  const completed: ContractsFile = { ...deployment, contracts: { ...deployment.contracts, federatedRounds: federatedRounds.address } }
  if (parameters.file != null) await writeContractsFile(parameters.file, completed)
  return completed
}

/**
 * The contracts of the embedded chain: deployed by its genesis deployer on first start (the faucet gets
 * the minter role), recorded in `contracts.json` in the chain's directory and reused on every later start.
 * A `contracts.json` older than PaymentChannels or FederatedRounds gets them deployed and recorded on the next start.
 */
export async function ensureEmbeddedContracts (chain: EmbeddedChain, options?: { signal?: AbortSignal, royaltyBps?: number }): Promise<ContractsFile> {
  const file = chain.dir != null ? path.join(chain.dir, CONTRACTS_FILE) : undefined
  // A contracts file beside a chain created just now belongs to a chain that no longer exists.
  const existing = file != null && !chain.startup.created ? await readContractsFile(file) : undefined
  if (existing != null) {
    if (existing.chainId !== chain.chainId) throw new ContractsNotDeployedError('ModelRegistry', existing.contracts.registry, chain.chainId)
    // A chain deployed before PaymentChannels or FederatedRounds existed: add what is missing now, in
    // deployment order (its deployer's key is the chain's), so an existing dev chain keeps its models,
    // licences and balances.
    let completed = existing
    const common = { transport: embeddedTransport(chain), chainId: chain.chainId, deployer: chain.accounts.deployer, embedded: true, ...(file != null ? { file } : {}) }
    if (completed.contracts.paymentChannels == null) {
      log('adding PaymentChannels to the contracts of %s', file)
      completed = await deployPaymentChannels({ ...common, deployment: completed }, options)
    }
    if (completed.contracts.federatedRounds == null) {
      log('adding FederatedRounds to the contracts of %s', file)
      completed = await deployFederatedRounds({ ...common, deployment: completed }, options)
    }
    return completed
  }
  return await deployContracts({
    transport: embeddedTransport(chain),
    chainId: chain.chainId,
    deployer: chain.accounts.deployer,
    minters: [chain.accounts.faucet.address],
    embedded: true,
    ...(options?.royaltyBps != null ? { royaltyBps: options.royaltyBps } : {}),
    ...(file != null ? { file } : {})
  }, options)
}
