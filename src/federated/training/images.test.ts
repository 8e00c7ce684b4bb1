import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeImage, InvalidImageError, toChannels } from './images.ts'
import { encodeBmp, encodePgm, encodePng, encodePpm, pngChunk } from './fixtures/imageEncoders.ts'

const W = 5
const H = 4
const GRAY = Array.from({ length: W * H }, (_, i) => (i * 37 + 11) % 256)
const RGB = Array.from({ length: W * H * 3 }, (_, i) => (i * 53 + 7) % 256)

function near (actual: Float32Array, expected: number[], scale: number): void {
  assert.equal(actual.length, expected.length)
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i] / scale) < 1e-6, `value ${i}: ${actual[i]} vs ${expected[i] / scale}`)
}

function rejects (bytes: Uint8Array, message: RegExp): void {
  assert.throws(() => decodeImage(bytes, 'img'), (err: unknown) => err instanceof InvalidImageError && err.code === 'INVALID_IMAGE' && message.test(err.message) && err.message.startsWith('img: '))
}

describe('image decoders', () => {
  it('PGM: P5 (8- and 16-bit) and P2 with comments', () => {
    for (const bytes of [encodePgm(W, H, GRAY), encodePgm(W, H, GRAY, { ascii: true, comment: 'made by a test' })]) {
      const image = decodeImage(bytes)
      assert.deepEqual([image.width, image.height, image.channels], [W, H, 1])
      near(image.data, GRAY, 255)
    }
    const wide = GRAY.map((v) => v * 200)
    near(decodeImage(encodePgm(W, H, wide, { maxval: 65535 })).data, wide, 65535)
  })

  it('PPM P6 is RGB', () => {
    const image = decodeImage(encodePpm(W, H, RGB))
    assert.equal(image.channels, 3)
    near(image.data, RGB, 255)
  })

  it('BMP: 8-bit gray palette, 24-bit bottom-up, 32-bit top-down', () => {
    const gray = decodeImage(encodeBmp(W, H, GRAY, { bitsPerPixel: 8 }))
    assert.equal(gray.channels, 1)
    near(gray.data, GRAY, 255)
    for (const options of [{ bitsPerPixel: 24 as const }, { bitsPerPixel: 32 as const, topDown: true }]) {
      const image = decodeImage(encodeBmp(W, H, RGB, options))
      assert.deepEqual([image.width, image.height, image.channels], [W, H, 3])
      near(image.data, RGB, 255)
    }
  })

  it('PNG: every filter type, gray/RGB/alpha/palette, 1- to 16-bit', () => {
    const filters = [0, 1, 2, 3, 4]
    near(decodeImage(encodePng({ width: W, height: H, colorType: 0, bitDepth: 8, samples: GRAY, filters })).data, GRAY, 255)
    near(decodeImage(encodePng({ width: W, height: H, colorType: 2, bitDepth: 8, samples: RGB, filters: [4, 3, 1, 2] })).data, RGB, 255)
    const wide = RGB.map((v) => v * 257)
    near(decodeImage(encodePng({ width: W, height: H, colorType: 2, bitDepth: 16, samples: wide, filters })).data, wide, 65535)
    const twoBit = GRAY.map((v) => v & 3)
    near(decodeImage(encodePng({ width: W, height: H, colorType: 0, bitDepth: 2, samples: twoBit, filters })).data, twoBit, 3)
    // Gray + alpha and RGBA: alpha is dropped.
    const ga = GRAY.flatMap((v) => [v, 255 - v])
    near(decodeImage(encodePng({ width: W, height: H, colorType: 4, bitDepth: 8, samples: ga, filters })).data, GRAY, 255)
    const rgba = Array.from({ length: W * H }, (_, p) => [RGB[p * 3], RGB[p * 3 + 1], RGB[p * 3 + 2], 9]).flat()
    near(decodeImage(encodePng({ width: W, height: H, colorType: 6, bitDepth: 8, samples: rgba, filters })).data, RGB, 255)
    // 4-bit palette of colors → RGB; of grays → one channel.
    const indices = GRAY.map((v) => v % 3)
    const palette = [255, 0, 0, 0, 255, 0, 10, 20, 30]
    near(decodeImage(encodePng({ width: W, height: H, colorType: 3, bitDepth: 4, samples: indices, palette })).data, indices.flatMap((i) => palette.slice(i * 3, i * 3 + 3)), 255)
    const grayPalette = decodeImage(encodePng({ width: W, height: H, colorType: 3, bitDepth: 1, samples: indices.map((i) => i & 1), palette: [0, 0, 0, 255, 255, 255] }))
    assert.equal(grayPalette.channels, 1)
    near(grayPalette.data, indices.map((i) => (i & 1) * 255), 255)
  })

  it('converts RGB to gray (BT.601) and gray to RGB', () => {
    const rgb = decodeImage(encodePpm(1, 1, [255, 0, 0]))
    assert.ok(Math.abs(toChannels(rgb, 1).data[0] - 0.299) < 1e-6)
    assert.deepEqual([...toChannels(decodeImage(encodePgm(1, 1, [51])), 3).data].map((v) => Math.round(v * 255)), [51, 51, 51])
  })

  it('rejects malformed files with the reason', () => {
    rejects(new TextEncoder().encode('GIF89a...'), /not a PNG, BMP or PGM\/PPM file/)
    rejects(encodePgm(W, H, GRAY).subarray(0, 20), /truncated P5 file: \d+ bytes of pixel data, expected 20/)
    rejects(new TextEncoder().encode('P2\n2 2\n255\n1 2 3\n'), /truncated P2 file: missing sample 3 of 4/)
    rejects(new TextEncoder().encode('P2\n2 x\n255\n'), /P2 height 'x' is not a non-negative integer/)
    rejects(encodePgm(2, 1, [10, 300], { ascii: true }), /sample 1 is 300, above maxval 255/)
    rejects(encodeBmp(W, H, RGB, { bitsPerPixel: 24, compression: 1 }), /compressed BMP \(RLE8\) is not supported/)
    rejects(encodeBmp(W, H, RGB, { bitsPerPixel: 24 }).subarray(0, 80), /truncated BMP/)
    const png = encodePng({ width: W, height: H, colorType: 0, bitDepth: 8, samples: GRAY })
    const corrupt = png.slice()
    corrupt[40] ^= 0xff
    rejects(corrupt, /CRC mismatch/)
    rejects(png.subarray(0, png.length - 12), /truncated PNG: no IEND chunk/)
    rejects(encodePng({ width: W, height: H, colorType: 0, bitDepth: 8, samples: GRAY, interlace: true }), /interlaced \(Adam7\) PNG is not supported/)
    rejects(encodePng({ width: W, height: H, colorType: 2, bitDepth: 4, samples: RGB.map((v) => v & 15) }), /invalid PNG bit depth 4 for color type 2/)
    rejects(encodePng({ width: W, height: H, colorType: 0, bitDepth: 8, samples: GRAY, filters: [0, 9] }), /unknown filter type 9 on row 1/)
    const ihdrOnly = new Uint8Array([...png.subarray(0, 33), ...pngChunk('IEND', new Uint8Array(0))])
    rejects(ihdrOnly, /no IDAT chunk/)
  })
})
