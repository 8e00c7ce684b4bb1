import path from 'node:path'
import { createPublicClient, encodeFunctionData, type Address, type PublicClient } from 'viem'
import { InvalidInputError } from '../../errors.ts'
import { logger } from '../../utils/logger.ts'
import { mycTokenAbi } from '../artifacts/MycToken.ts'
import { CONTRACTS_FILE, DEFAULT_FAUCET_ETH, DEFAULT_FAUCET_TOKENS, MAX_FAUCET_ETH, MAX_FAUCET_TOKENS } from '../constants.ts'
import { readContractsFile } from '../contractsFile.ts'
import { embeddedTransport, viemChain, type Ledger } from '../createLedger.ts'
import { FaucetDisabledError, LedgerError, toLedgerError } from '../errors.ts'
import { TransactionSender } from '../transactions.ts'
import type { EmbeddedChain } from './createEmbeddedChain.ts'
import type { Hex } from 'viem'

const log = logger('ledger:faucet')

export interface FundFromFaucetParameters {
  to: Address
  /** Wei of ether for gas (default 10 ETH); 0 for none. */
  eth?: bigint
  /** Token base units (default 1,000 MYC); 0 for none. */
  tokens?: bigint
  /** The token; by default the one in the chain's `contracts.json`. */
  token?: Address
}

export interface FundFromFaucetReturnType {
  ethTransaction?: Hex
  tokenTransaction?: Hex
}

// One sender per chain: the faucet's nonces are assigned in one place however many requests come at once.
const senders = new WeakMap<EmbeddedChain, TransactionSender>()

function faucetSender (chain: EmbeddedChain): TransactionSender {
  let sender = senders.get(chain)
  if (sender == null) {
    const client = createPublicClient({ chain: viemChain(chain.chainId), transport: embeddedTransport(chain) }) as PublicClient
    sender = new TransactionSender({ client, account: chain.accounts.faucet, chainId: chain.chainId, embedded: true })
    senders.set(chain, sender)
  }
  return sender
}

/**
 * The dev faucet: sends gas money and mints test tokens to `to` from the embedded chain's faucet account
 * (ordinary signed transactions, journaled like any). Refused on an external chain.
 */
export async function fundFromFaucet (target: EmbeddedChain | Ledger, parameters: FundFromFaucetParameters, options?: { signal?: AbortSignal }): Promise<FundFromFaucetReturnType> {
  const chain = 'kind' in target ? target : target.embedded
  if (chain == null) throw new FaucetDisabledError()
  const eth = parameters.eth ?? DEFAULT_FAUCET_ETH
  const tokens = parameters.tokens ?? DEFAULT_FAUCET_TOKENS
  if (eth < 0n || eth > MAX_FAUCET_ETH) throw new InvalidInputError(`The faucet gives 0 to ${MAX_FAUCET_ETH / 10n ** 18n} ETH at a time.`)
  if (tokens < 0n || tokens > MAX_FAUCET_TOKENS) throw new InvalidInputError(`The faucet gives 0 to ${MAX_FAUCET_TOKENS / 10n ** 18n} tokens at a time.`)

  const sender = faucetSender(chain)
  const result: FundFromFaucetReturnType = {}
  try {
    if (eth > 0n) result.ethTransaction = (await sender.send({ to: parameters.to, data: '0x', value: eth, gas: 21_000n }, options)).transactionHash
    if (tokens > 0n) {
      const token = parameters.token ?? ('kind' in target ? await tokenOf(chain) : target.addresses.token)
      const data = encodeFunctionData({ abi: mycTokenAbi, functionName: 'mint', args: [parameters.to, tokens] })
      result.tokenTransaction = (await sender.send({ to: token, data }, options)).transactionHash
    }
  } catch (err) {
    throw toLedgerError(err, { action: 'fund from the faucet' })
  }
  log('funded %s with %d wei and %d token units', parameters.to, eth, tokens)
  return result
}

async function tokenOf (chain: EmbeddedChain): Promise<Address> {
  const deployment = chain.dir != null ? await readContractsFile(path.join(chain.dir, CONTRACTS_FILE)) : undefined
  if (deployment == null) throw new LedgerError('The faucet does not know the token: no contracts are deployed on this chain yet.', { code: 'CONTRACTS_NOT_DEPLOYED', status: 503 })
  return deployment.contracts.token
}
