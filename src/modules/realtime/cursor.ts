import { createHmac } from 'node:crypto'

/**
 * Stream cursors: UUID-shaped ids that name a position in the event log rather than an event. The synthetic
 * `queue.status` frame that opens every SSE stream carries one as its `event_id`, because the HotM client takes
 * the last `event_id` it saw as its resume point (and ignores frames whose `event_id` is not a UUID); a
 * `Last-Event-ID` holding a cursor resumes right after that position, with no gap and no duplicate.
 *
 * Layout (an RFC 9562 version-8 UUID): 48-bit creation time (ms) | version 8 | 12 tag bits | variant 10 |
 * 14 tag bits | 48-bit log position. The 26-bit tag is an HMAC of (memory, position, time) under a key derived
 * from the server secret, so a cursor is only honoured on the memory it was issued for and cannot be forged to
 * probe the log (an invalid one is an unknown id: `resync_required`).
 */
const CURSOR = /^([0-9a-f]{8})-([0-9a-f]{4})-8([0-9a-f]{3})-([89ab][0-9a-f]{3})-([0-9a-f]{12})$/i
const MAX_POSITION = 2 ** 48 - 1

export class CursorCodec {
  private key: Buffer

  constructor(secret: Uint8Array) {
    // A key of its own, derived from the server secret: survives restarts, and differs from the JWT key.
    this.key = createHmac('sha256', Buffer.from(secret)).update('matric-realtime sse cursor v1').digest()
  }

  private tag(memory: string, position: number, ms: number): number {
    const h = createHmac('sha256', this.key).update(`${memory}\n${position}\n${ms}`).digest()
    return h.readUIntBE(0, 4) >>> 6 // 26 bits
  }

  encode(memory: string, position: number, ms = Date.now()): string {
    if (!Number.isSafeInteger(position) || position < 0 || position > MAX_POSITION) throw new RangeError(`cursor position ${position} out of range`)
    const tag = this.tag(memory, position, ms)
    const time = ms.toString(16).padStart(12, '0').slice(-12)
    const high = (tag >>> 14) & 0xfff // 12 bits
    const low = tag & 0x3fff // 14 bits
    const pos = position.toString(16).padStart(12, '0')
    return `${time.slice(0, 8)}-${time.slice(8)}-8${high.toString(16).padStart(3, '0')}-${(0x8000 | low).toString(16)}-${pos}`
  }

  /** The log position a cursor names for this memory, or null when `id` is not a valid cursor of it. */
  decode(memory: string, id: string): number | null {
    const m = CURSOR.exec(id)
    if (!m) return null
    const ms = parseInt(m[1]! + m[2]!, 16)
    const tag = (parseInt(m[3]!, 16) << 14) | (parseInt(m[4]!, 16) & 0x3fff)
    const position = parseInt(m[5]!, 16)
    return this.tag(memory, position, ms) === tag ? position : null
  }
}
