import { BaseError } from '../../errors.ts'
import type { JsonRpcError } from './edr.ts'

/** The journal does not rebuild the chain it recorded (another engine version, a damaged file). */
export class ReplayError extends BaseError {
  override name = 'ReplayError'
  constructor (shortMessage: string, parameters: { cause?: unknown, details?: string } = {}) {
    super(shortMessage, {
      ...parameters,
      code: 'CHAIN_REPLAY_FAILED',
      status: 500,
      hint: 'The chain journal cannot be replayed by this version. Keep the file for inspection, and start from a fresh chain directory.'
    })
  }
}

/** The chain directory holds a chain created with other settings than the ones asked for. */
export class ChainConfigMismatchError extends BaseError {
  override name = 'ChainConfigMismatchError'
  constructor (shortMessage: string, hint: string) {
    super(shortMessage, { code: 'CHAIN_CONFIG_MISMATCH', status: 409, hint })
  }
}

export class ChainClosedError extends BaseError {
  override name = 'ChainClosedError'
  constructor () {
    super('The embedded chain is closed.', { code: 'CHAIN_CLOSED', status: 503 })
  }
}

/**
 * A JSON-RPC error answered by the chain, thrown by the EIP-1193 `request`. It carries `code` and
 * `data` where viem looks for them (revert data included), so viem decodes it like any node's error.
 */
export class ChainRpcError extends Error {
  override name = 'ChainRpcError'
  readonly code: number
  readonly data: unknown

  constructor (error: JsonRpcError) {
    super(error.message)
    this.code = error.code
    this.data = error.data
  }
}

/** Mining or journaling failed; the chain takes no more transactions until it is reopened. */
export class ChainStoppedError extends BaseError {
  override name = 'ChainStoppedError'
  constructor (cause: unknown) {
    super('The embedded chain stopped: a block could not be mined or journaled.', {
      cause,
      code: 'CHAIN_STOPPED',
      status: 503,
      hint: 'Check the disk of the node home, then restart the node: the chain is rebuilt from its journal.'
    })
  }
}
