import { encodeFunctionData, parseEventLogs, type Abi, type Address, type ContractFunctionArgs, type ContractFunctionName, type Hex, type TransactionReceipt } from 'viem'
import { toLedgerError } from './errors.ts'
import type { Ledger } from './createLedger.ts'

export interface WriteResult {
  hash: Hex
  blockNumber: bigint
  receipt: TransactionReceipt
}

export interface WriteContractParameters<abi extends Abi, functionName extends ContractFunctionName<abi, 'nonpayable' | 'payable'>> {
  address: Address
  abi: abi
  functionName: functionName
  args: ContractFunctionArgs<abi, 'nonpayable' | 'payable', functionName>
  /** What the write does, for error messages ("publish acme/mlp@1.0.0"). */
  action: string
  gas?: bigint
}

/**
 * Sends a contract call from the ledger's account and waits until it is mined. A call the contract
 * would refuse fails before anything is sent (gas estimation runs it), with the decoded reason.
 */
export async function writeContract<const abi extends Abi, functionName extends ContractFunctionName<abi, 'nonpayable' | 'payable'>> (
  ledger: Ledger,
  parameters: WriteContractParameters<abi, functionName>,
  options?: { signal?: AbortSignal }
): Promise<WriteResult> {
  const sender = ledger.sender(parameters.action)
  const data = encodeFunctionData({ abi: parameters.abi, functionName: parameters.functionName, args: parameters.args } as any)
  try {
    const receipt = await sender.send({ to: parameters.address, data, ...(parameters.gas != null ? { gas: parameters.gas } : {}) }, options)
    return { hash: receipt.transactionHash, blockNumber: receipt.blockNumber, receipt }
  } catch (err) {
    throw toLedgerError(err, { action: parameters.action, ...(ledger.rpcUrl != null ? { rpcUrl: ledger.rpcUrl } : {}) })
  }
}

/** The first event `eventName` of `abi` in a receipt's logs. */
export function findEvent<const abi extends Abi> (receipt: TransactionReceipt, abi: abi, eventName: string): { args: any } | undefined {
  return (parseEventLogs({ abi, logs: receipt.logs }) as Array<{ eventName: string, args: any }>).find(log => log.eventName === eventName)
}

/** Reads a contract; errors come back decoded. */
export async function readContract<T> (ledger: Pick<Ledger, 'rpcUrl'>, action: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (err) {
    throw toLedgerError(err, { action, ...(ledger.rpcUrl != null ? { rpcUrl: ledger.rpcUrl } : {}) })
  }
}
