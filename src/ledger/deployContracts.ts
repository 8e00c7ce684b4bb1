import path from 'node:path'
import { createPublicClient, encodeDeployData, encodeFunctionData, getAddress, type Address, type LocalAccount, type PublicClient, type Transport } from 'viem'
import { logger } from '../utils/logger.ts'
import { marketplaceAbi, marketplaceBytecode } from './artifacts/Marketplace.ts'
import { modelRegistryBytecode } from './artifacts/ModelRegistry.ts'
import { mycTokenAbi, mycTokenBytecode } from './artifacts/MycToken.ts'
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

/**
 * Deploys ModelRegistry, MycToken, Marketplace and UsageAnchor in that order (so a fresh deployer
 * always gets the same addresses), then grants the minter role. Works on any EVM chain: it only signs
 * raw transactions with `deployer`.
 */
export async function deployContracts (parameters: DeployContractsParameters, options?: { signal?: AbortSignal }): Promise<ContractsFile> {
  const { transport, chainId, deployer } = parameters
  const client = createPublicClient({ chain: viemChain(chainId), transport }) as PublicClient
  const sender = new TransactionSender({ client, account: deployer, chainId, embedded: parameters.embedded ?? false })
  const deploy = async (name: string, data: `0x${string}`): Promise<{ address: Address, blockNumber: bigint }> => {
    try {
      const receipt = await sender.send({ data }, options)
      if (receipt.contractAddress == null) throw new ContractsNotDeployedError(name, 'no address', chainId)
      log('deployed %s at %s', name, receipt.contractAddress)
      return { address: getAddress(receipt.contractAddress), blockNumber: receipt.blockNumber }
    } catch (err) {
      throw toLedgerError(err, { action: `deploy ${name}` })
    }
  }

  const registry = await deploy('ModelRegistry', modelRegistryBytecode)
  const token = await deploy('MycToken', encodeDeployData({ abi: mycTokenAbi, bytecode: mycTokenBytecode, args: [deployer.address] }))
  const marketplace = await deploy('Marketplace', encodeDeployData({
    abi: marketplaceAbi,
    bytecode: marketplaceBytecode,
    args: [registry.address, token.address, BigInt(parameters.royaltyBps ?? DEFAULT_ROYALTY_BPS), deployer.address]
  }))
  const anchor = await deploy('UsageAnchor', usageAnchorBytecode)
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
    deployer: deployer.address,
    deployBlock: Number(registry.blockNumber),
    contracts: { registry: registry.address, token: token.address, marketplace: marketplace.address, anchor: anchor.address }
  }
  if (parameters.file != null) await writeContractsFile(parameters.file, deployment)
  return deployment
}

/**
 * The contracts of the embedded chain: deployed by its genesis deployer on first start (the faucet gets
 * the minter role), recorded in `contracts.json` in the chain's directory and reused on every later start.
 */
export async function ensureEmbeddedContracts (chain: EmbeddedChain, options?: { signal?: AbortSignal, royaltyBps?: number }): Promise<ContractsFile> {
  const file = chain.dir != null ? path.join(chain.dir, CONTRACTS_FILE) : undefined
  // A contracts file beside a chain created just now belongs to a chain that no longer exists.
  const existing = file != null && !chain.startup.created ? await readContractsFile(file) : undefined
  if (existing != null) {
    if (existing.chainId !== chain.chainId) throw new ContractsNotDeployedError('ModelRegistry', existing.contracts.registry, chain.chainId)
    return existing
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
