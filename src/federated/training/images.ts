/**
 * Tiny decoders for the image formats the image-folder loader accepts, with no dependency but
 * node:zlib: PGM/PPM (P2, P5, P3, P6; 8- or 16-bit), uncompressed BMP (BI_RGB, 1/4/8-bit
 * paletted, 24- and 32-bit) and PNG (every color type and bit depth, non-interlaced; CRCs
 * checked). Pixels come out as floats in [0, 1], row-major, channels interleaved; alpha is
 * dropped (not composited).
 */
import { crc32, inflateSync } from 'node:zlib'
import { InvalidInputError, type BaseErrorParameters } from '../../errors.ts'

export interface DecodedImage {
  width: number
  height: number
  /** 1 (gray) or 3 (RGB). */
  channels: 1 | 3
  /** height × width × channels values in [0, 1]. */
  data: Float32Array
}

export class InvalidImageError extends InvalidInputError {
  override name = 'InvalidImageError'
  constructor (source: string, shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(`${source}: ${shortMessage}`, { code: 'INVALID_IMAGE', ...parameters })
  }
}

/** Largest width × height accepted (a hostile header must not make us allocate gigabytes). */
export const MAX_IMAGE_PIXELS = 64 * 1024 * 1024

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

export type ImageFormat = 'png' | 'bmp' | 'pnm'

/** The format by magic bytes, or undefined. */
export function sniffImageFormat (bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png'
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) return 'bmp'
  if (bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] >= 0x32 && bytes[1] <= 0x36 && bytes[1] !== 0x34) return 'pnm'
  return undefined
}

/** Decodes PNG, BMP or PGM/PPM bytes (detected by their magic bytes). */
export function decodeImage (bytes: Uint8Array, source = 'image'): DecodedImage {
  switch (sniffImageFormat(bytes)) {
    case 'png': return decodePng(bytes, source)
    case 'bmp': return decodeBmp(bytes, source)
    case 'pnm': return decodePnm(bytes, source)
    default: throw new InvalidImageError(source, 'not a PNG, BMP or PGM/PPM file (unrecognized magic bytes)')
  }
}

/** The image with `channels` channels: RGB → gray by ITU-R BT.601 luma, gray → RGB by copying. */
export function toChannels (image: DecodedImage, channels: 1 | 3): DecodedImage {
  if (image.channels === channels) return image
  const pixels = image.width * image.height
  const data = new Float32Array(pixels * channels)
  if (channels === 1) {
    for (let p = 0; p < pixels; p++) data[p] = 0.299 * image.data[p * 3] + 0.587 * image.data[p * 3 + 1] + 0.114 * image.data[p * 3 + 2]
  } else {
    for (let p = 0; p < pixels; p++) data[p * 3] = data[p * 3 + 1] = data[p * 3 + 2] = image.data[p]
  }
  return { width: image.width, height: image.height, channels, data }
}

function checkSize (width: number, height: number, source: string): void {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new InvalidImageError(source, `invalid image size ${width}×${height}`)
  }
  if (width * height > MAX_IMAGE_PIXELS) throw new InvalidImageError(source, `image of ${width}×${height} pixels is larger than the ${MAX_IMAGE_PIXELS}-pixel limit`)
}

// --- PGM / PPM --------------------------------------------------------------------------------

