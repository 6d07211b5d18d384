import type { Socket } from 'bun'
import { parseNumberBytes } from './raw-ws-fleet.ts'
import { Samples } from './stats.ts'

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

interface Conn {
  i: number
  carry: Buffer | null
  headersDone: boolean
  decoder: ChunkedDecoder | null
  closing: boolean
  resolve: ((ok: boolean) => void) | null
}

export class RawSseFleet {
  private conns: (Socket<Conn> | null)[] = []
  counts = new Int32Array(0)
  private lastSeq = new Float64Array(0)
  readonly latency: Samples
  received = 0
  warmupReceived = 0
  reordered = 0
  lagged = 0
  resyncs = 0
  lastReceiptAt = 0
  openFailures = 0
  endedUnexpectedly = 0
  frameBytes = 0
  readonly statuses = new Map<number, number>()
  private host: string
  private port: number
  private request: string

  constructor(url: string, headers: Record<string, string> = {}, sampleCapacity = 1 << 16) {
    this.latency = new Samples(sampleCapacity)
    const u = new URL(url)
    this.host = u.hostname
    this.port = Number(u.port)
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')
    this.request = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n${extra}\r\n`
  }

  get size(): number {
    return this.conns.length
  }

  async open(n: number, concurrency = 100, timeoutMs = 30_000): Promise<number> {
    const first = this.conns.length
    const counts = new Int32Array(first + n)
    counts.set(this.counts)
    this.counts = counts
    const last = new Float64Array(first + n).fill(-1)
    last.set(this.lastSeq)
    this.lastSeq = last
    for (let k = 0; k < n; k++) this.conns.push(null)
    let next = first
    let opened = 0
    const lane = async () => {
      while (next < first + n) {
        const i = next++
        if (await this.openOne(i, timeoutMs)) opened++
        else this.openFailures++
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane))
    return opened
  }

  private openOne(i: number, timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const conn: Conn = { i, carry: null, headersDone: false, decoder: null, closing: false, resolve: null }
      const timer = setTimeout(() => finish(false), timeoutMs)
      const finish = (ok: boolean) => {
        if (!conn.resolve) return
        conn.resolve = null
        clearTimeout(timer)
        resolve(ok)
      }
      conn.resolve = finish
      const fleet = this
      Bun.connect<Conn>({
        hostname: this.host,
        port: this.port,
        data: conn,
        socket: {
          open(s) {
            fleet.conns[i] = s
            s.write(fleet.request)
          },
          data(s, chunk) {
            fleet.onData(s, chunk)
          },
          close(s) {
            fleet.onClose(s)
          },
          error(s) {
            fleet.onClose(s)
          },
          connectError() {
            finish(false)
          },
        },
      }).catch(() => finish(false))
    })
  }

  private onClose(s: Socket<Conn>): void {
    const c = s.data
    if (this.conns[c.i] === s) this.conns[c.i] = null
    c.resolve?.(false)
    if (c.headersDone && !c.closing) this.endedUnexpectedly++
    c.closing = true
  }

  private onData(s: Socket<Conn>, chunk: Buffer): void {
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
    const seq = parseNumberBytes(buf, a, b)
    const t = parseNumberBytes(buf, b + 1, d)
    if (seq < 0) {
      this.warmupReceived++
      return
    }
    if (!this.frameBytes) {
      const dl = buf.indexOf('data: ', start)
      if (dl >= 0 && dl < end) this.frameBytes = end - dl - 6
    }
    this.counts[i]!++
    this.received++
    this.lastReceiptAt = now
    if (seq <= this.lastSeq[i]!) this.reordered++
    this.lastSeq[i] = seq
    this.latency.push(now - t)
  }

  reset(): void {
    this.counts.fill(0)
    this.lastSeq.fill(-1)
    this.latency.clear()
    this.received = 0
    this.warmupReceived = 0
    this.reordered = 0
    this.lastReceiptAt = 0
  }

  complete(expected: number): number {
    let k = 0
    for (let i = 0; i < this.counts.length; i++) if (this.conns[i] && this.counts[i] === expected) k++
    return k
  }

  closeOne(i: number): void {
    const s = this.conns[i]
    if (!s) return
    s.data.closing = true
    this.conns[i] = null
    s.end()
  }

  closeAll(): void {
    for (let i = 0; i < this.conns.length; i++) this.closeOne(i)
  }
}
