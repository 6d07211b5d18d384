import { canSeeTags, tagSetKey } from '../../auth/principal.ts'
import type { Revocations } from '../../auth/revocations.ts'
import type { Config } from '../../config.ts'
import { buildEnvelope, type EventBus, type PublishedEvent } from '../../events/bus.ts'
import type { EventStore } from '../../events/store.ts'
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
  log: EventStore
  revocations: Revocations
  metrics: Metrics
  logger: Logger
  config: Config['sse']
  /** Encodes the resumable `event_id` of the opening `queue.status` frame. */
  cursors: CursorCodec
  /** Pending/running counts a stream may see (its memory, within its tag restriction). */
  queueCounts: (memory: string, tags: readonly string[] | null) => Promise<QueueCounts>
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
  readonly log: EventStore
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

  /** The tag restrictions of this memory's streams that want counts (QueueStatus counts them with the memory's). */
  *restrictions(memory: string): Iterable<readonly string[]> {
    for (const s of this.byMemory.get(memory) ?? []) if (s.filter.tags && wantsCounts(s.filter)) yield s.filter.tags
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
      const seq = this.deps.bus.deliveredThrough
      for (const group of byRestriction.values()) {
        // The embedded store answers within this turn (nothing is delivered in between); see docs/architecture.md.
        this.deps.queueCounts(memory, group[0]!.filter.tags).then(
          (counts) => {
            const bytes = this.countsFrame(memory, counts, seq)
            for (const s of group) if (s.state === 'live') s.pushLive(bytes)
          },
          (err) => this.logger.error('SSE queue counts failed', { err, memory }),
        )
      }
    })
  }

  /**
   * The log position to replay after for a resume id, or null when it cannot be honoured: an event id of this
   * memory that the stream's principal may see, or a cursor issued for this memory. Anything else — unknown,
   * pruned, another memory's, a hidden note's — is treated alike, so a resume id reveals nothing.
   */
  async resumePosition(memory: string, tags: readonly string[] | null, lastEventId: string): Promise<number | null> {
    const at = await this.log.positionOf(lastEventId)
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
    if (e.legacyType === 'QueueStatus' && e.tags === null) this.correctRestricted(e, set)
  }

  /**
   * A memory-wide QueueStatus is invisible to tag-restricted streams (it counts jobs they may not see): they get
   * their own counts instead, as a synthetic `queue.status`, so their counters are corrected too.
   */
  private correctRestricted(e: PublishedEvent, set: Set<SseStream>): void {
    let uncounted: SseStream[] | undefined
    let frames: Map<string, Uint8Array> | undefined
    for (const s of set) {
      if (!s.filter.tags || !wantsCounts(s.filter) || s.state !== 'live') continue
      const key = tagSetKey(s.filter.tags)
      const counts = e.groupCounts?.get(key)
      if (!counts) {
        ;(uncounted ??= []).push(s)
        continue
      }
      // Counted with the memory's (the usual case): sent right behind it, resuming after it; one frame per tag set.
      frames ??= new Map()
      let bytes = frames.get(key)
      if (!bytes) frames.set(key, (bytes = this.countsFrame(e.memory, counts, e.seq)))
      s.pushLive(bytes)
    }
    if (uncounted) this.sendCounts(e.memory, uncounted)
  }

  /** A synthetic `queue.status` frame whose `event_id` is a cursor of log position `seq`. */
  private countsFrame(memory: string, counts: QueueCounts, seq: number): Uint8Array {
    const now = Date.now()
    const envelope = buildEnvelope({ memory, payload: queueStatusOf(counts), entityType: 'queue' }, this.deps.cursors.encode(memory, seq, now), new Date(now).toISOString(), this.deps.tenantId)
    return encoder.encode(frame({ event: 'queue.status', data: JSON.stringify(envelope) }))
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
