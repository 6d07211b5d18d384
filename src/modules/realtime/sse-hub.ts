import { canSeeTags, tagSetKey } from '../../auth/principal.ts'
import type { Revocations } from '../../auth/revocations.ts'
import type { Config } from '../../config.ts'
import { buildEnvelope, type EventBus, type PublishedEvent } from '../../events/bus.ts'
import type { EventLog } from '../../events/log.ts'
import { queueStatusOf, type QueueCounts } from '../../events/queue-status.ts'
import { ApiError } from '../../http/errors.ts'
import { addTo, removeFrom } from '../../util/set-index.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { Metrics } from '../../telemetry/metrics.ts'
import type { CursorCodec } from './cursor.ts'
import { matches, parseRowTags, wantsCounts, type EventFacts } from './sse-filter.ts'
import { eventFrame, frame } from './sse-frames.ts'
import { SseStream, type CloseReason, type OpenStream, type StreamHost } from './sse-stream.ts'

const encoder = new TextEncoder()

export interface SseHubDeps {
  bus: EventBus
  log: EventLog
  revocations: Revocations
  metrics: Metrics
  logger: Logger
  config: Config['sse']
  /** Encodes the resumable `event_id` of the opening `queue.status` frame. */
  cursors: CursorCodec
  /** Pending/running counts a stream may see (its memory, within its tag restriction). */
  queueCounts: (memory: string, tags: readonly string[] | null) => QueueCounts
  tenantId: string
}

/**
 * The SSE transport (docs/sse.md): one bus subscription for every stream, streams indexed by memory, each
 * event's frame built and encoded once and shared by all the streams that receive it. Each stream owns a
 * bounded queue, so a slow client loses frames (and is told so) instead of slowing the bus or its peers.
 */
export class SseHub implements StreamHost {
  readonly config: Config['sse']
  readonly metrics: Metrics
  readonly logger: Logger
  readonly log: EventLog
  private deps: SseHubDeps
  private byMemory = new Map<string, Set<SseStream>>()
  private byJti = new Map<string, Set<SseStream>>()
  private streams = new Set<SseStream>()
  private ticker: ReturnType<typeof setInterval> | undefined
  private unsubscribe: (() => void)[]
  private closed = false

  constructor(deps: SseHubDeps) {
    this.config = deps.config
    this.metrics = deps.metrics
    this.logger = deps.logger
    this.log = deps.log
    this.deps = deps
    this.unsubscribe = [deps.bus.onDelivered('sse', (e) => this.onEvent(e)), deps.revocations.onRevoke((jti) => this.onRevoke(jti))]
  }

  get count(): number {
    return this.streams.size
  }

  /** Memories with an open stream. */
  memories(): Iterable<string> {
    return this.byMemory.keys()
  }

  /** Token ids of open streams (their stream-token rows must outlive expiry so DELETE can still cut them). */
  openTokenIds(): string[] {
    return [...this.byJti.keys()]
  }

  open(opts: OpenStream): ReadableStream<Uint8Array> {
    if (this.closed) throw new ApiError(503, 'server is shutting down', undefined, { 'retry-after': '5' })
    const s = new SseStream(this, opts.filter, opts.principal, opts)
    this.streams.add(s)
    addTo(this.byMemory, opts.filter.memory, s)
    if (opts.principal.jti) addTo(this.byJti, opts.principal.jti, s)
    if (this.logger.enabled('debug'))
      this.logger.debug('SSE stream opened', { memory: opts.filter.memory, replay_after_seq: opts.replayAfter, stream_token: opts.principal.stream, open: this.streams.size })
    this.ticker ??= setInterval(() => {
      for (const st of this.streams) st.keepalive()
    }, this.config.keepaliveMs)
    return s.body
  }

  /**
   * The synthetic `queue.status` frame that starts every stream (after `retry:` and any replay): the counts this
   * stream may see. No `id:` line (it is not a logged event); its `event_id` is a cursor of the log position, so a
   * client that resumes from it misses nothing and gets nothing twice.
   */
  sendOpeningStatus(s: SseStream): void {
    if (wantsCounts(s.filter)) this.sendCounts(s.filter.memory, [s])
  }

