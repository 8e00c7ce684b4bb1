import os from 'node:os'
import { keccak_256 as nobleKeccak256 } from '@noble/hashes/sha3.js'

/**
 * Keccak-256 of short inputs (at most 135 bytes: one block of the sponge), two to three times as fast as
 * @noble/hashes for the 32- and 64-byte inputs of Merkle trees: the Keccak-f[1600] permutation is
 * unrolled over 50 32-bit locals (each 64-bit lane as a low and a high half), with no allocation per
 * call. Checked against @noble/hashes in keccak.test.ts. The round body is printed by keccak.generate.ts
 * (theta, rho and pi, chi, iota of FIPS 202); do not edit it by hand.
 */

const RATE = 136
const LITTLE_ENDIAN = os.endianness() === 'LE'

// Round constants, split into 32-bit halves.
const ROUND_LO = new Int32Array([
  0x00000001, 0x00008082, 0x0000808a, 0x80008000, 0x0000808b, 0x80000001, 0x80008081, 0x00008009,
  0x0000008a, 0x00000088, 0x80008009, 0x8000000a, 0x8000808b, 0x0000008b, 0x00008089, 0x00008003,
  0x00008002, 0x00000080, 0x0000800a, 0x8000000a, 0x80008081, 0x00008080, 0x80000001, 0x80008008
])
const ROUND_HI = new Int32Array([
  0x00000000, 0x00000000, 0x80000000, 0x80000000, 0x00000000, 0x00000000, 0x80000000, 0x80000000,
  0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x80000000, 0x80000000, 0x80000000,
  0x80000000, 0x80000000, 0x00000000, 0x80000000, 0x80000000, 0x80000000, 0x00000000, 0x80000000
])

const block = new Uint8Array(RATE)
const blockWords = new Int32Array(block.buffer)
const digest = new Int32Array(8)
const digestBytes = new Uint8Array(digest.buffer)

/** Writes keccak256(`input`) (at most 135 bytes) into `out` at `outOffset`. */
export function keccak256Into (input: Uint8Array, out: Uint8Array, outOffset = 0): void {
  if (input.length >= RATE || !LITTLE_ENDIAN) {
    out.set(nobleKeccak256(input), outOffset)
    return
  }
  block.fill(0)
  block.set(input)
  block[input.length] ^= 0x01
  block[RATE - 1] ^= 0x80
  permute(blockWords)
  out.set(digestBytes, outOffset)
}

/** keccak256 of a short input, as a new array. */
export function keccak256Short (input: Uint8Array): Uint8Array {
  const out = new Uint8Array(32)
  keccak256Into(input, out)
  return out
}