/** Netpbm: P2 (ASCII gray), P5 (binary gray), P3 (ASCII RGB), P6 (binary RGB). */
export function decodePnm (bytes: Uint8Array, source = 'image'): DecodedImage {
  const magic = String.fromCharCode(bytes[0] ?? 0, bytes[1] ?? 0)
  if (!['P2', 'P3', 'P5', 'P6'].includes(magic)) throw new InvalidImageError(source, `unsupported Netpbm type '${magic}' (expected P2, P3, P5 or P6)`)
  const channels = magic === 'P3' || magic === 'P6' ? 3 : 1
  const binary = magic === 'P5' || magic === 'P6'
  let pos = 2
  const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c
  const nextToken = (what: string): number => {
    for (;;) {
      while (pos < bytes.length && isSpace(bytes[pos])) pos++
      if (bytes[pos] === 0x23) { // '#' comment to end of line
        while (pos < bytes.length && bytes[pos] !== 0x0a && bytes[pos] !== 0x0d) pos++
        continue
      }
      break
    }
    const start = pos
    while (pos < bytes.length && !isSpace(bytes[pos]) && bytes[pos] !== 0x23) pos++
    const text = String.fromCharCode(...bytes.subarray(start, pos))
    if (!/^\d+$/.test(text)) throw new InvalidImageError(source, text === '' ? `truncated ${magic} file: missing ${what}` : `${magic} ${what} '${text}' is not a non-negative integer`)
    return Number(text)
  }
  const width = nextToken('width')
  const height = nextToken('height')
  checkSize(width, height, source)
  const maxval = nextToken('maxval')
  if (maxval < 1 || maxval > 65535) throw new InvalidImageError(source, `${magic} maxval ${maxval} is outside 1 … 65535`)
  const count = width * height * channels
  const data = new Float32Array(count)
  if (binary) {
    pos++ // exactly one whitespace byte after maxval
    const bytesPerSample = maxval > 255 ? 2 : 1
    if (bytes.length - pos < count * bytesPerSample) {
      throw new InvalidImageError(source, `truncated ${magic} file: ${bytes.length - pos} bytes of pixel data, expected ${count * bytesPerSample} for ${width}×${height}`)
    }
    for (let i = 0; i < count; i++) {
      const value = bytesPerSample === 2 ? (bytes[pos + 2 * i] << 8) | bytes[pos + 2 * i + 1] : bytes[pos + i]
      if (value > maxval) throw new InvalidImageError(source, `sample ${i} is ${value}, above maxval ${maxval}`)
      data[i] = value / maxval
    }
  } else {
    for (let i = 0; i < count; i++) {
      const value = nextToken(`sample ${i} of ${count}`)
      if (value > maxval) throw new InvalidImageError(source, `sample ${i} is ${value}, above maxval ${maxval}`)
      data[i] = value / maxval
    }
  }
  return { width, height, channels, data }
}

// --- BMP --------------------------------------------------------------------------------------

/** Uncompressed Windows bitmaps: BI_RGB with 1, 4, 8 (paletted), 24 or 32 bits per pixel. */
export function decodeBmp (bytes: Uint8Array, source = 'image'): DecodedImage {
  if (bytes.length < 26 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) throw new InvalidImageError(source, 'not a BMP file (too short or no "BM" signature)')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dataOffset = view.getUint32(10, true)
  const dibSize = view.getUint32(14, true)
  if (dibSize < 40 || bytes.length < 14 + dibSize) {
    throw new InvalidImageError(source, dibSize === 12 ? 'OS/2 BMP (BITMAPCOREHEADER) is not supported' : `truncated or unsupported BMP header (DIB header size ${dibSize})`)
  }
  const width = view.getInt32(18, true)
  const rawHeight = view.getInt32(22, true)
  const topDown = rawHeight < 0
  const height = Math.abs(rawHeight)
  const bitsPerPixel = view.getUint16(28, true)
  const compression = view.getUint32(30, true)
  checkSize(width, height, source)
  if (compression !== 0) {
    const names: Record<number, string> = { 1: 'RLE8', 2: 'RLE4', 3: 'BITFIELDS', 4: 'JPEG', 5: 'PNG' }
    throw new InvalidImageError(source, `compressed BMP (${names[compression] ?? `compression ${compression}`}) is not supported; save it uncompressed (BI_RGB)`)
  }
  if (![1, 4, 8, 24, 32].includes(bitsPerPixel)) throw new InvalidImageError(source, `${bitsPerPixel}-bit BMP is not supported (expected 1, 4, 8, 24 or 32)`)
  let palette: Uint8Array | undefined
  if (bitsPerPixel <= 8) {
    const declared = view.getUint32(46, true)
    const colors = declared === 0 ? 1 << bitsPerPixel : declared
    const start = 14 + dibSize
    if (colors > 1 << bitsPerPixel || start + colors * 4 > bytes.length) throw new InvalidImageError(source, `BMP palette of ${colors} colors is invalid or truncated`)
    palette = bytes.subarray(start, start + colors * 4) // B, G, R, reserved
  }
  const stride = Math.floor((bitsPerPixel * width + 31) / 32) * 4
  if (dataOffset + stride * height > bytes.length) {
    throw new InvalidImageError(source, `truncated BMP: pixel data needs ${stride * height} bytes from offset ${dataOffset}, the file has ${bytes.length - dataOffset}`)
  }
  const rgb = new Float32Array(width * height * 3)
  const gray = palette !== undefined ? isGrayPalette(palette) : false
  for (let row = 0; row < height; row++) {
    const y = topDown ? row : height - 1 - row
    const line = dataOffset + row * stride
    for (let x = 0; x < width; x++) {
      let r: number, g: number, b: number
      if (palette !== undefined) {
        const index = readPacked(bytes, line, x, bitsPerPixel)
        if (index * 4 >= palette.length) throw new InvalidImageError(source, `pixel (${x}, ${y}) uses color ${index}, outside the ${palette.length / 4}-color palette`)
        b = palette[index * 4]; g = palette[index * 4 + 1]; r = palette[index * 4 + 2]
      } else {
        const p = line + x * (bitsPerPixel / 8)
        b = bytes[p]; g = bytes[p + 1]; r = bytes[p + 2]
      }
      const o = (y * width + x) * 3
      rgb[o] = r / 255; rgb[o + 1] = g / 255; rgb[o + 2] = b / 255
    }
  }
  const image: DecodedImage = { width, height, channels: 3, data: rgb }
  return gray ? toChannels(image, 1) : image
}

