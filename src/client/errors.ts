import { BaseError } from '../errors.ts'

/** An error the node answered with, re-raised on the client side with the node's message and hint. */
export class ApiError extends BaseError {
  override name = 'ApiError'
  constructor (status: number, body: { code?: string, message?: string, details?: string, hint?: string } | undefined, fallback: string) {
    super(body?.message ?? fallback, { status, code: body?.code ?? `HTTP_${status}`, details: body?.details, hint: body?.hint })
  }
}

export class NodeNotRunningError extends BaseError {
  override name = 'NodeNotRunningError'
  constructor (where: string, cause?: unknown) {
    super(`No Mycelium node is running ${where}.`, {
      code: 'NODE_NOT_RUNNING',
      status: 503,
      cause,
      hint: 'Start one with `myc start` (or `npm start`) using the same MYC_HOME / --home, or point to one with --api-url URL.'
    })
  }
}
