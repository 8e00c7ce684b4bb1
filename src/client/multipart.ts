import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'

export interface MultipartFile {
  /** Path inside the package. */
  path: string
  /** Where to read it from on this machine. */
  source: string
}

export interface MultipartBody {
  contentType: string
  body: ReadableStream<Uint8Array>
}

const encoder = new TextEncoder()

function quote (value: string): string {
  return value.replace(/["\\\r\n]/g, c => encodeURIComponent(c))
}

/** A streamed multipart/form-data body: one JSON field, then the files, read from disk as they are sent. */
export function multipartBody (fieldName: string, fieldValue: string, files: MultipartFile[], onBytes?: (bytes: number) => void): MultipartBody {
  const boundary = `----mycelium-${randomBytes(12).toString('hex')}`
  let sent = 0
  async function * parts (): AsyncGenerator<Uint8Array> {
    yield encoder.encode(`--${boundary}\r\nContent-Disposition: form-data; name="${fieldName}"\r\nContent-Type: application/json\r\n\r\n${fieldValue}\r\n`)
    for (const file of files) {
      yield encoder.encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quote(file.path)}"\r\nContent-Type: application/octet-stream\r\n\r\n`)
      for await (const chunk of createReadStream(file.source, { highWaterMark: 1024 * 1024 })) {
        sent += (chunk as Buffer).byteLength
        onBytes?.(sent)
        yield chunk as Buffer
      }
      yield encoder.encode('\r\n')
    }
    yield encoder.encode(`--${boundary}--\r\n`)
  }
  const iterator = parts()
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: new ReadableStream({
      async pull (controller) {
        const { value, done } = await iterator.next()
        if (done === true) controller.close()
        else controller.enqueue(value)
      },
      async cancel () { await iterator.return(undefined) }
    })
  }
}
