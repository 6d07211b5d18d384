import type { Logger } from '../telemetry/log.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import type { Tracing } from '../telemetry/tracing.ts'
import { EVENT_TYPES, type Actor, type Envelope, type EventType, type LegacyType, type Payload } from './catalog.ts'
import type { EventLog } from './log.ts'

/** What a source hands the bus. The bus fills in id, time and the dotted type. */
export interface EventDraft {
  memory: string
  payload: Payload
  actor?: Actor
  entityType?: 'note' | 'job' | 'queue'
  entityId?: string
  /** The tags of the note the event concerns (visibility for tag-restricted principals); null/absent = not note-scoped. */
  tags?: readonly string[] | null
}

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
}

export type Subscriber = (event: PublishedEvent) => void

const SYSTEM: Actor = Object.freeze({ kind: 'system' as const })

/** Builds the envelope for a draft; pure apart from the id and clock passed in. */
export function buildEnvelope(d: EventDraft, eventId: string, occurredAt: string): Envelope {
  const env: Envelope = {
    event_id: eventId,
    event_type: EVENT_TYPES[d.payload.type],
    occurred_at: occurredAt,
    memory: d.memory,
    actor: d.actor ?? SYSTEM,
    payload_version: 1,
    payload: d.payload,
  }
  if (d.entityType) env.entity_type = d.entityType
  if (d.entityId) env.entity_id = d.entityId
  return env
}

/**
 * The one publish path (SPEC §4): envelope built once → appended to the durable event log → handed to
 * every transport (WebSocket, SSE, webhook outbox) in emission order. Publishing is synchronous so the
 * order within a memory is the order of emission. A failing log write or subscriber is logged and
 * counted, never thrown back to the request that caused the event.
 *
 * With tracing on, each publish is an `event.publish` span — a child of the HTTP request being handled,
 * else a root span — and its traceparent travels on the event so webhook deliveries continue the trace.
 * With tracing off the only cost is one boolean check.
 */
export class EventBus {
  private subscribers: { name: string; fn: Subscriber }[] = []

  constructor(
    private log: EventLog,
    private metrics: Metrics,
    private logger: Logger,
    private tracing?: Tracing,
  ) {
    metrics.busErrorSource('log')
  }

  subscribe(name: string, fn: Subscriber): () => void {
    const entry = { name, fn }
    this.metrics.busErrorSource(name)
    this.subscribers.push(entry)
    return () => {
      this.subscribers = this.subscribers.filter((s) => s !== entry)
    }
  }

  publish(draft: EventDraft): PublishedEvent {
    const t0 = performance.now()
    const envelope = buildEnvelope(draft, Bun.randomUUIDv7(), new Date().toISOString())
    const json = JSON.stringify(envelope)
    const tags = draft.tags ?? null
    const span = this.tracing?.enabled ? this.tracing.startPublish(envelope.event_id, envelope.event_type, draft.memory) : undefined
    let seq = 0
    try {
      seq = this.log.append({
        event_id: envelope.event_id,
        memory: draft.memory,
        event_type: envelope.event_type,
        entity_id: draft.entityId ?? null,
        tags: tags ? JSON.stringify(tags) : null,
        envelope: json,
        created_ms: Date.now(),
      })
    } catch (err) {
      this.metrics.busError('log')
      span?.fail('log')
      this.logger.error('event log write failed', { event_id: envelope.event_id, event_type: envelope.event_type, err })
    }
    const event: PublishedEvent = {
      seq,
      envelope,
      json,
      memory: draft.memory,
      eventType: envelope.event_type as EventType,
      legacyType: draft.payload.type,
      tags,
      t0,
      traceparent: span?.traceparent,
    }
    this.metrics.eventPublished(event.eventType)
    if (this.logger.enabled('debug')) this.logger.debug('event published', { event_id: envelope.event_id, event_type: envelope.event_type, memory: draft.memory, payload: draft.payload })
    for (const s of this.subscribers) {
      try {
        s.fn(event)
      } catch (err) {
        this.metrics.busError(s.name)
        span?.fail(s.name)
        this.logger.error('event subscriber failed', { subscriber: s.name, event_id: envelope.event_id, event_type: envelope.event_type, err })
      }
    }
    span?.end()
    return event
  }
}
