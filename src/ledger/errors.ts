import {
  BaseError as ViemError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  formatEther,
  formatUnits,
  HttpRequestError,
  isHex,
  keccak256,
  TimeoutError,
  toHex,
  type Abi,
  type Hex
} from 'viem'
import { BaseError, type BaseErrorParameters } from '../errors.ts'
import { federatedRoundsAbi } from './artifacts/FederatedRounds.ts'
import { marketplaceAbi } from './artifacts/Marketplace.ts'
import { modelRegistryAbi } from './artifacts/ModelRegistry.ts'
import { mycTokenAbi } from './artifacts/MycToken.ts'
import { paymentChannelsAbi } from './artifacts/PaymentChannels.ts'
import { usageAnchorAbi } from './artifacts/UsageAnchor.ts'
import { TOKEN_DECIMALS, TOKEN_SYMBOL } from './constants.ts'

/** A ledger operation failed; `code` and `status` say how (see the subclasses). */
export class LedgerError extends BaseError {
  override name = 'LedgerError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'LEDGER_ERROR', status: 500, ...parameters })
  }
}

/**
 * A contract refused the call: the decoded custom error (`errorName`, `args`) with a readable message,
 * e.g. "Not the owner of acme/mlp" or "Insufficient balance: 0xabc… has 1.5 MYC, needs 10 MYC".
 */
export class ContractRevertError extends LedgerError {
  override name = 'ContractRevertError'
  readonly errorName: string
  readonly args: readonly unknown[]
  constructor (errorName: string, args: readonly unknown[], shortMessage: string, parameters: BaseErrorParameters = {}) {
    // The details name the raw error, not viem's message (which repeats the calldata).
    super(shortMessage, { code: 'CONTRACT_REVERT', status: 400, details: `Reverted with ${errorName}(${args.map(String).join(', ')}).`, ...parameters })
    this.errorName = errorName
    this.args = args
  }
}

/** The error is a revert of the contract with one of these custom errors (an expected race, usually). */
export function isRevert (err: unknown, ...errorNames: string[]): err is ContractRevertError {
  return err instanceof ContractRevertError && errorNames.includes(err.errorName)
}

export class ChainUnreachableError extends LedgerError {
  override name = 'ChainUnreachableError'
  constructor (url: string, cause?: unknown) {
    super(`Cannot reach the chain's JSON-RPC endpoint at ${url}.`, {
      cause,
      code: 'CHAIN_UNREACHABLE',
      status: 503,
      hint: 'Check that the chain node is running and that the --chain-rpc URL is right.'
    })
  }
}

export class ChainIdMismatchError extends LedgerError {
  override name = 'ChainIdMismatchError'
  readonly expected: number
  readonly actual: number
  constructor (url: string, expected: number, actual: number) {
    super(`The chain at ${url} has chain id ${actual}, but chain id ${expected} was expected.`, {
      code: 'CHAIN_ID_MISMATCH',
      status: 409,
      hint: 'Point --chain-rpc at the chain the contracts were deployed on, or use the contracts file of this chain.'
    })
    this.expected = expected
    this.actual = actual
  }
}

export class ContractsNotDeployedError extends LedgerError {
  override name = 'ContractsNotDeployedError'
  constructor (contract: string, address: string, chainId: number) {
    super(`There is no ${contract} contract at ${address} on chain ${chainId}.`, {
      code: 'CONTRACTS_NOT_DEPLOYED',
      status: 503,
      hint: 'Deploy the contracts with `myc chain deploy --rpc URL`, or use the contracts file written when they were deployed on this chain.'
    })
  }
}

/**
 * The contracts file predates the PaymentChannels contract (older deployments have no `paymentChannels`).
 * The embedded chain adds it by itself on start; an external chain needs it deployed.
 */
export class PaymentChannelsNotDeployedError extends LedgerError {
  override name = 'PaymentChannelsNotDeployedError'
  constructor (action: string, chainId: number) {
    super(`Cannot ${action}: the contracts file of chain ${chainId} has no PaymentChannels contract (it was written before payment channels existed).`, {
      code: 'CONTRACTS_NOT_DEPLOYED',
      status: 503,
      hint: 'Redeploy the contracts with `myc chain deploy --rpc URL` (or add PaymentChannels to the existing deployment with deployPaymentChannels) and use the new contracts file.'
    })
  }
}

