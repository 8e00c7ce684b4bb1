import v8 from 'node:v8'

/**
 * V8 flags for a process that moves bulk data through Buffers: a daemon serving and fetching blocks
 * (socket reads, Noise cipher output and block file reads are all fresh ArrayBuffers).
 *
 * By default V8 starts a full mark-compact of the whole JavaScript heap every time external memory
 * (ArrayBuffer backing stores) has grown by 64 MB since the last one, whatever the heap's size and
 * however short-lived the buffers: a node moving 1 GB marked its ~70 MB heap some 30 times per
 * side, most of a transfer's CPU. Counted in the global limit instead, external memory follows
 * the heap's own growth heuristics; dead buffers are still freed by the young-generation
 * collections, so peak memory does not grow (see runtimeTuning.test.ts and the transfer bench).
 */
export const BULK_DATA_V8_FLAGS = ['--external-memory-accounted-in-global-limit'] as const

/** Applies BULK_DATA_V8_FLAGS to this process; call first thing in a process that moves bulk data. */
export function tuneRuntimeForBulkData (): void {
  for (const flag of BULK_DATA_V8_FLAGS) v8.setFlagsFromString(flag)
}
