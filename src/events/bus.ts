import type { Logger } from '../telemetry/log.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import type { Tracing } from '../telemetry/tracing.ts'
import { EVENT_TYPES, type Actor, type Envelope, type EventType } from './catalog.ts'
import type { EventDraft, PublishedEvent, Subscriber } from './published.ts'
import type { EventStore, NewEventRow } from './store.ts'
import { LocalBroker, type Broker } from './broker.ts'

export type { EventDraft, PublishedEvent, Subscriber, Trace } from './published.ts'

const SYSTEM: Actor = Object.freeze({ kind: 'system' as const })

/** Builds the envelope for a draft; pure apart from the id, clock and tenant passed in. */
export function buildEnvelope(d: EventDraft, eventId: string, occurredAt: string, tenantId: string): Envelope {
  const env: Envelope = {
    event_id: eventId,
    event_type: EVENT_TYPES[d.payload.type],
    occurred_at: occurredAt,
    memory: d.memory,
    tenant_id: tenantId,
    actor: d.actor ?? SYSTEM,
    payload_version: 1,
    payload: d.payload,
  }
  if (d.entityType) env.entity_type = d.entityType
  if (d.entityId) env.entity_id = d.entityId
  if (d.correlationId) env.correlation_id = d.correlationId
  if (d.causationId) env.causation_id = d.causationId
  return env
}

type PublishSpan = ReturnType<Tracing['startPublish']>

export interface EventBusDeps {
  log: EventStore
  /** The end of the log when the bus starts (`await log.lastSeq()`): positions delivered so far. */
  startSeq: number
  metrics: Metrics
  logger: Logger
  tracing?: Tracing
  /** `tenant_id` of every envelope (MATRIC_TENANT_ID). */
  tenantId?: string
  /** Carries committed batches to every node's transports; in-process by default. */
  broker?: Broker
}

/**
 * The one publish path (docs/architecture.md): envelope built and serialised once → appended to the durable
 * event log → the once-per-cluster subscribers (`onCommitted`: the webhook outbox) → the broker → every node's
 * transports (`onDelivered`: WebSocket, SSE), in emission order.
 *
 * Group commit: `publish` queues the event and returns; once per event-loop turn `flush` appends every
 * queued event to the log in one transaction and only then hands them on. A transport therefore never sees an
 * event that is not durable (SSE replay and live delivery meet without a gap), while a burst of events costs one
 * commit instead of one each. One append is in flight at a time (the store may be a network away); events
 * published meanwhile form the next batch. Within a memory the delivery order is the emission order. A
 * failing log write or subscriber is logged and counted, never thrown back to the request that caused the event.
 *
 * With tracing on, each publish is an `event.publish` span — a child of the HTTP request being handled,
 * else a root span — ending once the event is delivered; its traceparent travels on the event so webhook
 * deliveries continue the trace. With tracing off the only cost is one boolean check.
 */
export class EventBus {
  private committedSubs: { name: string; fn: Subscriber }[] = []
  private deliveredSubs: { name: string; fn: Subscriber }[] = []
  private spans = new WeakMap<PublishedEvent, NonNullable<PublishSpan>>()
  private readonly log: EventStore
  private readonly metrics: Metrics
  private readonly logger: Logger
  private readonly tracing: Tracing | undefined
  private readonly broker: Broker
  private delivered: number
  /** `tenant_id` of every envelope (MATRIC_TENANT_ID). */
  readonly tenantId: string
  private queue: { event: PublishedEvent; row: NewEventRow; span: PublishSpan | undefined }[] = []
  private scheduled: ReturnType<typeof setImmediate> | undefined
  private idle: (() => void)[] = []
  /** The running flush (appends and deliveries) while there is one: later events wait for it. */
  private flushing: Promise<void> | undefined
  /** Durable work of once-per-cluster subscribers still settling (see `committed`). */
  private durable = new Set<Promise<unknown>>()
  /** State changes whose event is still to be published (see `hold`). */
  private holds = 0
  /** Events published, and events whose batch has been appended and handed on, since start (in order). */
  private publishedCount = 0
  private handedOnCount = 0
  /** `committed()` callers waiting for the events published before them. */
  private commitWaiters: { upTo: number; resolve: () => void }[] = []