/**
 * The contracts file predates the FederatedRounds contract (older deployments have no `federatedRounds`).
 * The embedded chain adds it by itself on start; an external chain needs it deployed.
 */
export class FederatedRoundsNotDeployedError extends LedgerError {
  override name = 'FederatedRoundsNotDeployedError'
  constructor (action: string, chainId: number) {
    super(`Cannot ${action}: the contracts file of chain ${chainId} has no FederatedRounds contract (it was written before federated rounds existed).`, {
      code: 'CONTRACTS_NOT_DEPLOYED',
      status: 503,
      hint: 'Redeploy the contracts with `myc chain deploy --rpc URL` (or add FederatedRounds to the existing deployment with deployFederatedRounds) and use the new contracts file.'
    })
  }
}

export class FaucetDisabledError extends LedgerError {
  override name = 'FaucetDisabledError'
  constructor () {
    super('The faucet exists only on the embedded dev chain; this node uses an external chain.', {
      code: 'FAUCET_DISABLED',
      status: 403,
      hint: 'Fund the account on that chain the way its operators provide (a faucet of theirs, a transfer).'
    })
  }
}

export class NoAccountError extends LedgerError {
  override name = 'NoAccountError'
  constructor (action: string) {
    super(`Cannot ${action}: this ledger client has no account to sign with.`, { code: 'NO_ACCOUNT', status: 400, hint: 'Create the ledger client with an account.' })
  }
}

export class InsufficientFundsError extends LedgerError {
  override name = 'InsufficientFundsError'
  constructor (details: string, cause?: unknown) {
    super('Not enough ether to pay for gas.', {
      cause,
      details,
      code: 'INSUFFICIENT_FUNDS',
      status: 402,
      hint: 'On the embedded chain, get gas money from the faucet (`myc chain faucet`); elsewhere, send ether to this account.'
    })
  }
}

export class TransactionRevertedError extends LedgerError {
  override name = 'TransactionRevertedError'
  readonly hash: Hex
  constructor (hash: Hex, blockNumber: bigint) {
    super(`Transaction ${hash} reverted in block ${blockNumber}.`, { code: 'TRANSACTION_REVERTED', status: 409, hint: 'The chain changed between the check and the transaction; try again.' })
    this.hash = hash
  }
}

type AbiError = Extract<Abi[number], { type: 'error' }>

/** Every custom error of every contract, so a revert is decoded whichever contract raised it. */
export const ledgerErrorsAbi: readonly AbiError[] = (() => {
  const seen = new Map<string, AbiError>()
  for (const abi of [modelRegistryAbi, marketplaceAbi, mycTokenAbi, usageAnchorAbi, paymentChannelsAbi, federatedRoundsAbi] as readonly Abi[]) {
    for (const item of abi) {
      if (item.type === 'error') seen.set(`${item.name}(${item.inputs.map(input => input.type).join(',')})`, item)
    }
  }
  return [...seen.values()]
})()

const tokens = (amount: unknown): string => `${formatUnits(BigInt(amount as bigint), TOKEN_DECIMALS)} ${TOKEN_SYMBOL}`
const isoTime = (seconds: unknown): string => new Date(Number(seconds) * 1000).toISOString()
const days = (seconds: unknown): string => `${Number(seconds) / 86_400} days`
const ROLE_NAMES = new Map<string, string>([[keccak256(toHex('MINTER_ROLE')), 'minter'], [`0x${'0'.repeat(64)}`, 'admin']])

type Describe = (args: readonly any[]) => { message: string, status: number, hint?: string }

