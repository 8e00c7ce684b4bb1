/**
 * Prints the unrolled round body of the Keccak-f[1600] permutation in keccak.ts (FIPS 202: theta, rho
 * and pi, chi, iota; lane (x, y) is locals a{2(x+5y)} (low half) and a{2(x+5y)+1} (high half)):
 *
 *   npx node src/ledger/keccak.generate.ts
 */
import { pathToFileURL } from 'node:url'

/** Rotation offsets r[x][y]. */
const ROTATIONS = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]
const lane = (x: number, y: number): number => x + 5 * y

export function roundBody (): string[] {
  const lines: string[] = []
  for (let x = 0; x < 5; x++) {
    for (const half of [0, 1]) lines.push(`const c${2 * x + half} = ${[0, 1, 2, 3, 4].map(y => `a${2 * lane(x, y) + half}`).join(' ^ ')}`)
  }
  for (let x = 0; x < 5; x++) {
    const p = (x + 4) % 5
    const n = (x + 1) % 5
    // D[x] = C[x-1] ^ rotl(C[x+1], 1)
    lines.push(`const d${2 * x} = c${2 * p} ^ ((c${2 * n} << 1) | (c${2 * n + 1} >>> 31))`)
    lines.push(`const d${2 * x + 1} = c${2 * p + 1} ^ ((c${2 * n + 1} << 1) | (c${2 * n} >>> 31))`)
  }
  for (let x = 0; x < 5; x++) {
    for (let y = 0; y < 5; y++) lines.push(`a${2 * lane(x, y)} ^= d${2 * x}; a${2 * lane(x, y) + 1} ^= d${2 * x + 1}`)
  }
  // rho and pi: B[y][2x + 3y] = rotl(A[x][y], r[x][y])
  for (let x = 0; x < 5; x++) {
    for (let y = 0; y < 5; y++) {
      const i = lane(x, y)
      const j = lane(y, (2 * x + 3 * y) % 5)
      const r = ROTATIONS[x][y]
      const [lo, hi] = [`a${2 * i}`, `a${2 * i + 1}`]
      let [low, high] = [lo, hi]
      if (r === 32) [low, high] = [hi, lo]
      else if (r > 0 && r < 32) [low, high] = [`(${lo} << ${r}) | (${hi} >>> ${32 - r})`, `(${hi} << ${r}) | (${lo} >>> ${32 - r})`]
      else if (r > 32) [low, high] = [`(${hi} << ${r - 32}) | (${lo} >>> ${64 - r})`, `(${lo} << ${r - 32}) | (${hi} >>> ${64 - r})`]
      lines.push(`const b${2 * j} = ${low}`, `const b${2 * j + 1} = ${high}`)
    }
  }
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 5; x++) {
      const [i, i1, i2] = [lane(x, y), lane((x + 1) % 5, y), lane((x + 2) % 5, y)]
      for (const half of [0, 1]) lines.push(`a${2 * i + half} = b${2 * i + half} ^ (~b${2 * i1 + half} & b${2 * i2 + half})`)
    }
  }
  lines.push('a0 ^= ROUND_LO[round]', 'a1 ^= ROUND_HI[round]')
  return lines
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(roundBody().map(line => `    ${line}`).join('\n'))
