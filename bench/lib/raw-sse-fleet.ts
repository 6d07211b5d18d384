import type { Socket } from 'bun'
import { RawFleet, type RawConn } from './fleet.ts'
import { parseNumberBytes } from './raw-ws-fleet.ts'
import type { SseClients } from './sse-fleet.ts'

/**
 * N SSE streams on raw Bun.connect sockets: HTTP/1.1 request written by hand, chunked transfer decoding
 * and event splitting on bytes, the stamp read in place. fetch() streaming costs the load generator several
 * times more per event, enough to dominate a 1,000-stream run on two shared cores.
 */

const MARKER = Buffer.from('"message":"')
const HEADERS_END = Buffer.from('\r\n\r\n')
const CRLF = Buffer.from('\r\n')
const EVENT_END = Buffer.from('\n\n')
const LAGGED = Buffer.from('event: events.lagged')
const RESYNC = Buffer.from('event: resync_required')

/** Incremental `Transfer-Encoding: chunked` decoder: feeds the payload bytes to `onBody`. */
export class ChunkedDecoder {
  private phase: 'size' | 'data' | 'crlf' | 'done' = 'size'
  private remaining = 0
  private crlfLeft = 0
  private line: Buffer | null = null

  constructor(private onBody: (bytes: Buffer) => void) {}

  get done(): boolean {
    return this.phase === 'done'
  }

  feed(chunk: Buffer): void {
    let i = 0
    const n = chunk.length
    while (i < n && this.phase !== 'done') {
      if (this.phase === 'size') {
        const src = this.line ? Buffer.concat([this.line, chunk.subarray(i)]) : chunk
        const from = this.line ? 0 : i
        const eol = src.indexOf(CRLF, from)
        if (eol < 0) {
          this.line = Buffer.from(src.subarray(from))
          return
        }
        const consumed = this.line ? eol + 2 - this.line.length : eol + 2 - i
        const size = parseInt(src.toString('latin1', from, eol).split(';')[0]!, 16)
        this.line = null
        i += consumed
        if (!Number.isFinite(size) || size === 0) {
          this.phase = 'done'
          return
        }
        this.remaining = size
        this.phase = 'data'
      } else if (this.phase === 'data') {
        const take = Math.min(this.remaining, n - i)
        this.onBody(chunk.subarray(i, i + take))
        i += take
        this.remaining -= take
        if (this.remaining === 0) {
          this.phase = 'crlf'
          this.crlfLeft = 2
        }
      } else {
        const take = Math.min(this.crlfLeft, n - i)
        i += take
        this.crlfLeft -= take
        if (this.crlfLeft === 0) this.phase = 'size'
      }
    }
  }
}

interface Conn extends RawConn {
  headersDone: boolean
  decoder: ChunkedDecoder | null
}

export class RawSseFleet extends RawFleet<Conn> implements SseClients {
  lagged = 0
  resyncs = 0
  endedUnexpectedly = 0
  frameBytes = 0
  readonly statuses = new Map<number, number>()

  constructor(url: string, headers: Record<string, string> = {}, sampleCapacity?: number) {
    super(url, 'Accept: text/event-stream\r\n', headers, sampleCapacity)
  }

  protected newConn(i: number): Conn {
    return { i, carry: null, headersDone: false, decoder: null, closing: false, resolve: null }
  }

  protected onClose(s: Socket<Conn>): void {
    const c = s.data
    if (this.slots[c.i] === s) this.slots[c.i] = null
    c.resolve?.(false)
    if (c.headersDone && !c.closing) this.endedUnexpectedly++
    c.closing = true
  }

  protected onData(s: Socket<Conn>, chunk: Buffer): void {
    const c = s.data
    if (!c.headersDone) {
      const buf = c.carry ? Buffer.concat([c.carry, chunk]) : chunk
      c.carry = null
      const end = buf.indexOf(HEADERS_END)
      if (end < 0) {
        c.carry = Buffer.from(buf)
        return
      }
      const head = buf.toString('latin1', 0, end)
      const status = Number(head.slice(9, 12))
      this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1)
      if (status !== 200) {
        c.resolve?.(false)
        c.closing = true
        s.end()
        return
      }
      c.headersDone = true
      c.resolve?.(true)
      if (/transfer-encoding:\s*chunked/i.test(head)) c.decoder = new ChunkedDecoder((b) => this.onBody(c, b))
      const rest = buf.subarray(end + 4)
      if (rest.length) this.feed(c, Buffer.from(rest))
      return
    }
    this.feed(c, chunk)
  }

  /** Receipt time of the read being processed (the decoder calls back synchronously). */
  private now = 0

  private feed(c: Conn, chunk: Buffer): void {
    this.now = performance.now()
    if (c.decoder) c.decoder.feed(chunk)
    else this.onBody(c, chunk)
  }

  private onBody(c: Conn, bytes: Buffer): void {
    const now = this.now
    const buf = c.carry ? Buffer.concat([c.carry, bytes]) : bytes
    c.carry = null
    let pos = 0
    for (;;) {
      const e = buf.indexOf(EVENT_END, pos)
      if (e < 0) break
      this.onEvent(c.i, buf, pos, e, now)
      pos = e + 2
    }
    if (pos < buf.length) c.carry = Buffer.from(buf.subarray(pos))
  }

  private onEvent(i: number, buf: Buffer, start: number, end: number, now: number): void {
    const m = buf.indexOf(MARKER, start)
    if (m < 0 || m >= end) {
      const l = buf.indexOf(LAGGED, start)
      if (l >= 0 && l < end) this.lagged++
      const r = buf.indexOf(RESYNC, start)
      if (r >= 0 && r < end) this.resyncs++
      return
    }
    const a = m + MARKER.length
    const b = buf.indexOf(124, a)
    const d = b < 0 ? -1 : buf.indexOf(124, b + 1)
    if (b < 0 || d < 0 || d >= end) return
    if (!this.receipt(i, parseNumberBytes(buf, a, b), parseNumberBytes(buf, b + 1, d), now)) return
    if (!this.frameBytes) {
      const dl = buf.indexOf('data: ', start)
      if (dl >= 0 && dl < end) this.frameBytes = end - dl - 6
    }
  }

  closeOne(i: number): void {
    const s = this.slots[i]
    if (!s) return
    s.data.closing = true
    this.slots[i] = null
    s.end()
  }
}
