/** Protocol ids, limits and timeouts of federated rounds on a node, in one place. */

/** Point-to-point round messages: hints (an update or aggregate is ready, with its CID) and status queries. */
export const FL_PROTOCOL = '/mycelium/fl/1.0.0'
export const FL_TOPIC_VERSION = 1
/** The gossipsub topic carrying the same hints to the whole network. */
export function flTopic (network: string): string {
  return `/mycelium/${network}/fl/${FL_TOPIC_VERSION}`
}
/** One round message: a small JSON document. */
export const MAX_FL_MESSAGE_BYTES = 8 * 1024
export const FL_STREAM_TIMEOUT_MS = 5_000
export const FL_MAX_INBOUND_STREAMS = 32

/** How often a job's loop looks at the chain when nothing woke it earlier: about this many times a round… */
export const FL_POLLS_PER_ROUND = 60
/** …but at least this often… */
export const FL_MAX_POLL_MS = 10_000
/** …and at most this often. */
export const FL_POLL_MS = 500
/** How long fetching one update or aggregate may go without progress before it counts as unavailable. */
export const FL_FETCH_TIMEOUT_MS = 20_000
/** Room for the safetensors header of an update beyond its tensor data. */
export const FL_UPDATE_HEADER_ALLOWANCE_BYTES = 64 * 1024
/** A task specification is a small JSON document. */
export const MAX_TASK_SPEC_BYTES = 256 * 1024
/** Participants wait this long after the last round before paying the job out themselves (the sponsor usually does). */
export const FL_PAYOUT_GRACE_MS = 5_000
/** Errors from bad input (task spec, data) a job's loop retries before it records the job as failed. */
export const FL_MAX_CONSECUTIVE_ERRORS = 20
/** The longest pause between attempts while the chain or peers are unreachable. */
export const FL_MAX_BACKOFF_MS = 30_000
/** Secure aggregation: how often a survivor repeats the hint of its reveal while the round is open. */
export const FL_REVEAL_REBROADCAST_MS = 3_000