/** What each custom error means for a person. */
const DESCRIPTIONS: Record<string, Describe> = {
  InvalidName: ([name]) => ({ message: `Invalid model name "${name}": it must be 1 to 128 bytes.`, status: 400 }),
  InvalidVersionLabel: ([label]) => ({ message: `Invalid version "${label}": it must be 1 to 64 bytes.`, status: 400 }),
  InvalidManifestCid: () => ({ message: 'A version needs the CID of its manifest.', status: 400 }),
  InvalidAccount: ([account]) => ({ message: `Invalid account ${account}.`, status: 400 }),
  NameTaken: ([name, owner]) => ({ message: `${name} is already registered to ${owner}.`, status: 409, hint: 'Publish under another name, or ask its owner to approve you as a publisher.' }),
  UnknownModel: ([name]) => ({ message: `${name} is not registered on the ledger.`, status: 404 }),
  NotNameOwner: ([name, caller]) => ({ message: `Not the owner of ${name}: ${caller} does not own it.`, status: 403, hint: 'Only the owner of a name may do this; `myc audit NAME` shows who owns it.' }),
  NotPublisher: ([name, caller]) => ({ message: `${caller} may not publish versions of ${name}.`, status: 403, hint: 'Ask the owner of the name to approve this account as a publisher.' }),
  VersionExists: ([name, label, id]) => ({ message: `${name}@${label} already exists on the ledger (version id ${id}).`, status: 409, hint: 'Versions are immutable: publish under a new version number.' }),
  UnknownVersion: ([id]) => ({ message: `There is no version with id ${id} on the ledger.`, status: 404 }),
  TooManyParents: ([count, max]) => ({ message: `A version may name at most ${max} parents, not ${count}.`, status: 400 }),
  AlreadyDeprecated: ([id]) => ({ message: `Version ${id} is already deprecated.`, status: 409 }),
  InvalidListing: () => ({ message: 'A listing needs a purchase price, or a rental price with a rental period, or both.', status: 400 }),
  NotListed: ([name]) => ({ message: `${name} is not listed for sale or rent.`, status: 404 }),
  NotForSale: ([name]) => ({ message: `${name} is not for sale.`, status: 409, hint: 'It may be for rent: see its listing.' }),
  NotForRent: ([name]) => ({ message: `${name} is not for rent.`, status: 409, hint: 'It may be for sale: see its listing.' }),
  PriceAboveMax: ([price, max]) => ({ message: `The price is ${tokens(price)}, more than the ${tokens(max)} accepted.`, status: 409, hint: 'The listing changed; check its price and try again.' }),
  AlreadyLicensed: ([name, account]) => ({ message: `${account} already holds a licence to ${name}.`, status: 409 }),
  InvalidPeriods: ([periods, max]) => ({ message: `Rent for 1 to ${max} periods, not ${periods}.`, status: 400 }),
  NoRental: ([name, account]) => ({ message: `${account} has never rented ${name}, so there is nothing to extend.`, status: 404, hint: 'Rent it first.' }),
  NothingToWithdraw: ([account]) => ({ message: `${account} has nothing to withdraw.`, status: 409 }),
  RoyaltyTooHigh: ([bps, max]) => ({ message: `A royalty of ${bps} basis points is above the maximum of ${max}.`, status: 400 }),
  ReentrancyGuardReentrantCall: () => ({ message: 'Refused a reentrant call: a contract called back into the ledger in the middle of a payment.', status: 409 }),
  OwnableUnauthorizedAccount: ([account]) => ({ message: `${account} is not the marketplace's administrator.`, status: 403 }),
  SafeERC20FailedOperation: ([token]) => ({ message: `The token transfer failed (token ${token}).`, status: 402 }),
  ERC20InsufficientBalance: ([sender, balance, needed]) => ({
    message: `Insufficient balance: ${sender} has ${tokens(balance)}, needs ${tokens(needed)}.`,
    status: 402,
    hint: 'Get tokens first (on the embedded chain: `myc chain faucet`).'
  }),
  ERC20InsufficientAllowance: ([spender, allowance, needed]) => ({ message: `Insufficient allowance: ${spender} may spend ${tokens(allowance)}, needs ${tokens(needed)}.`, status: 402 }),
  ERC20InvalidReceiver: ([receiver]) => ({ message: `Cannot send tokens to ${receiver}.`, status: 400 }),
  ERC20InvalidSender: ([sender]) => ({ message: `Cannot send tokens from ${sender}.`, status: 400 }),
  ERC20InvalidSpender: ([spender]) => ({ message: `Invalid spender ${spender}.`, status: 400 }),
  ERC20InvalidApprover: ([approver]) => ({ message: `Invalid approver ${approver}.`, status: 400 }),
  ERC2612ExpiredSignature: ([deadline]) => ({ message: `The permit expired at ${new Date(Number(deadline) * 1000).toISOString()}.`, status: 400 }),
  ERC2612InvalidSigner: ([signer, owner]) => ({ message: `The permit was signed by ${signer}, not by ${owner}.`, status: 400 }),
  AccessControlUnauthorizedAccount: ([account, role]) => ({ message: `${account} lacks the ${ROLE_NAMES.get(role) ?? role} role of the token.`, status: 403 }),
  EmptyBatch: () => ({ message: 'Cannot anchor an empty batch of receipts.', status: 400 }),
  ZeroRoot: () => ({ message: 'Cannot anchor a zero Merkle root.', status: 400 }),
  UnknownAnchor: ([id]) => ({ message: `There is no usage anchor with id ${id}.`, status: 404 }),
  InvalidProvider: ([provider]) => ({ message: `Cannot open a payment channel to ${provider}: the provider must be another account.`, status: 400 }),
  ZeroDeposit: () => ({ message: 'A payment channel needs a deposit.', status: 400 }),
  InvalidDuration: ([duration, max]) => ({ message: `A payment channel runs 1 second to ${days(max)} ahead, not ${days(duration)}.`, status: 400 }),
  UnknownChannel: ([id]) => ({ message: `There is no payment channel ${id}.`, status: 404 }),
  NotChannelClient: ([id, caller]) => ({ message: `${caller} is not the client of payment channel ${id}.`, status: 403, hint: 'Only the account that opened a channel tops it up or reclaims it.' }),
  NotChannelProvider: ([id, caller]) => ({ message: `${caller} is not the provider of payment channel ${id}.`, status: 403, hint: 'Only the channel\'s provider claims its vouchers.' }),
  ChannelClosed: ([id]) => ({ message: `Payment channel ${id} is closed: its client reclaimed the rest of the deposit.`, status: 409 }),
  ChannelExpired: ([id, expiresAt]) => ({
    message: `Payment channel ${id} expired at ${isoTime(expiresAt)}.`,
    status: 409,
    hint: 'Vouchers can only be claimed before the expiry; after it the client reclaims what is left.'
  }),
  ChannelNotExpired: ([id, expiresAt]) => ({
    message: `Payment channel ${id} runs until ${isoTime(expiresAt)}; its deposit can only be reclaimed after that.`,
    status: 409,
    hint: 'Until its expiry the provider may still claim the vouchers it holds.'
  }),
  EmptyTopUp: ([id]) => ({ message: `A top-up of payment channel ${id} must add tokens, time, or both.`, status: 400 }),
  InvalidVoucherSignature: ([id, client]) => ({ message: `The voucher is not signed by ${client}, the client of payment channel ${id}.`, status: 400, hint: 'A voucher is valid only on the channel it names, on this chain and contract.' }),
  VoucherExceedsDeposit: ([id, amount, deposit]) => ({ message: `The voucher is worth ${tokens(amount)}, more than the ${tokens(deposit)} deposited in payment channel ${id}.`, status: 402 }),
  NothingToClaim: ([id, amount, claimed]) => ({ message: `Nothing to claim: the voucher is worth ${tokens(amount)} and payment channel ${id} has already paid ${tokens(claimed)}.`, status: 409 }),
  // FederatedRounds
  InvalidRounds: ([rounds, max]) => ({ message: `A federated job runs 1 to ${max} rounds, not ${rounds}.`, status: 400 }),
  InvalidParticipantsWanted: ([wanted, max]) => ({ message: `A federated job wants 1 to ${max} participants, not ${wanted}.`, status: 400 }),
  InvalidAggregatorsK: ([k, wanted]) => ({ message: `A round needs 1 to ${wanted} agreeing attestations (the participants wanted), not ${k}.`, status: 400 }),
  InvalidRoundDuration: ([duration, max]) => ({ message: `A round lasts 1 second to ${days(max)}, not ${days(duration)}.`, status: 400 }),
  ZeroBounty: () => ({ message: 'A federated job needs a bounty.', status: 400 }),
  EmptyCid: () => ({ message: 'A CID is required (task spec, update or aggregate).', status: 400 }),
  ZeroExamples: () => ({ message: 'An update must be trained on at least one example.', status: 400 }),
  UnknownJob: ([id]) => ({ message: `There is no federated job ${id}.`, status: 404 }),
  NotSponsor: ([id, caller]) => ({ message: `${caller} is not the sponsor of federated job ${id}.`, status: 403, hint: 'Only the account that opened the job rejects updates.' }),
  NotParticipant: ([id, caller]) => ({ message: `${caller} has not joined federated job ${id}.`, status: 403, hint: 'Only participants commit updates, attest aggregates and post metrics.' }),
  SponsorCannotJoin: ([id]) => ({ message: `The sponsor of federated job ${id} cannot join it as a participant.`, status: 409 }),
  AlreadyJoined: ([id, account]) => ({ message: `${account} has already joined federated job ${id}.`, status: 409 }),
  JobFull: ([id, wanted]) => ({ message: `Federated job ${id} already has the ${wanted} participants it wanted.`, status: 409 }),
  JoinClosed: ([id, deadline]) => ({ message: `Federated job ${id} took participants until the end of round 1 (${isoTime(deadline)}).`, status: 409 }),
  InvalidRound: ([id, round, rounds]) => ({ message: `Federated job ${id} has rounds 1 to ${rounds}, not ${round}.`, status: 400 }),
  RoundNotStarted: ([id, round]) => ({ message: `Round ${round} of federated job ${id} has not started: the previous round is not finalized.`, status: 409 }),
  RoundAlreadyFinalized: ([id, round]) => ({ message: `Round ${round} of federated job ${id} is already finalized.`, status: 409 }),
  RoundNotFinalized: ([id, round]) => ({ message: `Round ${round} of federated job ${id} is not finalized yet.`, status: 409 }),
  CommitDeadlinePassed: ([id, round, deadline]) => ({
    message: `Too late: round ${round} of federated job ${id} took updates until ${isoTime(deadline)}.`,
    status: 409,
    hint: 'A participant that misses a round\'s deadline is skipped for that round; commit in the next one.'
  }),
  AlreadyCommitted: ([id, round, participant]) => ({ message: `${participant} has already committed an update in round ${round} of federated job ${id}.`, status: 409 }),
  AttestationsNotOpen: ([id, round, deadline]) => ({
    message: `Round ${round} of federated job ${id} takes attestations once every participant committed or after ${isoTime(deadline)}.`,
    status: 409
  }),
  AlreadyAttested: ([id, round, attester]) => ({ message: `${attester} has already attested an aggregate in round ${round} of federated job ${id}.`, status: 409 }),
  NoCommitment: ([id, round, participant]) => ({ message: `${participant} committed no update in round ${round} of federated job ${id}.`, status: 404 }),
  UpdateAlreadyRejected: ([id, round, participant]) => ({ message: `The update of ${participant} in round ${round} of federated job ${id} is already rejected.`, status: 409 }),
  EmptyMetricName: () => ({ message: 'A metric needs a name.', status: 400 }),
  JobNotFinished: ([id, finalized, rounds]) => ({ message: `Federated job ${id} pays out after its last round: ${finalized} of ${rounds} rounds are finalized (or once a round gets no agreement within a round duration after its deadline).`, status: 409 }),
  AlreadyPaidOut: ([id]) => ({ message: `Federated job ${id} has already been paid out.`, status: 409 }),
  KeysAlreadyAdvertised: ([id, round, participant]) => ({ message: `${participant} has already advertised its masking keys for round ${round} of federated job ${id}.`, status: 409 }),
  KeyPhaseClosed: ([id, round]) => ({ message: `The masking set of round ${round} of federated job ${id} is closed; this participant sits the round out.`, status: 409 }),
  KeyPhaseOpen: ([id, round]) => ({ message: `The masking set of round ${round} of federated job ${id} is still open; key shares come after it closes.`, status: 409 }),
  NoMaskingKeys: ([id, round, participant]) => ({ message: `${participant} advertised no masking keys for round ${round} of federated job ${id}.`, status: 409 }),
  SharesAlreadyPublished: ([id, round, participant]) => ({ message: `${participant} has already published its key shares for round ${round} of federated job ${id}.`, status: 409 }),
  SharesPhaseClosed: ([id, round]) => ({ message: `The maskers of round ${round} of federated job ${id} are settled; this participant sits the round out.`, status: 409 })
}

