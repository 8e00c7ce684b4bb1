import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  addWeights,
  assertCompatible,
  decodeSafetensors,
  deltaNorm,
  describeIncompatibility,
  encodeSafetensors,
  flatten,
  IncompatibleWeightsError,
  InvalidWeightsError,
  InvalidWeightsFileError,
  l2Norm,
  subtractWeights,
  unflatten,
  validateWeights,
  type ModelWeights
} from './tensors.ts'

function model (bias: number[] = [0.5, -1.5]): ModelWeights {
  return [
    { name: 'fc.weight', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    { name: 'fc.bias', shape: [2], data: Float32Array.from(bias) }
  ]
}

/** A safetensors file from a raw header string and data bytes (for malformed cases). */
function rawFile (header: string, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header)
  const bytes = new Uint8Array(8 + json.length + data.length)
  new DataView(bytes.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true)
  bytes.set(json, 8)
  bytes.set(data, 8 + json.length)
  return bytes
}

function rejects (bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeSafetensors(bytes), (err: unknown) => {
    assert.ok(err instanceof InvalidWeightsFileError, `expected InvalidWeightsFileError, got ${String(err)}`)
    assert.match(err.shortMessage, pattern)
    assert.ok(err.hint !== undefined)
    return true
  })
}

describe('weights helpers', () => {
  it('accepts compatible weights and names the first mismatch otherwise', () => {
    assert.equal(describeIncompatibility(model(), model([9, 9])), undefined)
    const renamed = model()
    renamed[1] = { ...renamed[1], name: 'fc.b' }
    assert.equal(describeIncompatibility(model(), renamed), "tensor #1 is 'fc.b', expected 'fc.bias' (which is missing)")
    const swapped = [model()[1], model()[0]]
    assert.equal(describeIncompatibility(model(), swapped), "tensor #0 is 'fc.bias', expected 'fc.weight' (found at #1: tensors are out of order)")
    const reshaped = model()
    reshaped[0] = { ...reshaped[0], shape: [3, 2] }
    assert.equal(describeIncompatibility(model(), reshaped), "tensor 'fc.weight' has shape [3,2], expected [2,3]")
    assert.equal(describeIncompatibility(model(), model().slice(0, 1)), "missing tensor 'fc.bias' (expected 2 tensors, got 1)")
    assert.equal(describeIncompatibility(model().slice(0, 1), model()), "unexpected extra tensor 'fc.bias' (expected 1 tensors, got 2)")
    assert.throws(() => assertCompatible(model(), reshaped, { candidate: "client 'a' update" }), (err: unknown) => {
      assert.ok(err instanceof IncompatibleWeightsError)
      assert.match(err.shortMessage, /^client 'a' update do not match the reference weights: tensor 'fc.weight' has shape \[3,2\], expected \[2,3\]$/)
      return true
    })
  })

  it('validates tensor lengths and unique names', () => {
    validateWeights(model())
    assert.throws(() => validateWeights([{ name: 'w', shape: [2, 2], data: new Float32Array(3) }]), (err: unknown) =>
      err instanceof InvalidWeightsError && /tensor 'w' has 3 values, but shape \[2,2\] needs 4/.test(err.shortMessage))
    assert.throws(() => validateWeights([...model(), model()[0]]), /tensor name 'fc.weight' appears twice/)
  })

  it('flattens, unflattens, and computes norms and deltas in float64', () => {
    const flat = flatten(model())
    assert.deepEqual([...flat], [1, 2, 3, 4, 5, 6, 0.5, -1.5])
    assert.deepEqual(unflatten(flat, model()), model())
    assert.throws(() => unflatten(new Float32Array(7), model()), /cannot unflatten 7 values into 8 parameters/)
    // ‖(3, 4)‖ = 5
    assert.equal(l2Norm(Float32Array.from([3, 4])), 5)
    // 1+4+9+16+25+36+0.25+2.25 = 93.5
    assert.equal(l2Norm(model()), Math.sqrt(93.5))
    const update = model([3.5, 2.5]) // bias delta (3, 4), weight delta 0
    assert.equal(deltaNorm(update, model()), 5)
    const delta = subtractWeights(update, model())
    assert.deepEqual([...delta[1].data], [3, 4])
    assert.deepEqual(addWeights(model(), delta), update)
    assert.deepEqual([...addWeights(model(), delta, 0.5)[1].data], [2, 0.5])
  })
})

