/**
 * The streaming trimmed-mean kernel of kernels.ts, vectorised with WebAssembly SIMD: four
 * coordinates per 128-bit lane group, branch-free. JavaScript has no SIMD and no branch-free
 * float select, so per-coordinate order statistics in plain JS are bound by branch
 * mispredictions; this kernel is ~5× faster and returns the SAME BITS as the JavaScript streaming
 * kernel, which stays as the fallback and the test oracle.
 *
 * Per lane, with t = trim, L[0..t) ascending (starts at +∞) and H[0..t) descending (starts at −∞):
 * - pass 1: every value v, in client order, is bubbled through L — L[j], v = min(L[j], v),
 *   max(L[j], v) for j = 0 … t−1 — and what comes out is written to a scratch list, except for the
 *   first t values, whose output is a +∞ placeholder;
 * - pass 2: the scratch list is bubbled through H the same way (max/min); the first t outputs are
 *   −∞ placeholders, every later output is added to a float64 sum.
 * After 2t values L and H hold the t smallest and t largest of the first 2t (the JS kernel's sorted
 * seed) and each later step emits exactly the value the JS kernel adds — the displaced L top, the
 * displaced H bottom, or v itself — in the same order, so the sums are identical. Two passes keep
 * each buffer in registers (one pass would need 2t + 4 vectors and spill). f32x4.pmin/pmax
 * (b < a ? b : a) are exactly specified. Alongside, Σ (v − v) per lane flags NaN/±Infinity.
 *
 * The module is generated for each (n, t), compiled once and cached. Its bytes are written by the
 * tiny assembler below (WebAssembly binary format 1.0 with the fixed-width SIMD instructions).
 */

/** Coordinates per block copied into WebAssembly memory (a multiple of 4). */
const BLOCK = 4096
/** Buffers are WebAssembly locals; beyond this, the JavaScript kernels are used. */
export const SIMD_TRIM_MAX = 32

/** The slice of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer }
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> }
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly

interface Kernel {
  memory: { buffer: ArrayBuffer }
  run: (groups: number, stride: number, out: number, scratch: number) => void
}

/** Compiled kernels by (n, trim), most recently used last; each holds n × 16 KiB of memory. */
const kernels = new Map<string, Kernel | null>()
const MAX_CACHED_KERNELS = 4

/**
 * Writes the trimmed mean of each coordinate to `out` and returns whether every input was finite
 * (no NaN/±Infinity; otherwise `out` is meaningless), or returns undefined, leaving `out`
 * untouched, when WebAssembly SIMD is unavailable or trim is outside 1 … 32.
 */
export function simdTrimmedMeanInto (inputs: readonly Float32Array[], trim: number, out: Float32Array): boolean | undefined {
  const n = inputs.length
  if (trim < 1 || trim > SIMD_TRIM_MAX || n < 2 * trim + 1) return undefined
  const kernel = getKernel(n, trim)
  if (kernel === null) return undefined
  const layout = memoryLayout(n)
  const keep = n - 2 * trim
  const f32 = new Float32Array(kernel.memory.buffer)
  const f64 = new Float64Array(kernel.memory.buffer)
  const sumsIndex = layout.out / 8
  let finite = true
  for (let start = 0; start < out.length; start += BLOCK) {
    const size = Math.min(BLOCK, out.length - start)
    const groups = Math.ceil(size / 4)
    for (let k = 0; k < n; k++) {
      f32.set(inputs[k].subarray(start, start + size), k * BLOCK)
      if (size % 4 !== 0) f32.fill(0, k * BLOCK + size, k * BLOCK + groups * 4)
    }
    kernel.run(groups, layout.stride, layout.out, layout.scratch)
    // After the sums the kernel stores Σ (v − v) per lane: NaN if any value was not finite.
    const check = (layout.out + groups * 32) / 4
    if (Number.isNaN(f32[check] + f32[check + 1] + f32[check + 2] + f32[check + 3])) finite = false
    for (let i = 0; i < size; i++) out[start + i] = f64[sumsIndex + i] / keep
  }
  return finite
}

