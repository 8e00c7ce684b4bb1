/** Test only: a real embedded chain with the real contracts, in a temp directory, and funded users. */
import assert from 'node:assert/strict'
import { ContractRevertError } from './errors.ts'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { keccak256, toHex, type LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { fundFromFaucet } from './chain/fundFromFaucet.ts'
import { createLedger, type Ledger } from './createLedger.ts'
import { startEmbeddedLedger } from './startEmbeddedLedger.ts'
import type { EmbeddedChain } from './chain/createEmbeddedChain.ts'
import type { ContractsFile } from './contractsFile.ts'

export const TOKEN = 10n ** 18n

export interface TestLedger {
  dir: string
  chain: EmbeddedChain
  deployment: ContractsFile
  users: LocalAccount[]
  /** A ledger client signing as `account`. */
  as: (account: LocalAccount) => Promise<Ledger>
  /** Closes the chain and removes its directory. */
  cleanup: () => Promise<void>
}

export function testAccount (label: string): LocalAccount {
  return privateKeyToAccount(keccak256(toHex(`mycelium test account ${label}`)))
}

export async function startTestLedger (options: { users?: number, tokens?: bigint, royaltyBps?: number, dir?: string } = {}): Promise<TestLedger> {
  const dir = options.dir ?? await fs.mkdtemp(path.join(os.tmpdir(), 'myc-ledger-'))
  const { chain, deployment } = await startEmbeddedLedger({ dir, ...(options.royaltyBps != null ? { royaltyBps: options.royaltyBps } : {}) })
  const users = Array.from({ length: options.users ?? 3 }, (_, i) => testAccount(`user ${i}`))
  await Promise.all(users.map(async user => await fundFromFaucet(chain, { to: user.address, tokens: options.tokens ?? 1_000n * TOKEN })))
  return {
    dir,
    chain,
    deployment,
    users,
    as: async account => await createLedger({ embedded: chain, deployment, account }),
    cleanup: async () => {
      await chain.close()
      await fs.rm(dir, { recursive: true, force: true })
    }
  }
}

/** Asserts a ledger call fails with the contract's named error (and, optionally, its message and HTTP status). */
export async function rejectsWith (promise: Promise<unknown>, errorName: string, message?: RegExp, status?: number): Promise<void> {
  await assert.rejects(promise, (err: any) => {
    assert.ok(err instanceof ContractRevertError, `expected a ContractRevertError, got ${err?.name}: ${err?.message}`)
    assert.equal(err.errorName, errorName)
    if (message != null) assert.match(err.shortMessage, message)
    if (status != null) assert.equal(err.status, status)
    return true
  })
}