describe('safetensors codec', () => {
  it('writes the canonical layout: ordered header, 8-byte padding, little-endian F32', () => {
    const bytes = encodeSafetensors(model())
    const header = '{"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"fc.bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}'
    // 126 bytes of JSON, padded with 2 spaces to 128, the next multiple of 8.
    const padded = header.padEnd(Math.ceil(header.length / 8) * 8, ' ')
    assert.equal(new DataView(bytes.buffer).getBigUint64(0, true), BigInt(padded.length))
    assert.equal(new TextDecoder().decode(bytes.subarray(8, 8 + padded.length)), padded)
    assert.equal(bytes.length, 8 + padded.length + 32)
    const data = new DataView(bytes.buffer, 8 + padded.length)
    assert.equal(data.getFloat32(0, true), 1)
    assert.equal(data.getFloat32(28, true), -1.5)
  })

  it('round-trips byte-identically, keeping tensor order even for integer-like names', () => {
    const weights: ModelWeights = [
      { name: 'b', shape: [1], data: Float32Array.from([1]) },
      { name: '10', shape: [2, 1], data: Float32Array.from([-0, 3.25]) },
      { name: 'scalar', shape: [], data: Float32Array.from([7]) },
      { name: 'empty', shape: [0, 4], data: new Float32Array(0) }
    ]
    const bytes = encodeSafetensors(weights)
    const decoded = decodeSafetensors(bytes)
    assert.deepEqual(decoded.map((t) => t.name), ['b', '10', 'scalar', 'empty'])
    assert.deepEqual(decoded, weights)
    assert.ok(Object.is(decoded[1].data[0], -0))
    assert.deepEqual(encodeSafetensors(decoded), bytes)
  })

  it('decodes files written with __metadata__ and unaligned data, then re-encodes canonically', () => {
    const header = '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    const data = new Uint8Array(new Float32Array([1.5, -2]).buffer)
    const decoded = decodeSafetensors(rawFile(header, data))
    assert.deepEqual(decoded, [{ name: 'w', shape: [2], data: Float32Array.from([1.5, -2]) }])
    assert.deepEqual(decodeSafetensors(encodeSafetensors(decoded)), decoded)
  })

  it('rejects malformed files with the reason', () => {
    const good = encodeSafetensors(model())
    const withLength = (length: bigint): Uint8Array => {
      const copy = good.slice()
      new DataView(copy.buffer).setBigUint64(0, length, true)
      return copy
    }
    rejects(new Uint8Array(5), /truncated safetensors file: 5 bytes cannot hold the 8-byte header length/)
    rejects(withLength(5000n), new RegExp(`safetensors header length 5000 runs past end of file \\(size ${good.length}\\)`))
    rejects(withLength(2n ** 40n), /header length 1099511627776 is larger than the 100000000-byte limit/)
    rejects(rawFile('{"w": {"dtype"'), /safetensors header is not valid JSON/)
    rejects(rawFile('[1,2]'), /safetensors header is not a JSON object/)
    rejects(rawFile('{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', new Uint8Array(4)), /tensor 'w' has dtype "F16"; federated updates must be F32/)
    rejects(rawFile('{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}', new Uint8Array(20)), /tensor 'w' has 20 bytes of data, but F32 \[2,3\] needs 24/)
    rejects(rawFile('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', new Uint8Array(12)), /tensor 'w' data_offsets \[0, 16\] fall outside the data section \(12 bytes\)/)
    rejects(rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)), /tensor 'w' starts at byte 4 of the data section, leaving 4 unaccounted bytes after byte 0/)
    rejects(rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)), /tensor 'b' data_offsets \[4, 8\] overlap the previous tensor \(which ends at 8\)/)
    rejects(rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(12)), /8 trailing bytes after the last tensor/)
    rejects(rawFile('{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', new Uint8Array(4)), /tensor 'w' has an invalid shape \[-1\]/)
    rejects(rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', new Uint8Array(4)), /tensor 'w' has invalid data_offsets \[4,0\]/)
    // A duplicated key is collapsed by JSON.parse; the tiling check catches the orphaned bytes.
    rejects(rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)), /tensor 'w' starts at byte 4/)
  })

  it('rejects NaN and Infinity values, naming the tensor and element', () => {
    for (const [value, label] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity']] as const) {
      const header = '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}'
      rejects(rawFile(header, new Uint8Array(new Float32Array([0, 1, value]).buffer)), new RegExp(`non-finite value: tensor 'w' element 2 is ${label}`))
    }
    assert.throws(() => encodeSafetensors([{ name: 'w', shape: [1], data: Float32Array.from([NaN]) }]), /cannot encode non-finite weights: tensor 'w' element 0 is NaN/)
  })

  it('names the source in error messages', () => {
    assert.throws(() => decodeSafetensors(new Uint8Array(3), { source: 'bafy123' }), (err: unknown) =>
      err instanceof InvalidWeightsFileError && err.shortMessage.startsWith('bafy123: truncated safetensors file'))
  })
})

describe('decodeSafetensors on a Node Buffer', () => {
  it('reads the tensor, not the Buffer pool around it', async () => {
    const { encodeSafetensors, decodeSafetensors } = await import('./tensors.ts')
    const encoded = encodeSafetensors([{ name: 'w', shape: [3], data: new Float32Array([1, 2, 3]) }])
    // Buffer.from of a small array lands in Node's shared pool, like the result of a small readFile.
    const decoded = decodeSafetensors(Buffer.from(encoded))
    assert.deepEqual(Array.from(decoded[0].data), [1, 2, 3])
  })
})
