import type { EventStore } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'

interface Stored {
  seq: number
  streamId: string
  /** null for the transport's priming events (an empty message that only carries an id). */
  message: JSONRPCMessage | null
  bytes: number
}

/**
 * One MCP session's resumption store (`Last-Event-ID`), bounded by message count and bytes, oldest dropped first.
 *
 * One store per session, never shared: the SDK names every session's standalone GET stream with the same constant
 * id, so a store shared between sessions would replay one session's notifications to whoever presents one of its
 * event ids (GHSA-84j6-jc92-77jm). Event ids carry this store's random tag; an id of another session (or any
 * forged id) is unknown here and the transport answers 400. Sessions are themselves bound to one principal
 * (see hub.ts), so the store is scoped per session and per principal.
 *
 * Id layout: `<tag>.<seq>.<stream id>` — seq orders the session's messages, the stream id says which stream
 * (a POST's response stream or the GET stream) a resume continues.
 */
export class SessionEventStore implements EventStore {
  private events: Stored[] = []
  private head = 0
  private seq = 0
  private bytes = 0
  /** Messages dropped to stay within the bounds (a resume from before them misses them). */
  dropped = 0

  constructor(
    private readonly tag: string,
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.events.length - this.head
  }

  /** The seq of the newest stored message (0 when none). */
  get lastSeq(): number {
    return this.seq
  }

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const seq = ++this.seq
    const priming = Object.keys(message).length === 0
    const bytes = priming ? 0 : JSON.stringify(message).length
    this.events.push({ seq, streamId, message: priming ? null : message, bytes })
    this.bytes += bytes
    while (this.size > this.maxEvents || (this.bytes > this.maxBytes && this.size > 1)) {
      const old = this.events[this.head]!
      this.events[this.head++] = undefined as unknown as Stored
      this.bytes -= old.bytes
      if (old.message) this.dropped++
    }
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head)
      this.head = 0
    }
    return `${this.tag}.${seq}.${streamId}`
  }

  /** The stream an id of this session names; undefined for ids of other sessions, forged or future ids. */
  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.parse(eventId)?.streamId
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const at = this.parse(lastEventId)
    if (!at) throw new Error('unknown event id')
    for (let i = this.head; i < this.events.length; i++) {
      const e = this.events[i]!
      if (e.seq <= at.seq || e.streamId !== at.streamId || !e.message) continue
      await send(`${this.tag}.${e.seq}.${e.streamId}`, e.message)
    }
    return at.streamId
  }

  private parse(eventId: string): { seq: number; streamId: string } | null {
    return parseEventId(this.tag, this.seq, eventId)
  }
}

/** `<tag>.<seq>.<stream id>` of this store (tag matches, 1 ≤ seq ≤ lastSeq) → its parts; anything else → null. */
export function parseEventId(tag: string, lastSeq: number, eventId: string): { seq: number; streamId: string } | null {
  if (eventId.length > 200) return null
  const a = eventId.indexOf('.')
  const b = eventId.indexOf('.', a + 1)
  if (a < 0 || b < 0 || eventId.slice(0, a) !== tag) return null
  const seqText = eventId.slice(a + 1, b)
  if (!/^[1-9]\d{0,15}$/.test(seqText)) return null
  const seq = Number(seqText)
  const streamId = eventId.slice(b + 1)
  if (seq > lastSeq || !streamId) return null
  return { seq, streamId }
}