  constructor(d: EventBusDeps) {
    this.log = d.log
    this.metrics = d.metrics
    this.logger = d.logger
    this.tracing = d.tracing
    this.tenantId = d.tenantId ?? 'default'
    this.broker = d.broker ?? new LocalBroker()
    this.broker.onBatch((batch) => this.deliver(batch))
    this.delivered = d.startSeq
    d.metrics.busErrorSource('log')
  }

  /**
   * Once per cluster, on the node that committed the event, before any transport sees it: for work that must
   * happen exactly once per event (the webhook outbox enqueues its deliveries here).
   */
  onCommitted(name: string, fn: Subscriber): () => void {
    return this.register(this.committedSubs, name, fn)
  }

  /** On every node, for every committed event (WebSocket and SSE fan-out, MCP sessions). */
  onDelivered(name: string, fn: Subscriber): () => void {
    return this.register(this.deliveredSubs, name, fn)
  }

  private register(list: { name: string; fn: Subscriber }[], name: string, fn: Subscriber): () => void {
    const entry = { name, fn }
    this.metrics.busErrorSource(name)
    list.push(entry)
    return () => {
      const i = list.indexOf(entry)
      if (i >= 0) list.splice(i, 1)
    }
  }

  publish(draft: EventDraft, extra?: Pick<PublishedEvent, 'groupCounts'>): PublishedEvent {
    const t0 = performance.now()
    const envelope = buildEnvelope(draft, draft.eventId ?? Bun.randomUUIDv7(), new Date().toISOString(), this.tenantId)
    const json = JSON.stringify(envelope)
    const tags = draft.tags ?? null
    const span = this.tracing?.enabled ? this.tracing.startPublish(envelope.event_id, envelope.event_type, draft.memory) : undefined
    const event: PublishedEvent = {
      seq: 0,
      envelope,
      json,
      memory: draft.memory,
      eventType: envelope.event_type as EventType,
      legacyType: draft.payload.type,
      tags,
      t0,
      traceparent: span?.traceparent,
    }
    if (extra?.groupCounts) event.groupCounts = extra.groupCounts
    const row = {
      event_id: envelope.event_id,
      memory: draft.memory,
      event_type: envelope.event_type,
      entity_id: draft.entityId ?? null,
      tags: tags ? JSON.stringify(tags) : null,
      envelope: json,
      created_ms: Date.now(),
    }
    this.metrics.eventPublished(event.eventType)
    if (this.logger.enabled('debug')) this.logger.debug('event published', { event_id: envelope.event_id, event_type: envelope.event_type, memory: draft.memory, payload: draft.payload })
    this.queue.push({ event, row, span })
    this.publishedCount++
    this.scheduled ??= setImmediate(this.kick)
    return event
  }

  private kick = (): void => {
    this.scheduled = undefined
    this.startDrain()
  }

  /** Starts a drain unless one runs; the idle callbacks run once it has emptied the queue. */
  private startDrain(): Promise<void> {
    if (this.flushing) return this.flushing
    if (!this.queue.length) return Promise.resolve()
    const p = this.drain().finally(() => {
      this.flushing = undefined
      this.maybeIdle()
    })
    this.flushing = p
    return p
  }

  /**
   * Appends every queued event to the log and delivers them; resolves when nothing is left. Runs once per
   * event-loop turn by itself; shutdown awaits it so nothing published is left unwritten.
   */
  flush(): Promise<void> {
    if (this.scheduled) clearImmediate(this.scheduled)
    this.scheduled = undefined
    return this.startDrain()
  }

