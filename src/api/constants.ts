export const API_PREFIX = '/api/v0'
export const TOKEN_HEADER = 'authorization'
export const CAR_CONTENT_TYPE = 'application/vnd.ipld.car'
/** The publish form: a `metadata` JSON field first, then one file part per file (filename = package path). */
export const PUBLISH_METADATA_FIELD = 'metadata'
export const MAX_METADATA_BYTES = 1024 * 1024
export const LOOPBACK_ADDRESSES = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1'])