/** A decoded custom error as a {@link ContractRevertError}. */
export function contractRevertError (errorName: string, args: readonly unknown[], cause?: unknown): ContractRevertError {
  const describe = DESCRIPTIONS[errorName]
  if (describe == null) {
    return new ContractRevertError(errorName, args, `The contract refused: ${errorName}(${args.map(String).join(', ')}).`, { cause, status: 400 })
  }
  const { message, status, hint } = describe(args)
  return new ContractRevertError(errorName, args, message, { cause, status, ...(hint != null ? { hint } : {}) })
}

/** Revert data as a {@link ContractRevertError}, if it is one of the ledger's errors (or Error(string), or a panic). */
export function decodeRevertData (data: Hex, cause?: unknown): ContractRevertError | undefined {
  try {
    const decoded = decodeErrorResult({ abi: ledgerErrorsAbi, data })
    if (decoded.errorName === 'Error') return new ContractRevertError('Error', decoded.args ?? [], `The contract refused: ${String(decoded.args?.[0])}.`, { cause })
    if (decoded.errorName === 'Panic') return new ContractRevertError('Panic', decoded.args ?? [], `The contract failed (panic code ${String(decoded.args?.[0])}).`, { cause, status: 500 })
    return contractRevertError(decoded.errorName, decoded.args ?? [], cause)
  } catch {
    return undefined
  }
}