  /** One batch per append (a transaction each), until the queue is empty. Never rejects. */
  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue
      this.queue = []
      try {
        await this.append(batch)
        const events = batch.map((q) => q.event)
        for (const { event, span } of batch) {
          if (span) this.spans.set(event, span)
          for (const s of this.committedSubs) this.call(s, event, span, true)
        }
        this.broker.publish(events)
      } catch (err) {
        this.logger.error('event delivery failed', { events: batch.length, err })
      } finally {
        // Whatever happened to the batch, the requests waiting on it are answered (a failure is logged and counted).
        this.handedOnCount += batch.length
        this.releaseCommitWaiters()
      }
    }
  }

  /** Logs a batch and gives each event its position; a failed write leaves them at seq 0 (delivered live only). */
  private async append(batch: readonly { event: PublishedEvent; row: NewEventRow; span: PublishSpan | undefined }[]): Promise<void> {
    try {
      const seqs = await this.log.appendBatch(batch.map((q) => q.row))
      for (let i = 0; i < batch.length; i++) batch[i]!.event.seq = seqs[i]!
    } catch (err) {
      // Losing the log must not lose the live event.
      this.metrics.busError('log')
      for (const q of batch) q.span?.fail('log')
      this.logger.error('event log write failed', { events: batch.length, first_event_id: batch[0]!.event.envelope.event_id, err })
    }
  }

  /**
   * Runs `fn` synchronously at a moment when every event published so far has been delivered: now when nothing
   * is pending, else right after the flush that delivers the pending events. A transport that reads the store
   * there (an SSE stream's opening queue counts) sees exactly the state its client's events add up to.
   */
  whenIdle(fn: () => void): void {
    if (this.isIdle()) this.callIdle(fn)
    else this.idle.push(fn)
  }

  /**
   * Marks a change of state whose event is not published yet (a job row written, its JobQueued to follow); idle
   * callbacks wait until it is released. With the stores awaited, a count taken between the write and the publish
   * would include a change whose event the client is sent afterwards (counted twice). Returns the release.
   */
  hold(): () => void {
    this.holds++
    let released = false
    return () => {
      if (released) return
      released = true
      this.holds--
      this.maybeIdle()
    }
  }

  /** Runs `fn` under a `hold`, released however it ends. */
  async holding<T>(fn: () => Promise<T>): Promise<T> {
    const release = this.hold()
    try {
      return await fn()
    } finally {
      release()
    }
  }

  private isIdle(): boolean {
    return !this.queue.length && this.flushing === undefined && this.holds === 0
  }

  private maybeIdle(): void {
    if (!this.idle.length || !this.isIdle()) return
    const idle = this.idle
    this.idle = []
    for (const fn of idle) this.callIdle(fn)
  }

  private callIdle(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.logger.error('bus idle callback failed', { err })
    }
  }

  /**
   * Resolves once every event published before the call is logged and handed to the transports, and the durable
   * work of the once-per-cluster subscribers (delivery rows) has settled. A request that emitted events awaits it
   * before answering, so a 2xx means its events are durable (writers share the commit).
   */
  async committed(): Promise<void> {
    const upTo = this.publishedCount
    // Only what was published before this call: with a store a network away, waiting for the bus to be idle
    // could wait for ever under a steady load.
    if (this.handedOnCount < upTo) await new Promise<void>((resolve) => this.commitWaiters.push({ upTo, resolve }))
    if (this.durable.size) await Promise.all(this.durable)
  }

  private releaseCommitWaiters(): void {
    if (!this.commitWaiters.length) return
    const still: typeof this.commitWaiters = []
    for (const w of this.commitWaiters) (w.upTo <= this.handedOnCount ? w.resolve() : still.push(w))
    this.commitWaiters = still
  }

  /** Events published but not yet handed on, plus durable subscriber work still settling. */
  get pending(): number {
    return this.publishedCount - this.handedOnCount + this.durable.size
  }

  /**
   * The log position of the last event delivered on this node (at start: the end of the log). At an idle moment
   * (`whenIdle`) every event up to it has reached the transports: a cursor of it resumes exactly after what a
   * client was sent, without asking the store.
   */
  get deliveredThrough(): number {
    return this.delivered
  }

  /** The broker's handler on this node: every committed batch reaches the per-node subscribers here. */
  private deliver(batch: readonly PublishedEvent[]): void {
    for (const event of batch) {
      if (event.seq > this.delivered) this.delivered = event.seq
      const span = this.spans.get(event)
      for (const s of this.deliveredSubs) this.call(s, event, span)
      span?.end()
    }
  }

  /** Calls a subscriber; with `durable`, a promise it returns is awaited by `committed()`. */
  private call(s: { name: string; fn: Subscriber }, event: PublishedEvent, span: PublishSpan | undefined, durable = false): void {
    try {
      const r = s.fn(event)
      if (durable && r instanceof Promise) {
        const p = r.catch((err) => this.failed(s.name, event, span, err)).finally(() => this.durable.delete(p))
        this.durable.add(p)
      }
    } catch (err) {
      this.failed(s.name, event, span, err)
    }
  }

  private failed(name: string, event: PublishedEvent, span: PublishSpan | undefined, err: unknown): void {
    this.metrics.busError(name)
    span?.fail(name)
    this.logger.error('event subscriber failed', { subscriber: name, event_id: event.envelope.event_id, event_type: event.eventType, err })
  }
}
