import type { Socket } from 'bun'
import { RawFleet, type RawConn } from './fleet.ts'
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

interface Conn extends RawConn {
  upgraded: boolean
  closeCode: number
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

export class RawWsFleet extends RawFleet<Conn> implements WsClients {
  readonly unexpectedCloses = new Map<number, number>()
  /** Status codes of refused handshakes. */
  readonly refused = new Map<number, number>()

  constructor(private opts: FleetOptions) {
    super(
      opts.url,
      'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
      opts.headers ?? {},
      opts.sampleCapacity,
    )
  }

  protected newConn(i: number): Conn {
    return { i, carry: null, upgraded: false, closing: false, closeCode: 0, resolve: null }
  }

  protected onClose(s: Socket<Conn>): void {
    const c = s.data
    if (this.slots[c.i] === s) this.slots[c.i] = null
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

  protected onData(s: Socket<Conn>, chunk: Buffer): void {
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
    this.receipt(i, parseNumberBytes(buf, a, b), parseNumberBytes(buf, b + 1, d), now)
  }

  closeOne(i: number, code = 1000): void {
    const s = this.slots[i]
    if (!s) return
    s.data.closing = true
    this.slots[i] = null
    s.write(clientFrame(0x8, Buffer.from([code >> 8, code & 0xff])))
    s.end()
  }
}
