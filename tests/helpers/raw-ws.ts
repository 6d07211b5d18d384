import { connect, type Socket } from 'node:net'

/**
 * A minimal WebSocket client on a raw TCP socket, for what browser-like clients cannot do: stop reading
 * (slow consumer), vanish without a close frame, ignore pings, send arbitrary frames.
 */
export interface RawWs {
  /** HTTP status line code of the handshake answer (101 on success). */
  status: number
  headers: string
  socket: Socket
  /** Text frames received so far. */
  texts: string[]
  /** Close frame received, if any. */
  close: { code: number; reason: string } | null
  /** Resolves when the TCP connection ends. */
  ended: Promise<void>
  pause(): void
  resume(): void
  sendText(text: string): void
  sendBinary(data: Uint8Array): void
  /** Drop the connection without a close frame. */
  destroy(): void
}

export async function rawWs(port: number, path: string, opts: { headers?: Record<string, string>; respondToPings?: boolean } = {}): Promise<RawWs> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const extra = Object.entries(opts.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
  )
  let buf: Buffer = Buffer.alloc(0)
  const ws: RawWs = {
    status: 0,
    headers: '',
    socket,
    texts: [],
    close: null,
    ended: new Promise((resolve) => socket.once('close', () => resolve())),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    sendText: (t) => socket.write(frame(0x1, Buffer.from(t))),
    sendBinary: (d) => socket.write(frame(0x2, Buffer.from(d))),
    destroy: () => socket.destroy(),
  }
  socket.on('error', () => {})
  await new Promise<void>((resolve) => {
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (!ws.status) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        ws.headers = buf.subarray(0, end).toString()
        ws.status = Number(/^HTTP\/1\.1 (\d+)/.exec(ws.headers)?.[1] ?? 0)
        buf = buf.subarray(end + 4)
        resolve()
      }
      buf = parseFrames(buf, ws, opts.respondToPings ?? true)
    }
    socket.on('data', onData)
    socket.once('close', () => resolve())
  })
  return ws
}

function parseFrames(buf: Buffer, ws: RawWs, pong: boolean): Buffer {
  for (;;) {
    if (buf.length < 2) return buf
    const op = buf[0]! & 0x0f
    let len = buf[1]! & 0x7f
    let off = 2
    if (len === 126) {
      if (buf.length < 4) return buf
      len = buf.readUInt16BE(2)
      off = 4
    } else if (len === 127) {
      if (buf.length < 10) return buf
      len = Number(buf.readBigUInt64BE(2))
      off = 10
    }
    if (buf.length < off + len) return buf
    const payload = buf.subarray(off, off + len)
    if (op === 0x1) ws.texts.push(payload.toString())
    else if (op === 0x8) ws.close = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() }
    else if (op === 0x9 && pong) ws.socket.write(frame(0xa, Buffer.from(payload)))
    buf = buf.subarray(off + len)
  }
}

/** A masked client frame. */
function frame(op: number, payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4])
  const len = payload.length
  const head = len < 126 ? Buffer.from([0x80 | op, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10)
  if (len >= 126 && len < 65536) {
    head[0] = 0x80 | op
    head[1] = 0x80 | 126
    head.writeUInt16BE(len, 2)
  } else if (len >= 65536) {
    head[0] = 0x80 | op
    head[1] = 0x80 | 127
    head.writeBigUInt64BE(BigInt(len), 2)
  }
  const masked = Buffer.from(payload)
  for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i % 4]!
  return Buffer.concat([head, mask, masked])
}
