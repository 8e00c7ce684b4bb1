import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {
  InvalidDataError,
  classCounts,
  holdOut,
  loadCsv,
  loadImageFolder,
  loadJsonl,
  loadLocalData,
  loadMnist,
  parseCsv,
  parseJsonl,
  partitionNonIid,
  type Dataset
} from './data.ts'
import { encodeBmp, encodePgm, encodePng } from './fixtures/imageEncoders.ts'

function rejectsData (fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof InvalidDataError && message.test(err.message))
}

async function rejectsDataAsync (promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof InvalidDataError && message.test(err.message))
}

let dir: string
before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'myc-data-test-')) })
after(async () => { await rm(dir, { recursive: true, force: true }) })

describe('CSV', () => {
  it('reads a header, features and the last column as the label', async () => {
    const file = path.join(dir, 'train.csv')
    await writeFile(file, '\ufeffa,b,label\r\n0.5,1,2\r\n\r\n-1,3e-2,0\r\n')
    const data = await loadCsv(file)
    assert.equal(data.count, 2)
    assert.deepEqual(data.featureShape, [2])
    assert.deepEqual([...data.x], [0.5, 1, -1, Math.fround(0.03)])
    assert.deepEqual([...data.y], [2, 0])
    assert.equal(data.classNames, undefined)
  })

  it('takes a named label column, quoted fields, scaling and reshaping', () => {
    const data = parseCsv('"class",p0,p1,p2,p3\n"cat, tabby",255,0,51,102\ndog,0,255,0,0\n', { labelColumn: 'class', featureScale: 1 / 255, featureShape: [2, 2, 1] })
    assert.deepEqual(data.featureShape, [2, 2, 1])
    assert.deepEqual(data.classNames, ['cat, tabby', 'dog'])
    assert.deepEqual([...data.y], [0, 1])
    assert.ok(Math.abs(data.x[2] - 0.2) < 1e-7)
  })

  it('maps labels through the job\'s classes', () => {
    const data = parseCsv('x,y\n1,dog\n2,cat\n', { classes: ['bird', 'cat', 'dog'] })
    assert.deepEqual([...data.y], [2, 1])
    assert.deepEqual(data.classNames, ['bird', 'cat', 'dog'])
    rejectsData(() => parseCsv('x,y\n1,dog\n2,fish\n', { classes: ['cat', 'dog'] }, 'f.csv'), /f\.csv line 3: label 'fish' is not one of the job's classes/)
  })

  it('rejects malformed files with the line and column', () => {
    rejectsData(() => parseCsv('', {}, 'f.csv'), /f\.csv: empty CSV file/)
    rejectsData(() => parseCsv('a,label\n', {}, 'f.csv'), /f\.csv: no samples after the header row/)
    rejectsData(() => parseCsv('1,2,3\n4,5,6\n', {}, 'f.csv'), /f\.csv line 1: the first row is all numbers, but a header row is required/)
    rejectsData(() => parseCsv('a,b,label\n1,2,0\n1,2\n', {}, 'f.csv'), /f\.csv line 3: 2 fields, expected 3 \(as in the header\)/)
    rejectsData(() => parseCsv('a,b,label\n1,2,0\n1,abc,1\n', {}, 'f.csv'), /f\.csv line 3, column 'b': "abc" is not a finite number/)
    rejectsData(() => parseCsv('a,b,label\n1,,0\n', {}, 'f.csv'), /line 2, column 'b': "" is not a finite number/)
    rejectsData(() => parseCsv('a,b,label\n1,2,\n', {}, 'f.csv'), /f\.csv line 2: empty label in column 'label'/)
    rejectsData(() => parseCsv('a,b,label\n1,2,0.5\n', {}, 'f.csv'), /f\.csv line 2: label '0\.5' is not a class index/)
    rejectsData(() => parseCsv('a,b,label\n1,"2,0\n', {}, 'f.csv'), /f\.csv line 2: unterminated quoted field/)
    rejectsData(() => parseCsv('a,b,label\n1,2,0\n', { labelColumn: 'target' }, 'f.csv'), /f\.csv: no column named 'target' \(columns: a, b, label\)/)
  })
})

describe('JSON lines', () => {
  it('reads {"x", "y"} rows; nested x gives the feature shape', async () => {
    const file = path.join(dir, 'train.jsonl')
    await writeFile(file, '{"x": [[0, 1], [2, 3]], "y": 1}\n\n{"x": [[4, 5], [6, 7]], "y": 0}\n')
    const data = await loadJsonl(file)
    assert.deepEqual(data.featureShape, [2, 2])
    assert.deepEqual([...data.x], [0, 1, 2, 3, 4, 5, 6, 7])
    assert.deepEqual([...data.y], [1, 0])
  })

  it('uses configurable keys and string labels', () => {
    const data = parseJsonl('{"pixels": [1, 2], "digit": "seven"}\n{"pixels": [3, 4], "digit": "one"}\n', { xKey: 'pixels', yKey: 'digit' })
    assert.deepEqual(data.classNames, ['one', 'seven'])
    assert.deepEqual([...data.y], [1, 0])
  })

  it('rejects malformed lines with the line number', () => {
    rejectsData(() => parseJsonl('{"x": [1], "y": 0}\n{"x": [1], "y": 0', {}, 'f.jsonl'), /f\.jsonl line 2: not valid JSON/)
    rejectsData(() => parseJsonl('{"x": [1], "label": 0}\n', {}, 'f.jsonl'), /f\.jsonl line 1: missing "y"/)
    rejectsData(() => parseJsonl('[1, 2]\n', {}, 'f.jsonl'), /line 1: expected a JSON object/)
    rejectsData(() => parseJsonl('{"x": [1, 2], "y": 0}\n{"x": [1, 2, 3], "y": 1}\n', {}, 'f.jsonl'), /f\.jsonl line 2: "x" has shape \[3\], but earlier rows have \[2\]/)
    rejectsData(() => parseJsonl('{"x": [1, null], "y": 0}\n', {}, 'f.jsonl'), /line 1: "x"\[1\] is null, not a finite number/)
    rejectsData(() => parseJsonl('{"x": [[1, 2], [3]], "y": 0}\n', {}, 'f.jsonl'), /ragged nested array/)
    rejectsData(() => parseJsonl('{"x": [1], "y": -1}\n', {}, 'f.jsonl'), /label '-1' is not a class index/)
    rejectsData(() => parseJsonl('\n\n', {}, 'f.jsonl'), /f\.jsonl: no samples/)
  })
})

describe('image folders', () => {
  const pixels = (seed: number): number[] => Array.from({ length: 12 }, (_, i) => (i * 29 + seed * 71) % 256)

  it('reads DIR/<label>/*.pgm|bmp|png as [h, w, channels] in [0, 1]', async () => {
    const root = path.join(dir, 'images')
    await mkdir(path.join(root, 'cat'), { recursive: true })
    await mkdir(path.join(root, 'dog'), { recursive: true })
    await writeFile(path.join(root, 'cat', 'a.pgm'), encodePgm(4, 3, pixels(1)))
    await writeFile(path.join(root, 'cat', 'b.png'), encodePng({ width: 4, height: 3, colorType: 0, bitDepth: 8, samples: pixels(2), filters: [1, 4] }))
    await writeFile(path.join(root, 'cat', 'notes.txt'), 'not an image')
    await writeFile(path.join(root, 'dog', 'c.bmp'), encodeBmp(4, 3, pixels(3), { bitsPerPixel: 8 }))
    const data = await loadImageFolder(root)
    assert.equal(data.count, 3)
    assert.deepEqual(data.featureShape, [3, 4, 1])
    assert.deepEqual(data.classNames, ['cat', 'dog'])
    assert.deepEqual([...data.y], [0, 0, 1])
    assert.deepEqual([...data.x.subarray(24, 36)].map((v) => Math.round(v * 255)), pixels(3))
    const rgb = await loadImageFolder(root, { channels: 3 })
    assert.deepEqual(rgb.featureShape, [3, 4, 3])

    const detected = await loadLocalData(root)
    assert.equal(detected.format, 'images')
    assert.equal(detected.count, 3)
  })

  it('rejects mixed sizes, corrupt images and empty folders, naming the file', async () => {
    const root = path.join(dir, 'bad-images')
    await mkdir(path.join(root, '0'), { recursive: true })
    await writeFile(path.join(root, '0', 'a.pgm'), encodePgm(4, 3, pixels(1)))
    await writeFile(path.join(root, '0', 'b.pgm'), encodePgm(3, 3, pixels(1).slice(0, 9)))
    await rejectsDataAsync(loadImageFolder(root), /0[/\\]b\.pgm: image is 3×3, but .*a\.pgm is 4×3/)
    await writeFile(path.join(root, '0', 'b.pgm'), 'P5 4 3 255\n\x01\x02')
    await assert.rejects(loadImageFolder(root), /0[/\\]b\.pgm: truncated P5 file/)
    await rejectsDataAsync(loadImageFolder(path.join(dir, 'nowhere')), /cannot read the image folder/)
    const empty = path.join(dir, 'empty-images')
    await mkdir(path.join(empty, 'x'), { recursive: true })
    await rejectsDataAsync(loadImageFolder(empty), /no images found/)
  })
})

describe('loadLocalData', () => {
  it('detects CSV and JSON lines files and directories', async () => {
    const csvDir = path.join(dir, 'csv-shards')
    await mkdir(csvDir)
    await writeFile(path.join(csvDir, 'b.csv'), 'x,y\n3,1\n')
    await writeFile(path.join(csvDir, 'a.csv'), 'x,y\n1,0\n2,1\n')
    const data = await loadLocalData(csvDir)
    assert.equal(data.format, 'csv')
    assert.deepEqual(data.files.map((f) => path.basename(f)), ['a.csv', 'b.csv'])
    assert.deepEqual([...data.x], [1, 2, 3])
    const jsonl = await loadLocalData(path.join(dir, 'train.jsonl'))
    assert.equal(jsonl.format, 'jsonl')
    await rejectsDataAsync(loadLocalData(path.join(dir, 'missing')), /no such file or directory/)
    const emptyDir = path.join(dir, 'nothing')
    await mkdir(emptyDir)
    await rejectsDataAsync(loadLocalData(emptyDir), /no training data found/)
  })
})

describe('MNIST and splits', () => {
  let mnist: Dataset
  before(async () => { mnist = await loadMnist() })

  it('loads the 10,000 real digits of the mnist package', async () => {
    assert.equal(mnist.count, 10000)
    assert.deepEqual(mnist.featureShape, [784])
    assert.equal(mnist.x.length, 10000 * 784)
    assert.ok(mnist.x.every((v) => v >= 0 && v <= 1))
    const counts = classCounts(mnist)
    assert.equal(counts.length, 10)
    assert.ok(counts.every((n) => n > 800 && n < 1200), `per-digit counts ${counts.join(', ')}`)
    // Seeded order: same seed, same samples; shaped for a CNN on request.
    const a = await loadMnist({ count: 50, seed: 4, shape: [28, 28, 1] })
    const b = await loadMnist({ count: 50, seed: 4 })
    assert.deepEqual(a.featureShape, [28, 28, 1])
    assert.deepEqual(a.x, b.x)
    assert.deepEqual(a.y, b.y)
    assert.notDeepEqual((await loadMnist({ count: 50, seed: 5 })).y, b.y)
  })

  it('partitionNonIid: each client holds labelsPerClient classes; every sample lands exactly once', () => {
    for (const labelsPerClient of [2, 3]) {
      const shards = partitionNonIid(mnist, 5, { labelsPerClient, seed: 1 })
      assert.equal(shards.length, 5)
      const total = new Array(10).fill(0)
      for (const shard of shards) {
        const counts = classCounts(shard, 10)
        assert.equal(counts.filter((n) => n > 0).length, labelsPerClient)
        counts.forEach((n, c) => { total[c] += n })
      }
      assert.deepEqual(total, classCounts(mnist))
      assert.equal(shards.reduce((n, s) => n + s.count, 0), mnist.count)
    }
    // Deterministic for a seed.
    assert.deepEqual(partitionNonIid(mnist, 5, { seed: 9 }).map((s) => s.y), partitionNonIid(mnist, 5, { seed: 9 }).map((s) => s.y))
  })

  it('partitionNonIid with iidFraction: mostly a few classes, a sprinkle of the rest', () => {
    const shards = partitionNonIid(mnist, 5, { labelsPerClient: 2, iidFraction: 0.1, seed: 2 })
    for (const shard of shards) {
      const counts = classCounts(shard, 10).sort((a, b) => b - a)
      assert.ok((counts[0] + counts[1]) / shard.count > 0.85)
      assert.ok(counts[2] > 0)
    }
    assert.throws(() => partitionNonIid(mnist, 3, { labelsPerClient: 2, seed: 1 }), /3 clients × 2 labels cannot cover the 10 classes/)
  })

  it('holdOut: a seeded, disjoint split of the requested size', () => {
    const { train, test } = holdOut(mnist, 0.2, 3)
    assert.equal(test.count, 2000)
    assert.equal(train.count, 8000)
    const counts = classCounts(mnist)
    const split = classCounts(train, 10).map((n, c) => n + classCounts(test, 10)[c])
    assert.deepEqual(split, counts)
    assert.deepEqual(holdOut(mnist, 0.2, 3).test.y, test.y)
    assert.throws(() => holdOut(mnist, 1, 3), /fraction must be in \(0, 1\)/)
  })
})