function findRevertData (err: unknown): Hex | undefined {
  for (let current: any = err, depth = 0; current != null && depth < 10; current = current.cause, depth++) {
    for (const candidate of [current.raw, current.data, current.data?.data, current.error?.data]) {
      if (typeof candidate === 'string' && isHex(candidate) && candidate.length >= 10) return candidate
    }
  }
  return undefined
}

/**
 * Turns whatever viem or a chain threw into a Mycelium error with a readable message: decoded custom
 * errors, missing gas money, an unreachable RPC. Errors that are already Mycelium's pass through.
 */
export function toLedgerError (err: unknown, context: { action?: string, rpcUrl?: string } = {}): BaseError {
  if (err instanceof BaseError) return err
  if (err instanceof ViemError) {
    const reverted = err.walk(e => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null
    if (reverted?.data?.errorName != null && reverted.data.errorName !== 'Error' && reverted.data.errorName !== 'Panic') {
      return contractRevertError(reverted.data.errorName, reverted.data.args ?? [], err)
    }
    if (reverted?.reason != null) return new ContractRevertError('Error', [reverted.reason], `The contract refused: ${reverted.reason}.`, { cause: err })
    if (err.walk(e => e instanceof HttpRequestError || e instanceof TimeoutError) != null && context.rpcUrl != null) {
      return new ChainUnreachableError(context.rpcUrl, err)
    }
  }
  const data = findRevertData(err)
  const decoded = data != null ? decodeRevertData(data, err) : undefined
  if (decoded != null) return decoded
  const text = String((err as any)?.details ?? (err as any)?.message ?? err)
  if (/doesn't have enough funds|insufficient funds/i.test(text)) {
    const amounts = /upfront cost is: (\d+)[^]*?balance is: (\d+)/.exec(text)
    const details = amounts != null ? `The transaction may cost up to ${formatEther(BigInt(amounts[1]))} ETH; the account has ${formatEther(BigInt(amounts[2]))} ETH.` : text
    return new InsufficientFundsError(details, err)
  }
  const shortMessage = (err as any)?.shortMessage ?? (err as any)?.message ?? String(err)
  return new LedgerError(context.action != null ? `Could not ${context.action}: ${shortMessage}` : String(shortMessage), { cause: err })
}
