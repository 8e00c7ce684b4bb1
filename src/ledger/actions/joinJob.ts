import { federatedRoundsAbi } from '../artifacts/FederatedRounds.ts'
import { NoAccountError } from '../errors.ts'
import { assertJobId, federatedRoundsOf } from '../federatedRounds.ts'
import { findEvent, readContract, writeContract, type WriteResult } from '../write.ts'
import { signPermit, withPermitLock } from './permit.ts'
import type { Ledger } from '../createLedger.ts'

export interface JoinJobReturnType extends WriteResult {
  /** Tokens staked (token base units, may be 0n). */
  stake: bigint
}

/** Joins a federated job as the ledger's account, staking the job's stake (with a permit when there is one). */
export async function joinJob (ledger: Ledger, parameters: { jobId: bigint }, options?: { signal?: AbortSignal }): Promise<JoinJobReturnType> {
  assertJobId(parameters.jobId)
  const action = `join federated job ${parameters.jobId}`
  if (ledger.account == null) throw new NoAccountError(action)
  const { address, contract } = federatedRoundsOf(ledger, action)
  const job = await readContract(ledger, action, async () => await contract.read.jobOf([parameters.jobId]))
  const stake = job.terms.stake
  const send = async (args: { functionName: 'join', args: readonly [bigint] } | { functionName: 'joinWithPermit', args: readonly [bigint, bigint, number, `0x${string}`, `0x${string}`] }): Promise<JoinJobReturnType> => {
    const result = await writeContract(ledger, { address, abi: federatedRoundsAbi, ...args, action } as any, options)
    return { ...result, stake: findEvent(result.receipt, federatedRoundsAbi, 'Joined')!.args.stake }
  }
  // Unknown jobs (zero stake) go straight to `join`, which reverts with UnknownJob.
  if (stake === 0n) return await send({ functionName: 'join', args: [parameters.jobId] })
  return await withPermitLock(ledger, async () => {
    const permit = await signPermit(ledger, address, stake)
    return await send({ functionName: 'joinWithPermit', args: [parameters.jobId, permit.deadline, permit.v, permit.r, permit.s] })
  })
}