/** Whether this runtime compiles the kernel (WebAssembly with fixed-width SIMD). */
export function simdTrimmedMeanAvailable (): boolean {
  return getKernel(3, 1) !== null
}

/** Inputs (client k's block at k·stride), then the sums + check, then the pass-1 scratch list. */
function memoryLayout (n: number): { stride: number, out: number, scratch: number, bytes: number } {
  const stride = BLOCK * 4
  const out = n * stride
  const scratch = out + BLOCK * 8 + 16
  return { stride, out, scratch, bytes: scratch + n * 16 }
}

function getKernel (n: number, trim: number): Kernel | null {
  const key = `${n}:${trim}`
  let kernel = kernels.get(key)
  if (kernel === undefined) kernel = instantiate(n, trim)
  kernels.delete(key)
  kernels.set(key, kernel)
  if (kernels.size > MAX_CACHED_KERNELS) kernels.delete(kernels.keys().next().value!)
  return kernel
}

function instantiate (n: number, trim: number): Kernel | null {
  if (wasm === undefined) return null
  try {
    const memory = new wasm.Memory({ initial: Math.ceil(memoryLayout(n).bytes / 65536) })
    const instance = new wasm.Instance(new wasm.Module(trimmedMeanModule(n, trim)), { env: { memory } })
    return { memory, run: instance.exports.run as Kernel['run'] }
  } catch {
    return null // No WebAssembly SIMD here: callers fall back to JavaScript.
  }
}

// --- assembler -----------------------------------------------------------------------------------

const I32 = 0x7f
const V128 = 0x7b
const EMPTY_BLOCK_TYPE = 0x40
const op = {
  loop: 0x03,
  end: 0x0b,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Shl: 0x74,
  simdPrefix: 0xfd
} as const
const simd = {
  load: 0x00,
  store: 0x0b,
  const: 0x0c,
  shuffle: 0x0d,
  f64x2PromoteLow: 0x5f,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Pmin: 0xea,
  f32x4Pmax: 0xeb,
  f64x2Add: 0xf0
} as const

function uleb (value: number): number[] {
  const out: number[] = []
  do {
    let byte = value & 0x7f
    value >>>= 7
    if (value !== 0) byte |= 0x80
    out.push(byte)
  } while (value !== 0)
  return out
}

function sleb (value: number): number[] {
  const out: number[] = []
  for (;;) {
    const byte = value & 0x7f
    value >>= 7
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte)
      return out
    }
    out.push(byte | 0x80)
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()]
const utf8 = (text: string): number[] => vec([...new TextEncoder().encode(text)].map((b) => [b]))
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body]
const splat = (value: number): number[] => [...new Uint8Array(new Float32Array([value, value, value, value]).buffer)]

/**
 * (func (export "run") (param $groups i32) (param $stride i32) (param $out i32) (param $scratch i32)):
 * for lane groups q = 0 … groups−1, reads client k's four values at k·stride + 16q and stores the
 * four float64 sums at out + 32q; finally stores the four Σ (v − v) lanes at out + 32·groups.
 */