function isGrayPalette (palette: Uint8Array): boolean {
  for (let i = 0; i < palette.length; i += 4) if (palette[i] !== palette[i + 1] || palette[i] !== palette[i + 2]) return false
  return true
}

/** Sample `x` of a row of `bits`-bit samples packed most-significant first (bits ≤ 8). */
function readPacked (bytes: Uint8Array, rowStart: number, x: number, bits: number): number {
  if (bits === 8) return bytes[rowStart + x]
  const bit = x * bits
  const byte = bytes[rowStart + (bit >> 3)]
  return (byte >> (8 - bits - (bit & 7))) & ((1 << bits) - 1)
}

// --- PNG --------------------------------------------------------------------------------------

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }
const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] }

/** Non-interlaced PNG of any standard color type and bit depth. */
export function decodePng (bytes: Uint8Array, source = 'image'): DecodedImage {
  if (bytes.length < 8 || !PNG_SIGNATURE.every((b, i) => bytes[i] === b)) throw new InvalidImageError(source, 'not a PNG file (bad signature)')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let pos = 8
  let header: { width: number, height: number, bitDepth: number, colorType: number } | undefined
  let palette: Uint8Array | undefined
  const idat: Uint8Array[] = []
  let ended = false
  while (pos < bytes.length && !ended) {
    if (pos + 12 > bytes.length) throw new InvalidImageError(source, `truncated PNG: incomplete chunk header at byte ${pos}`)
    const length = view.getUint32(pos)
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8))
    if (pos + 12 + length > bytes.length) throw new InvalidImageError(source, `truncated PNG: chunk ${type} of ${length} bytes runs past the end of the file`)
    const body = bytes.subarray(pos + 8, pos + 8 + length)
    const crc = view.getUint32(pos + 8 + length)
    if (crc32(bytes.subarray(pos + 4, pos + 8 + length)) !== crc) throw new InvalidImageError(source, `corrupt PNG: CRC mismatch in chunk ${type}`)
    pos += 12 + length
    switch (type) {
      case 'IHDR': {
        if (length !== 13) throw new InvalidImageError(source, 'corrupt PNG: IHDR must be 13 bytes')
        const h = new DataView(body.buffer, body.byteOffset, body.byteLength)
        header = { width: h.getUint32(0), height: h.getUint32(4), bitDepth: body[8], colorType: body[9] }
        if (body[10] !== 0 || body[11] !== 0) throw new InvalidImageError(source, 'unsupported PNG compression or filter method')
        if (body[12] !== 0) throw new InvalidImageError(source, 'interlaced (Adam7) PNG is not supported; save it non-interlaced')
        break
      }
      case 'PLTE': palette = body; break
      case 'IDAT': idat.push(body); break
      case 'IEND': ended = true; break
      default: break // ancillary chunks (gAMA, tEXt, tRNS…) are ignored
    }
  }
  if (header === undefined) throw new InvalidImageError(source, 'corrupt PNG: no IHDR chunk')
  if (!ended) throw new InvalidImageError(source, 'truncated PNG: no IEND chunk')
  const { width, height, bitDepth, colorType } = header
  checkSize(width, height, source)
  const samplesPerPixel = PNG_CHANNELS[colorType]
  if (samplesPerPixel === undefined) throw new InvalidImageError(source, `invalid PNG color type ${colorType}`)
  if (!PNG_DEPTHS[colorType].includes(bitDepth)) throw new InvalidImageError(source, `invalid PNG bit depth ${bitDepth} for color type ${colorType}`)
  if (colorType === 3 && palette === undefined) throw new InvalidImageError(source, 'corrupt PNG: paletted image without a PLTE chunk')
  if (idat.length === 0) throw new InvalidImageError(source, 'corrupt PNG: no IDAT chunk')

  let raw: Uint8Array
  try {
    raw = inflateSync(Buffer.concat(idat))
  } catch (err) {
    throw new InvalidImageError(source, `corrupt PNG: image data does not inflate (${(err as Error).message})`)
  }
  const bitsPerPixel = samplesPerPixel * bitDepth
  const stride = Math.ceil((width * bitsPerPixel) / 8)
  const bpp = Math.max(1, bitsPerPixel >> 3)
  if (raw.length < (stride + 1) * height) throw new InvalidImageError(source, `truncated PNG: ${raw.length} bytes of image data, expected ${(stride + 1) * height}`)
  const pixels = new Uint8Array(stride * height)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    const out = pixels.subarray(y * stride, (y + 1) * stride)
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : undefined
    unfilter(filter, line, out, prev, bpp, source, y)
  }

  const maxValue = (1 << bitDepth) - 1
  const sample = (rowStart: number, index: number): number =>
    bitDepth === 16 ? ((pixels[rowStart + 2 * index] << 8) | pixels[rowStart + 2 * index + 1]) : readPacked(pixels, rowStart, index, bitDepth)
  const colorChannels = colorType === 2 || colorType === 6 || (colorType === 3 && !isGrayRgbPalette(palette!)) ? 3 : 1
  const data = new Float32Array(width * height * colorChannels)
  for (let y = 0; y < height; y++) {
    const rowStart = y * stride
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * colorChannels
      if (colorType === 3) {
        const index = sample(rowStart, x)
        if (index * 3 + 2 >= palette!.length) throw new InvalidImageError(source, `pixel (${x}, ${y}) uses color ${index}, outside the ${palette!.length / 3}-color palette`)
        for (let c = 0; c < colorChannels; c++) data[o + c] = palette![index * 3 + c] / 255
      } else {
        for (let c = 0; c < colorChannels; c++) data[o + c] = sample(rowStart, x * samplesPerPixel + c) / maxValue
      }
    }
  }
  return { width, height, channels: colorChannels as 1 | 3, data }
}

