import path from 'node:path'
import { http } from 'viem'
import { loadKeyFile } from '../identity/keyFile.ts'
import { homePaths } from '../node/home.ts'
import { writeContractsFile, type ContractsFile } from './contractsFile.ts'
import { deployContracts } from './deployContracts.ts'
import { ChainUnreachableError } from './errors.ts'

export interface DeployToRpcParameters {
  home: string
  rpcUrl: string
  output: string
  passphrase?: string
}

/** `myc chain deploy`: deploys the contracts on any EVM chain with the node key and writes the contracts file. */
export async function deployToRpc ({ home, rpcUrl, output, passphrase }: DeployToRpcParameters): Promise<ContractsFile> {
  const identity = await loadKeyFile(homePaths(home).keyFile, passphrase)
  let chainId: number
  try {
    const response = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }), signal: AbortSignal.timeout(10_000) })
    chainId = Number((await response.json() as { result: string }).result)
  } catch (err) {
    throw new ChainUnreachableError(rpcUrl, err)
  }
  const deployment = await deployContracts({ transport: http(rpcUrl), chainId, deployer: identity.account })
  await writeContractsFile(path.resolve(output), deployment)
  return deployment
}
