/** One `Range: bytes=…` header → [start, end) within `size`; `undefined` = serve the whole file; `null` = unsatisfiable. */
export function parseRange (header: string | undefined, size: number): { start: number, end: number } | undefined | null {
  if (header == null) return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  // Multiple ranges are legal HTTP but rare for model files; answering 200 with the whole file is allowed.
  if (match == null) return header.includes(',') ? undefined : null
  const [, first, last] = match
  if (first === '' && last === '') return null
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0) return null
    return { start: Math.max(0, size - suffix), end: size }
  }
  const start = Number(first)
  const end = last === '' ? size : Math.min(Number(last) + 1, size)
  if (start >= size || end <= start) return null
  return { start, end }
}