  /**
   * Sends each stream its own counts, taken when every event published so far has been delivered, so counters
   * that apply the job deltas from here on stay exact. Streams that share a tag restriction share one count query
   * and one encoded frame.
   */
  private sendCounts(memory: string, streams: SseStream[]): void {
    this.deps.bus.whenIdle(() => {
      const byRestriction = new Map<string, SseStream[]>()
      for (const s of streams) {
        if (s.state !== 'live') continue
        const key = s.filter.tags ? tagSetKey(s.filter.tags) : ''
        const list = byRestriction.get(key)
        if (list) list.push(s)
        else byRestriction.set(key, [s])
      }
      if (!byRestriction.size) return
      const now = Date.now()
      const cursor = this.deps.cursors.encode(memory, this.deps.bus.deliveredThrough, now)
      const occurredAt = new Date(now).toISOString()
      for (const group of byRestriction.values()) {
        const payload = queueStatusOf(this.deps.queueCounts(memory, group[0]!.filter.tags))
        const envelope = buildEnvelope({ memory, payload, entityType: 'queue' }, cursor, occurredAt, this.deps.tenantId)
        const bytes = encoder.encode(frame({ event: 'queue.status', data: JSON.stringify(envelope) }))
        for (const s of group) s.pushLive(bytes)
      }
    })
  }

  /**
   * The log position to replay after for a resume id, or null when it cannot be honoured: an event id of this
   * memory that the stream's principal may see, or a cursor issued for this memory. Anything else — unknown,
   * pruned, another memory's, a hidden note's — is treated alike, so a resume id reveals nothing.
   */
  resumePosition(memory: string, tags: readonly string[] | null, lastEventId: string): number | null {
    const at = this.log.positionOf(lastEventId)
    if (at) return at.memory === memory && canSeeTags(tags, parseRowTags(at.tags)) ? at.seq : null
    return this.deps.cursors.decode(memory, lastEventId)
  }

  /** Called by a stream as it closes. */
  remove(s: SseStream, reason: CloseReason): void {
    if (!this.streams.delete(s)) return
    if (this.logger.enabled('debug')) this.logger.debug('SSE stream closed', { memory: s.filter.memory, reason, open: this.streams.size })
    removeFrom(this.byMemory, s.filter.memory, s)
    if (s.principal.jti) removeFrom(this.byJti, s.principal.jti, s)
    if (!this.streams.size && this.ticker) {
      clearInterval(this.ticker)
      this.ticker = undefined
    }
  }

  /** Bus subscriber: cheap and synchronous; never throws into the bus. */
  private onEvent(e: PublishedEvent): void {
    const set = this.byMemory.get(e.memory)
    if (!set) return
    const facts: EventFacts = { memory: e.memory, eventType: e.eventType, entityId: e.envelope.entity_id, tags: e.tags }
    let bytes: Uint8Array | undefined
    const frameBytes = () => (bytes ??= encoder.encode(eventFrame(e.envelope.event_id, e.eventType, e.json)))
    let taken = false
    for (const s of set) {
      if (!matches(s.filter, facts)) continue
      try {
        if (s.onLive(e, frameBytes)) taken = true
      } catch (err) {
        this.logger.error('SSE stream failed to take an event', { err, event_id: e.envelope.event_id })
        s.close('error')
      }
    }
    // Once per event, like the WebSocket transport (frames a slow client queues are not timed again).
    if (taken) this.metrics.eventLatency('sse', performance.now() - e.t0)
    if (e.legacyType === 'QueueStatus' && e.tags === null) this.correctRestricted(e.memory, set)
  }

  /**
   * A memory-wide QueueStatus is invisible to tag-restricted streams (it counts jobs they may not see): they get
   * their own counts instead, as a synthetic `queue.status`, so their counters are corrected too.
   */
  private correctRestricted(memory: string, set: Set<SseStream>): void {
    let restricted: SseStream[] | undefined
    for (const s of set)
      if (s.filter.tags && wantsCounts(s.filter)) (restricted ??= []).push(s)
    if (restricted) this.sendCounts(memory, restricted)
  }

  /** A revoked token cuts the streams opened with it (expiry does not: see docs/sse.md). */
  private onRevoke(jti: string): void {
    const set = this.byJti.get(jti)
    if (!set) return
    for (const s of [...set]) s.close('revoked')
  }

  /** App shutdown: end every stream, stop listening. */
  shutdown(): void {
    this.closed = true
    for (const u of this.unsubscribe) u()
    for (const s of [...this.streams]) s.close('shutdown')
    if (this.ticker) clearInterval(this.ticker)
    this.ticker = undefined
  }
}
