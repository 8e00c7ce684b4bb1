/**
 * Limits, budgets and timeouts of inference, local and remote, in one place.
 * Sizes are bytes unless the name says otherwise.
 */

const MiB = 1024 * 1024
const GiB = 1024 * MiB

// --- local inference -------------------------------------------------------------------------

/**
 * The most tensor data one call may feed a model: the sum over inputs of elements × element size
 * (for string tensors, the UTF-16 length of every string). Beyond it a call fails with 413.
 */
export const MAX_INPUT_BYTES = 64 * MiB

/** The most dimensions an input tensor may have (ONNX itself has no limit; no real model needs more). */
export const MAX_TENSOR_RANK = 32

/**
 * A request body that carries tensors as JSON text (OIP JSON, `myc infer --input x.json`) is
 * larger than the tensors: a float32 printed as text takes ~10 bytes instead of 4. The HTTP
 * layer should refuse a body above this before parsing it (fastify `bodyLimit`).
 */
export const MAX_JSON_BODY_BYTES = 4 * MAX_INPUT_BYTES

/** Binary request bodies up to this size are read into reused buffers, at most this many kept (see BodyBufferPool). */
export const INFER_BODY_POOL_MAX_BYTES = 16 * 1024 * 1024
export const INFER_BODY_POOL_BUFFERS = 4

/** Default memory budget of the session cache (estimated bytes of every loaded session). */
export const DEFAULT_SESSION_BUDGET_BYTES = 1 * GiB

/**
 * Estimated resident memory of a session = model file bytes × this factor. onnxruntime copies the
 * initializers out of the model bytes into its own buffers, and on CPU it pre-packs the weights of
 * MatMul/Gemm/Conv into a second layout, so ~2× the weights is resident after load; activation
 * arenas come on top, but they depend on input sizes, which are bounded by MAX_INPUT_BYTES.
 */
export const SESSION_MEMORY_FACTOR = 2

/**
 * onnxruntime intra-op threads per session; 0 lets onnxruntime choose (one per physical core).
 * onnxruntime-node runs a session synchronously on the JavaScript thread, so runs never overlap
 * within a process, and using every core for one run gives the lowest latency.
 */
export const DEFAULT_INTRA_OP_THREADS = 0

/** The file-selection parameter: which `.onnx` file of a version to run when it has several. */
export const FILE_PARAMETER = 'file'

// --- the remote protocol (`myc serve` / `myc infer --remote`) ------------------------------

/** The libp2p protocol of remote inference: one call per stream. Still served, for older clients. */
export const INFER_PROTOCOL = '/mycelium/infer/1.0.0'

/**
 * The same messages, several calls per stream, one after another: the client keeps the stream
 * after an answer for its next call to the same provider, which saves opening a stream and
 * negotiating the protocol (a round trip and a dozen small frames each way) on every call. A
 * client proposes it first and falls back to INFER_PROTOCOL with a provider that lacks it.
 */
export const INFER_STREAMS_PROTOCOL = '/mycelium/infer/1.1.0'

/** Envelope (model ref, ids, voucher, receipt fields) on top of the tensor data. */
const INFER_ENVELOPE_BYTES = 1 * MiB

/** Largest request message a provider accepts: the input limit plus the envelope. */
export const INFER_MAX_REQUEST_BYTES = MAX_INPUT_BYTES + INFER_ENVELOPE_BYTES

/** Largest response message a client accepts (outputs may well be larger than the inputs, e.g. segmentation maps). */
export const INFER_MAX_RESPONSE_BYTES = 4 * MAX_INPUT_BYTES + INFER_ENVELOPE_BYTES

/** A remote call (open stream, send, run, receive) fails over to the next provider after this. */
export const INFER_REQUEST_TIMEOUT_MS = 30_000

/** How long a provider waits for a whole request to arrive once a stream is open. */
export const INFER_READ_TIMEOUT_MS = 10_000

/** On an INFER_STREAMS_PROTOCOL stream, how long a provider waits for the next request before dropping the stream. */
export const INFER_STREAM_IDLE_MS = 30_000

/** A client reuses a stream idle for less than this (well inside INFER_STREAM_IDLE_MS, so the provider has not closed it). */
export const INFER_STREAM_REUSE_MS = 20_000

/** Idle streams a client keeps per provider (calls in flight at once each need their own). */
export const INFER_IDLE_STREAMS_PER_PEER = 4

/** Calls a provider runs at once by default (`myc serve --max-concurrency`); more wait or are refused. */
export const INFER_DEFAULT_MAX_CONCURRENCY = 4

/** Calls a provider lets wait for a free slot before refusing new ones as busy. */
export const INFER_MAX_QUEUED = 16

/** How many providers a client tries before giving up on a remote call. */
export const INFER_MAX_ATTEMPTS = 3

/** How often a node re-announces the versions it serves, so peers that joined later learn of them. */
export const SERVICE_ANNOUNCE_INTERVAL_MS = 30_000