function isGrayRgbPalette (palette: Uint8Array): boolean {
  for (let i = 0; i + 2 < palette.length; i += 3) if (palette[i] !== palette[i + 1] || palette[i] !== palette[i + 2]) return false
  return true
}

function unfilter (filter: number, line: Uint8Array, out: Uint8Array, prev: Uint8Array | undefined, bpp: number, source: string, y: number): void {
  const n = line.length
  switch (filter) {
    case 0: out.set(line); return
    case 1: for (let i = 0; i < n; i++) out[i] = line[i] + (i >= bpp ? out[i - bpp] : 0); return
    case 2: for (let i = 0; i < n; i++) out[i] = line[i] + (prev !== undefined ? prev[i] : 0); return
    case 3:
      for (let i = 0; i < n; i++) out[i] = line[i] + (((i >= bpp ? out[i - bpp] : 0) + (prev !== undefined ? prev[i] : 0)) >> 1)
      return
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? out[i - bpp] : 0
        const b = prev !== undefined ? prev[i] : 0
        const c = i >= bpp && prev !== undefined ? prev[i - bpp] : 0
        const p = a + b - c
        const pa = Math.abs(p - a)
        const pb = Math.abs(p - b)
        const pc = Math.abs(p - c)
        out[i] = line[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)
      }
      return
    default:
      throw new InvalidImageError(source, `corrupt PNG: unknown filter type ${filter} on row ${y}`)
  }
}
