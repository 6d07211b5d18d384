import type { Socket } from 'bun'
import { Samples } from './stats.ts'
import type { FleetOptions, WsClients } from './ws-fleet.ts'

/**
 * N WebSocket clients speaking RFC 6455 directly over Bun.connect TCP sockets: one `data` callback per
 * TCP read (often many frames), frames parsed in place and the stamp read from the bytes, no string or
 * event object per frame. Several times cheaper per delivery than the WebSocket class, so the load
 * generator — which shares the two cores with the server — takes less of the machine and the servers'
 * differences show. The same code runs against every server under test.
 */

const MARKER = Buffer.from('"message":"')
const HANDSHAKE_END = Buffer.from('\r\n\r\n')
const ZERO_MASK = Buffer.from([0, 0, 0, 0])

interface Conn {
  i: number
  /** Bytes of an incomplete frame (or handshake) carried to the next read. */
  carry: Buffer | null
  upgraded: boolean
  closing: boolean
  closeCode: number
  resolve: ((ok: boolean) => void) | null
}

/** Parses an unsigned decimal or a decimal fraction from bytes [a, b); NaN when malformed. */
export function parseNumberBytes(buf: Uint8Array, a: number, b: number): number {
  let i = a
  let neg = false
  if (buf[i] === 45) {
    neg = true
    i++
  }
  if (i >= b) return Number.NaN
  let int = 0
  for (; i < b && buf[i] !== 46; i++) {
    const d = buf[i]! - 48
    if (d < 0 || d > 9) return Number.NaN
    int = int * 10 + d
  }
  let frac = 0
  let scale = 1
  if (i < b) {
    for (i++; i < b; i++) {
      const d = buf[i]! - 48
      if (d < 0 || d > 9) return Number.NaN
      frac = frac * 10 + d
      scale *= 10
    }
  }
  const v = int + frac / scale
  return neg ? -v : v
}

/** A masked client frame (zero mask key: valid, and the payload needs no XOR). */
export function clientFrame(opcode: number, payload: Uint8Array): Buffer {
  const len = payload.length
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
  return Buffer.concat([head, ZERO_MASK, payload])
}

export class RawWsFleet implements WsClients {
  private conns: (Socket<Conn> | null)[] = []
  counts = new Int32Array(0)
  private lastSeq = new Float64Array(0)
  readonly latency: Samples
  received = 0
  warmupReceived = 0
  reordered = 0
  lastReceiptAt = 0
  openFailures = 0
  readonly unexpectedCloses = new Map<number, number>()
  /** Status codes of refused handshakes. */
  readonly refused = new Map<number, number>()
  private host: string
  private port: number
  private request: string

  constructor(private opts: FleetOptions) {
    this.latency = new Samples(opts.sampleCapacity ?? 1 << 16)
    const u = new URL(opts.url)
    this.host = u.hostname
    this.port = Number(u.port)
    const extra = Object.entries(opts.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')
    this.request =
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
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
      const conn: Conn = { i, carry: null, upgraded: false, closing: false, closeCode: 0, resolve: null }
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
    if (!c.upgraded) {
      c.resolve?.(false)
      return
    }
    if (!c.closing) {
      const code = c.closeCode || 1006
      this.unexpectedCloses.set(code, (this.unexpectedCloses.get(code) ?? 0) + 1)
    }
    c.closing = true
  }

  private onData(s: Socket<Conn>, chunk: Buffer): void {
    const c = s.data
    let buf = c.carry ? Buffer.concat([c.carry, chunk]) : chunk
    c.carry = null
    let off = 0
    if (!c.upgraded) {
      const end = buf.indexOf(HANDSHAKE_END)
      if (end < 0) {
        c.carry = Buffer.from(buf)
        return
      }
      const status = Number(buf.toString('latin1', 9, 12))
      if (status !== 101) {
        this.refused.set(status, (this.refused.get(status) ?? 0) + 1)
        c.resolve?.(false)
        s.end()
        return
      }
      c.upgraded = true
      c.resolve?.(true)
      off = end + 4
    }
    const now = performance.now()
    const n = buf.length
    while (n - off >= 2) {
      const op = buf[off]! & 0x0f
      let len = buf[off + 1]! & 0x7f
      let start = off + 2
      if (len === 126) {
        if (n - off < 4) break
        len = (buf[off + 2]! << 8) | buf[off + 3]!
        start = off + 4
      } else if (len === 127) {
        if (n - off < 10) break
        len = Number(buf.readBigUInt64BE(off + 2))
        start = off + 10
      }
      const end = start + len
      if (end > n) break
      if (op === 0x1) this.onText(c.i, buf, start, end, now)
      else if (op === 0x9) s.write(clientFrame(0xa, buf.subarray(start, end)))
      else if (op === 0x8) {
        c.closeCode = len >= 2 ? (buf[start]! << 8) | buf[start + 1]! : 1005
        if (!c.closing) s.write(clientFrame(0x8, buf.subarray(start, Math.min(end, start + 2))))
        s.end()
      }
      off = end
    }
    // Copy the remainder: Bun may reuse the chunk's memory after this callback.
    if (off < n) c.carry = Buffer.from(buf.subarray(off))
  }

  private onText(i: number, buf: Buffer, start: number, end: number, now: number): void {
    const m = buf.indexOf(MARKER, start)
    if (m < 0 || m >= end) {
      this.opts.onOther?.(i, buf.toString('utf8', start, end), now)
      return
    }
    const a = m + MARKER.length
    const b = buf.indexOf(124, a) // '|'
    const d = b < 0 ? -1 : buf.indexOf(124, b + 1)
    if (b < 0 || d < 0 || d >= end) {
      this.opts.onOther?.(i, buf.toString('utf8', start, end), now)
      return
    }
    const seq = parseNumberBytes(buf, a, b)
    const t = parseNumberBytes(buf, b + 1, d)
    if (seq < 0) {
      this.warmupReceived++
      return
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

  closeOne(i: number, code = 1000): void {
    const s = this.conns[i]
    if (!s) return
    s.data.closing = true
    this.conns[i] = null
    s.write(clientFrame(0x8, Buffer.from([code >> 8, code & 0xff])))
    s.end()
  }

  closeAll(): void {
    for (let i = 0; i < this.conns.length; i++) this.closeOne(i)
  }
}
