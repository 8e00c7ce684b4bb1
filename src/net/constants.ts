/** Protocol ids, limits and timeouts of Mycelium's wire protocols, in one place. */

export const FETCH_PROTOCOL = '/mycelium/fetch/1.0.0'

/** One request: a small JSON document. */
export const MAX_FETCH_REQUEST_BYTES = 64 * 1024
/** Bitswap's block limit; no honest UnixFS or manifest block is larger. */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024
export const MAX_CIDS_PER_REQUEST = 1024
/** How long a peer may take to send its request once it opened a stream. */
export const FETCH_REQUEST_TIMEOUT_MS = 10_000
/** How long a provider may stay silent mid-response before the stream is given up. */
export const FETCH_IDLE_TIMEOUT_MS = 15_000
export const FETCH_MAX_INBOUND_STREAMS = 64
export const FETCH_MAX_OUTBOUND_STREAMS = 64

/** Per provider, how many bytes one request asks for; a few in flight keep a loopback pipe full. */
export const FETCH_BATCH_BYTES = 8 * 1024 * 1024
export const FETCH_BATCH_MAX_BLOCKS = 64
export const FETCH_REQUESTS_IN_FLIGHT_PER_PEER = 2
/** Per request, how many verified blocks may be waiting for their file write while the next arrive. */
export const FETCH_STORES_IN_FLIGHT_PER_REQUEST = 4
/** Transient failures a provider may have before it is dropped from a pull. */
export const FETCH_MAX_PEER_FAILURES = 3

export const HAVE_TIMEOUT_MS = 10_000
export const DHT_FIND_PROVIDERS_TIMEOUT_MS = 5_000
/** How long a pull keeps looking for a first provider before it gives up (bounded by its timeout). */
export const DISCOVERY_PATIENCE_MS = 5_000
/** Default bound on a pull that finds no provider at all. */
export const DEFAULT_PULL_TIMEOUT_MS = 30_000

export const ANNOUNCE_TOPIC_VERSION = 1
export const MAX_ANNOUNCEMENT_BYTES = 4 * 1024
export function announceTopic (network: string): string {
  return `/mycelium/${network}/announce/${ANNOUNCE_TOPIC_VERSION}`
}
export function dhtProtocol (network: string): string {
  return `/mycelium/${network}/kad/1.0.0`
}