/** Keccak-f[1600] on a state whose first 34 words are `w` (the rest zero); the first 8 words out go to `digest`. */
function permute (w: Int32Array): void {
  let a0 = w[0], a1 = w[1], a2 = w[2], a3 = w[3], a4 = w[4], a5 = w[5], a6 = w[6], a7 = w[7], a8 = w[8], a9 = w[9], a10 = w[10], a11 = w[11], a12 = w[12], a13 = w[13], a14 = w[14], a15 = w[15], a16 = w[16], a17 = w[17], a18 = w[18], a19 = w[19], a20 = w[20], a21 = w[21], a22 = w[22], a23 = w[23], a24 = w[24], a25 = w[25], a26 = w[26], a27 = w[27], a28 = w[28], a29 = w[29], a30 = w[30], a31 = w[31], a32 = w[32], a33 = w[33]
  let a34 = 0, a35 = 0, a36 = 0, a37 = 0, a38 = 0, a39 = 0, a40 = 0, a41 = 0, a42 = 0, a43 = 0, a44 = 0, a45 = 0, a46 = 0, a47 = 0, a48 = 0, a49 = 0
  for (let round = 0; round < 24; round++) {
      const c0 = a0 ^ a10 ^ a20 ^ a30 ^ a40
      const c1 = a1 ^ a11 ^ a21 ^ a31 ^ a41
      const c2 = a2 ^ a12 ^ a22 ^ a32 ^ a42
      const c3 = a3 ^ a13 ^ a23 ^ a33 ^ a43
      const c4 = a4 ^ a14 ^ a24 ^ a34 ^ a44
      const c5 = a5 ^ a15 ^ a25 ^ a35 ^ a45
      const c6 = a6 ^ a16 ^ a26 ^ a36 ^ a46
      const c7 = a7 ^ a17 ^ a27 ^ a37 ^ a47
      const c8 = a8 ^ a18 ^ a28 ^ a38 ^ a48
      const c9 = a9 ^ a19 ^ a29 ^ a39 ^ a49
      const d0 = c8 ^ ((c2 << 1) | (c3 >>> 31))
      const d1 = c9 ^ ((c3 << 1) | (c2 >>> 31))
      const d2 = c0 ^ ((c4 << 1) | (c5 >>> 31))
      const d3 = c1 ^ ((c5 << 1) | (c4 >>> 31))
      const d4 = c2 ^ ((c6 << 1) | (c7 >>> 31))
      const d5 = c3 ^ ((c7 << 1) | (c6 >>> 31))
      const d6 = c4 ^ ((c8 << 1) | (c9 >>> 31))
      const d7 = c5 ^ ((c9 << 1) | (c8 >>> 31))
      const d8 = c6 ^ ((c0 << 1) | (c1 >>> 31))
      const d9 = c7 ^ ((c1 << 1) | (c0 >>> 31))
      a0 ^= d0; a1 ^= d1
      a10 ^= d0; a11 ^= d1
      a20 ^= d0; a21 ^= d1
      a30 ^= d0; a31 ^= d1
      a40 ^= d0; a41 ^= d1
      a2 ^= d2; a3 ^= d3
      a12 ^= d2; a13 ^= d3
      a22 ^= d2; a23 ^= d3
      a32 ^= d2; a33 ^= d3
      a42 ^= d2; a43 ^= d3
      a4 ^= d4; a5 ^= d5
      a14 ^= d4; a15 ^= d5
      a24 ^= d4; a25 ^= d5
      a34 ^= d4; a35 ^= d5
      a44 ^= d4; a45 ^= d5
      a6 ^= d6; a7 ^= d7
      a16 ^= d6; a17 ^= d7
      a26 ^= d6; a27 ^= d7
      a36 ^= d6; a37 ^= d7
      a46 ^= d6; a47 ^= d7
      a8 ^= d8; a9 ^= d9
      a18 ^= d8; a19 ^= d9
      a28 ^= d8; a29 ^= d9
      a38 ^= d8; a39 ^= d9
      a48 ^= d8; a49 ^= d9
      const b0 = a0
      const b1 = a1
      const b32 = (a11 << 4) | (a10 >>> 28)
      const b33 = (a10 << 4) | (a11 >>> 28)
      const b14 = (a20 << 3) | (a21 >>> 29)
      const b15 = (a21 << 3) | (a20 >>> 29)
      const b46 = (a31 << 9) | (a30 >>> 23)
      const b47 = (a30 << 9) | (a31 >>> 23)
      const b28 = (a40 << 18) | (a41 >>> 14)
      const b29 = (a41 << 18) | (a40 >>> 14)
      const b20 = (a2 << 1) | (a3 >>> 31)
      const b21 = (a3 << 1) | (a2 >>> 31)
      const b2 = (a13 << 12) | (a12 >>> 20)
      const b3 = (a12 << 12) | (a13 >>> 20)
      const b34 = (a22 << 10) | (a23 >>> 22)
      const b35 = (a23 << 10) | (a22 >>> 22)
      const b16 = (a33 << 13) | (a32 >>> 19)
      const b17 = (a32 << 13) | (a33 >>> 19)
      const b48 = (a42 << 2) | (a43 >>> 30)
      const b49 = (a43 << 2) | (a42 >>> 30)
      const b40 = (a5 << 30) | (a4 >>> 2)
      const b41 = (a4 << 30) | (a5 >>> 2)
      const b22 = (a14 << 6) | (a15 >>> 26)
      const b23 = (a15 << 6) | (a14 >>> 26)
      const b4 = (a25 << 11) | (a24 >>> 21)
      const b5 = (a24 << 11) | (a25 >>> 21)
      const b36 = (a34 << 15) | (a35 >>> 17)
      const b37 = (a35 << 15) | (a34 >>> 17)
      const b18 = (a45 << 29) | (a44 >>> 3)
      const b19 = (a44 << 29) | (a45 >>> 3)
      const b10 = (a6 << 28) | (a7 >>> 4)
      const b11 = (a7 << 28) | (a6 >>> 4)
      const b42 = (a17 << 23) | (a16 >>> 9)
      const b43 = (a16 << 23) | (a17 >>> 9)
      const b24 = (a26 << 25) | (a27 >>> 7)
      const b25 = (a27 << 25) | (a26 >>> 7)
      const b6 = (a36 << 21) | (a37 >>> 11)
      const b7 = (a37 << 21) | (a36 >>> 11)
      const b38 = (a47 << 24) | (a46 >>> 8)
      const b39 = (a46 << 24) | (a47 >>> 8)
      const b30 = (a8 << 27) | (a9 >>> 5)
      const b31 = (a9 << 27) | (a8 >>> 5)
      const b12 = (a18 << 20) | (a19 >>> 12)
      const b13 = (a19 << 20) | (a18 >>> 12)
      const b44 = (a29 << 7) | (a28 >>> 25)
      const b45 = (a28 << 7) | (a29 >>> 25)
      const b26 = (a38 << 8) | (a39 >>> 24)
      const b27 = (a39 << 8) | (a38 >>> 24)
      const b8 = (a48 << 14) | (a49 >>> 18)
      const b9 = (a49 << 14) | (a48 >>> 18)
      a0 = b0 ^ (~b2 & b4)
      a1 = b1 ^ (~b3 & b5)
      a2 = b2 ^ (~b4 & b6)
      a3 = b3 ^ (~b5 & b7)
      a4 = b4 ^ (~b6 & b8)
      a5 = b5 ^ (~b7 & b9)
      a6 = b6 ^ (~b8 & b0)
      a7 = b7 ^ (~b9 & b1)
      a8 = b8 ^ (~b0 & b2)
      a9 = b9 ^ (~b1 & b3)
      a10 = b10 ^ (~b12 & b14)
      a11 = b11 ^ (~b13 & b15)
      a12 = b12 ^ (~b14 & b16)
      a13 = b13 ^ (~b15 & b17)
      a14 = b14 ^ (~b16 & b18)
      a15 = b15 ^ (~b17 & b19)
      a16 = b16 ^ (~b18 & b10)
      a17 = b17 ^ (~b19 & b11)
      a18 = b18 ^ (~b10 & b12)
      a19 = b19 ^ (~b11 & b13)
      a20 = b20 ^ (~b22 & b24)
      a21 = b21 ^ (~b23 & b25)
      a22 = b22 ^ (~b24 & b26)
      a23 = b23 ^ (~b25 & b27)
      a24 = b24 ^ (~b26 & b28)
      a25 = b25 ^ (~b27 & b29)
      a26 = b26 ^ (~b28 & b20)
      a27 = b27 ^ (~b29 & b21)
      a28 = b28 ^ (~b20 & b22)
      a29 = b29 ^ (~b21 & b23)
      a30 = b30 ^ (~b32 & b34)
      a31 = b31 ^ (~b33 & b35)
      a32 = b32 ^ (~b34 & b36)
      a33 = b33 ^ (~b35 & b37)
      a34 = b34 ^ (~b36 & b38)
      a35 = b35 ^ (~b37 & b39)
      a36 = b36 ^ (~b38 & b30)
      a37 = b37 ^ (~b39 & b31)
      a38 = b38 ^ (~b30 & b32)
      a39 = b39 ^ (~b31 & b33)
      a40 = b40 ^ (~b42 & b44)
      a41 = b41 ^ (~b43 & b45)
      a42 = b42 ^ (~b44 & b46)
      a43 = b43 ^ (~b45 & b47)
      a44 = b44 ^ (~b46 & b48)
      a45 = b45 ^ (~b47 & b49)
      a46 = b46 ^ (~b48 & b40)
      a47 = b47 ^ (~b49 & b41)
      a48 = b48 ^ (~b40 & b42)
      a49 = b49 ^ (~b41 & b43)
      a0 ^= ROUND_LO[round]
      a1 ^= ROUND_HI[round]
  }
  digest[0] = a0; digest[1] = a1; digest[2] = a2; digest[3] = a3; digest[4] = a4; digest[5] = a5; digest[6] = a6; digest[7] = a7
}
