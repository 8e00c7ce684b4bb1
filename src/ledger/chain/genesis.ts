import { concat, keccak256, toHex, type Address, type Hex } from 'viem'
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts'
import { DEPLOYER_KEY_LABEL, FAUCET_KEY_LABEL, GENESIS_DEPLOYER_BALANCE, GENESIS_FAUCET_BALANCE } from '../constants.ts'

export interface GenesisAccounts {
  /** Funds joining nodes with gas and test tokens (it holds the token's minter role). */
  faucet: PrivateKeyAccount
  /** Deploys the contracts and administers them (royalty rate, token roles). */
  deployer: PrivateKeyAccount
}

/**
 * The genesis accounts of an embedded chain, derived from its seed: `key = keccak256(seed ‖ label)`.
 * The same seed always gives the same accounts, so a replay rebuilds the same genesis; the seed is
 * random per chain (kept in its journal), so the keys of one node's dev chain are not everybody's.
 */
export function genesisAccountsFromSeed (seed: Hex): GenesisAccounts {
  const derive = (label: string): PrivateKeyAccount => privateKeyToAccount(keccak256(concat([seed, toHex(label)])))
  return { faucet: derive(FAUCET_KEY_LABEL), deployer: derive(DEPLOYER_KEY_LABEL) }
}

export function genesisAllocation (accounts: GenesisAccounts): Array<{ address: Address, balance: bigint }> {
  return [
    { address: accounts.faucet.address, balance: GENESIS_FAUCET_BALANCE },
    { address: accounts.deployer.address, balance: GENESIS_DEPLOYER_BALANCE }
  ]
}
