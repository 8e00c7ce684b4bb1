import { parseSignature, type Address } from 'viem'
import { readContract } from '../write.ts'
import type { Ledger } from '../createLedger.ts'

/** How long a permit signed for a purchase stays valid, in chain time. */
const PERMIT_VALIDITY_SECONDS = 3_600n

export interface Permit {
  deadline: bigint
  v: number
  r: `0x${string}`
  s: `0x${string}`
}

// Purchases of one ledger client take permits one at a time: each reads the token's permit nonce.
const locks = new WeakMap<Ledger, Promise<unknown>>()

export async function withPermitLock<T> (ledger: Ledger, fn: () => Promise<T>): Promise<T> {
  const run = (locks.get(ledger) ?? Promise.resolve()).then(fn)
  locks.set(ledger, run.catch(() => {}))
  return await run
}

/** Signs an EIP-2612 permit letting `spender` take `value` tokens from the ledger's account. */
export async function signPermit (ledger: Ledger, spender: Address, value: bigint): Promise<Permit> {
  const account = ledger.account!
  const token = ledger.contracts.token
  const [nonce, name, block] = await readContract(ledger, 'prepare a token permit', async () => await Promise.all([
    token.read.nonces([account.address]),
    token.read.name(),
    ledger.publicClient.getBlock({ blockTag: 'latest' })
  ]))
  // Chain time, not the wall clock: they differ on a dev chain whose clock was moved.
  const deadline = block.timestamp + PERMIT_VALIDITY_SECONDS
  const signature = await account.signTypedData!({
    domain: { name, version: '1', chainId: ledger.chainId, verifyingContract: ledger.addresses.token },
    types: {
      Permit: [
        { name: 'owner', type: 'address' },
        { name: 'spender', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' }
      ]
    },
    primaryType: 'Permit',
    message: { owner: account.address, spender, value, nonce, deadline }
  })
  const { v, yParity, r, s } = parseSignature(signature)
  return { deadline, v: Number(v ?? BigInt(yParity + 27)), r, s }
}
