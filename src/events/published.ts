import type { Actor, Envelope, EventType, LegacyType, Payload } from './catalog.ts'

/** What a source hands the bus. The bus fills in id, time and the dotted type. */
export interface EventDraft {
  memory: string
  payload: Payload
  actor?: Actor
  entityType?: 'note' | 'job' | 'queue' | 'webhook'
  entityId?: string
  /** The tags of the note the event concerns (visibility for tag-restricted principals); null/absent = not note-scoped. */
  tags?: readonly string[] | null
  /** Ties the events of one operation together (a note write, the jobs it queued and their events). */
  correlationId?: string
  /** The event_id of the event that directly caused this one. */
  causationId?: string
  /** A pre-minted UUIDv7 for this event (when the source must record the id before publishing). */
  eventId?: string
}

/** The tracing ids a source passes along: the chain it belongs to and the event that caused it. */
export type Trace = Pick<EventDraft, 'correlationId' | 'causationId'>

/** An event after publication: built once, serialised once, shared by every transport. */
export interface PublishedEvent {
  /** Position in the durable log; 0 when the log write failed (the event is still delivered live). */
  seq: number
  envelope: Envelope
  /** The envelope as JSON (SSE `data:`, webhook body). */
  json: string
  memory: string
  eventType: EventType
  legacyType: LegacyType
  tags: readonly string[] | null
  /** performance.now() at creation, for the latency histogram. */
  t0: number
  /** W3C traceparent of the `event.publish` span when tracing is on (webhook deliveries continue the trace). */
  traceparent?: string
  /**
   * QueueStatus only: the counts of each tag restriction (by tagSetKey) that had listeners when it was counted,
   * computed by its source with the memory-wide counts. Not logged; a node without an entry counts on delivery.
   */
  groupCounts?: ReadonlyMap<string, QueueCounts>
}

/** Pending and running jobs of a memory, as one restriction sees them. */
export interface QueueCounts {
  pending: number
  running: number
}

/**
 * A bus subscriber. A once-per-cluster subscriber (`onCommitted`) may return a promise for durable work (the
 * outbox's delivery rows): requests that caused the event answer once it settles.
 */
export type Subscriber = (event: PublishedEvent) => void | Promise<unknown>