function trimmedMeanModule (n: number, t: number): Uint8Array {
  const [groups, stride, out, scratch] = [0, 1, 2, 3]
  const [q, p, k, s] = [4, 5, 6, 7]
  const [v, sLo, sHi, check] = [8, 9, 10, 11]
  const buffer = (j: number): number => 12 + j // L in pass 1, H in pass 2
  const code: number[] = []
  const emit = (...bytes: number[]): void => { code.push(...bytes) }
  const get = (local: number): void => emit(op.localGet, ...uleb(local))
  const set = (local: number): void => emit(op.localSet, ...uleb(local))
  const vop = (opcode: number): void => emit(op.simdPrefix, ...uleb(opcode))
  const i32 = (value: number): void => emit(op.i32Const, ...sleb(value))
  const memarg = (offset: number): number[] => [4, ...uleb(offset)] // 16-byte alignment hint
  const vconst = (bytes: number[]): void => { vop(simd.const); emit(...bytes) }

  /** buffer[j], v = keep(buffer[j], v), pass(buffer[j], v) for j = 0 … t−1. */
  const bubble = (keep: number, pass: number): void => {
    for (let j = 0; j < t; j++) {
      get(buffer(j)); get(v); vop(keep)
      get(buffer(j)); get(v); vop(pass); set(v)
      set(buffer(j))
    }
  }
  /** Runs `body` `count` (>= 1) times with v = the vector at address `pointer`, then pointer += step. */
  const repeat = (count: number, pointer: number, step: () => void, body: () => void): void => {
    i32(count); set(k)
    emit(op.loop, EMPTY_BLOCK_TYPE)
    get(pointer); vop(simd.load); emit(...memarg(0)); set(v)
    body()
    get(pointer); step(); emit(op.i32Add); set(pointer)
    get(k); i32(1); emit(op.i32Sub, op.localTee, ...uleb(k), op.brIf, 0, op.end)
  }
  const nextClient = (): void => get(stride)
  const nextSlot = (): void => i32(16)
  const storeV = (): void => { get(s); get(v); vop(simd.store); emit(...memarg(0)); get(s); i32(16); emit(op.i32Add); set(s) }
  /** sLo += float64(lanes 0, 1 of v); sHi += float64(lanes 2, 3 of v). */
  const accumulate = (): void => {
    get(sLo); get(v); vop(simd.f64x2PromoteLow); vop(simd.f64x2Add); set(sLo)
    get(sHi); get(v); get(v); vop(simd.shuffle); emit(8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15)
    vop(simd.f64x2PromoteLow); vop(simd.f64x2Add); set(sHi)
  }
  const trackFinite = (): void => { get(check); get(v); get(v); vop(simd.f32x4Sub); vop(simd.f32x4Add); set(check) }

  vconst(new Array(16).fill(0)); set(check)
  i32(0); set(q)
  emit(op.loop, EMPTY_BLOCK_TYPE)
  // Pass 1: L keeps the t smallest; what leaves it goes to the scratch list.
  for (let j = 0; j < t; j++) { vconst(splat(Infinity)); set(buffer(j)) }
  get(q); i32(4); emit(op.i32Shl); set(p)
  get(scratch); set(s)
  repeat(t, p, nextClient, () => { trackFinite(); bubble(simd.f32x4Pmin, simd.f32x4Pmax) })
  repeat(n - t, p, nextClient, () => { trackFinite(); bubble(simd.f32x4Pmin, simd.f32x4Pmax); storeV() })
  // Pass 2: H keeps the t largest of that list; what leaves it is summed.
  for (let j = 0; j < t; j++) { vconst(splat(-Infinity)); set(buffer(j)) }
  vconst(new Array(16).fill(0)); set(sLo)
  vconst(new Array(16).fill(0)); set(sHi)
  get(scratch); set(s)
  repeat(t, s, nextSlot, () => bubble(simd.f32x4Pmax, simd.f32x4Pmin))
  repeat(n - 2 * t, s, nextSlot, () => { bubble(simd.f32x4Pmax, simd.f32x4Pmin); accumulate() })
  get(out); get(q); i32(5); emit(op.i32Shl, op.i32Add); set(p)
  get(p); get(sLo); vop(simd.store); emit(...memarg(0))
  get(p); get(sHi); vop(simd.store); emit(...memarg(16))
  get(q); i32(1); emit(op.i32Add, op.localTee, ...uleb(q))
  get(groups); emit(op.i32LtU, op.brIf, 0, op.end)
  get(out); get(groups); i32(5); emit(op.i32Shl, op.i32Add); get(check); vop(simd.store); emit(...memarg(0))
  emit(op.end)

  const locals = vec([[...uleb(4), I32], [...uleb(4 + t), V128]])
  const body = [...locals, ...code]
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([])]])), // type: (i32 ×4) → ()
    ...section(2, vec([[...utf8('env'), ...utf8('memory'), 0x02, 0x00, ...uleb(1)]])), // import env.memory
    ...section(3, vec([[0]])), // one function of type 0
    ...section(7, vec([[...utf8('run'), 0x00, 0]])), // export "run" = function 0
    ...section(10, vec([[...uleb(body.length), ...body]])) // its code
  ])
}
