/**
 * Every error Mycelium raises on purpose extends {@link BaseError}: a one-line `shortMessage`
 * saying what was wrong, optional `details`, a `hint` saying what to do, a stable `code` for
 * programs, and the HTTP status the API answers with.
 */
export interface BaseErrorParameters {
  cause?: unknown
  details?: string
  hint?: string
  code?: string
  status?: number
}

export class BaseError extends Error {
  override name = 'MyceliumError'
  readonly shortMessage: string
  readonly details: string | undefined
  readonly hint: string | undefined
  readonly code: string
  readonly status: number

  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    const details = parameters.details ?? (parameters.cause instanceof Error && !(parameters.cause instanceof BaseError) ? parameters.cause.message : undefined)
    const message = [
      shortMessage,
      ...(details != null ? ['', `Details: ${details}`] : []),
      ...(parameters.hint != null ? ['', parameters.hint] : [])
    ].join('\n')
    super(message, parameters.cause != null ? { cause: parameters.cause } : undefined)
    this.shortMessage = shortMessage
    this.details = details
    this.hint = parameters.hint
    this.code = parameters.code ?? 'MYCELIUM_ERROR'
    this.status = parameters.status ?? 500
  }

  toJSON (): { error: string, code: string, message: string, details?: string, hint?: string } {
    return {
      error: this.name,
      code: this.code,
      message: this.shortMessage,
      ...(this.details != null ? { details: this.details } : {}),
      ...(this.hint != null ? { hint: this.hint } : {})
    }
  }
}

/** Input the caller can fix: a bad flag, a bad file, a bad name. */
export class InvalidInputError extends BaseError {
  override name = 'InvalidInputError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'INVALID_INPUT', status: 400, ...parameters })
  }
}

export class NotFoundError extends BaseError {
  override name = 'NotFoundError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'NOT_FOUND', status: 404, ...parameters })
  }
}

export class ConflictError extends BaseError {
  override name = 'ConflictError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'CONFLICT', status: 409, ...parameters })
  }
}

/** A model file whose bytes do not match its declared format. */
export class InvalidModelFileError extends BaseError {
  override name = 'InvalidModelFileError'
  readonly path: string
  constructor (path: string, shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(`${path}: ${shortMessage}`, { code: 'INVALID_MODEL_FILE', status: 400, ...parameters })
    this.path = path
  }
}

/** Stored bytes that no longer hash to their CID. */
export class IntegrityError extends BaseError {
  override name = 'IntegrityError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'INTEGRITY', status: 502, ...parameters })
  }
}
