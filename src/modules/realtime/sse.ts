import { Elysia, t } from 'elysia'
import type { Principal } from '../../auth/principal.ts'
import type { Config } from '../../config.ts'
import type { AppContext } from '../../context.ts'
import type { EventBus, PublishedEvent } from '../../events/bus.ts'
import type { EventLog } from '../../events/log.ts'
import { ApiError, forbidden } from '../../http/errors.ts'
import { ErrorBody, ownModels } from '../../http/schemas.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { Metrics } from '../../telemetry/metrics.ts'
import type { Revocations } from '../../auth/revocations.ts'
import { originAllowed } from '../../http/origin.ts'
import { canSeeTags } from '../../auth/principal.ts'
import { queueStatusOf, type QueueCounts } from '../../events/queue-status.ts'
import type { Envelope } from '../../events/catalog.ts'
import { CursorCodec } from './cursor.ts'
import { matches, parseEntityId, parseLastEventId, parseRowTags, parseTypes, resyncReason, rowFacts, type EventFacts, type StreamFilter } from './sse-filter.ts'
import { commentFrame, eventFrame, frame, KEEPALIVE, laggedFrame, resyncFrame, retryFrame } from './sse-frames.ts'
import { streamTokensController } from './tokens.ts'

const encoder = new TextEncoder()
const KEEPALIVE_BYTES = encoder.encode(KEEPALIVE)

/** Rows read from the event log per replay step. */
export const REPLAY_PAGE = 500
/** Pages scanned without finding a matching row before a replay step yields to the event loop. */
const REPLAY_PAGES_PER_STEP = 8
/**
 * Frames the ReadableStream itself may hold beyond the stream's own queue. Bun stops reading a response
 * body while the socket is backpressured, so `desiredSize <= 0` is the "client is not keeping up" signal.
 */
const STREAM_HIGH_WATER_MARK = 16

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

export interface OpenStream {
  filter: StreamFilter
  principal: Principal
  /** Replay the log after this seq before going live; null = live only. */
  replayAfter: number | null
  /** The id the client resumes from (for a later `resync_required`). */
  lastEventId: string | null
  /** Frames sent before anything else (`retry:`, `resync_required`). */
  preamble: string[]
  /** Aborts when the client goes away. */
  signal: AbortSignal
}

type CloseReason = 'client' | 'revoked' | 'shutdown' | 'error'

/**
 * One SSE stream. States: `replay` (catching up from the durable log, paced by the client's reads),
 * `live` (fed by the bus through a bounded queue), `closed`.
 */
class SseStream {
  state: 'replay' | 'live' | 'closed'
  readonly body: ReadableStream<Uint8Array>
  private ctrl!: ReadableStreamDefaultController<Uint8Array>
  private queue: (Uint8Array | undefined)[] = []
  private head = 0
  /** Live events dropped since the queue overflowed; reported in `events.lagged` once the queue drains. */
  private dropped = 0
  /** Events that reached the bus but not the log (seq 0) while replaying: the replay cannot find them. */
  private unlogged: PublishedEvent[] = []
  private unloggedDropped = 0
  /** Replay position: the last log seq scanned. */
  private cursor: number
  /** The last event id this stream delivered (or the one the client resumed from). */
  private lastId: string | null
  private readonly needTags: boolean
  private readonly signal: AbortSignal
  private readonly onAbort = () => this.close('client')

  constructor(
    private hub: SseHub,
    readonly filter: StreamFilter,
    readonly principal: Principal,
    opts: OpenStream,
  ) {
    this.state = opts.replayAfter === null ? 'live' : 'replay'
    this.cursor = opts.replayAfter ?? 0
    this.lastId = opts.lastEventId
    this.needTags = filter.tags !== null
    this.signal = opts.signal
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.ctrl = c
          // The first chunk also flushes the response headers (Bun sends them with the first body bytes).
          for (const f of opts.preamble) c.enqueue(encoder.encode(f))
        },
        pull: () => this.pull(),
        cancel: () => this.close('client'),
      },
      { highWaterMark: STREAM_HIGH_WATER_MARK },
    )
    if (opts.signal.aborted) queueMicrotask(this.onAbort)
    else opts.signal.addEventListener('abort', this.onAbort, { once: true })
    if (this.state === 'live') hub.sendOpeningStatus(this)
  }

  private get queued(): number {
    return this.queue.length - this.head
  }

  /**
   * The bus delivered an event this stream's filter accepts; `bytes` is the frame shared by every stream.
   * True when the frame was written or queued for this client.
   */
  onLive(e: PublishedEvent, bytes: () => Uint8Array): boolean {
    if (this.state === 'live') return this.pushLive(bytes())
    if (this.state === 'replay' && e.seq === 0) {
      // Logged events are picked up by the replay itself (see pull); only unlogged ones need holding.
      if (this.unlogged.length < this.hub.config.queueLimit) this.unlogged.push(e)
      else {
        this.unloggedDropped++
        this.hub.metrics.sseEventsLagged(1)
      }
    }
    return false
  }

  pushLive(bytes: Uint8Array): boolean {
    // Once lagging, drop until the client has drained the queue, so the gap is one contiguous run
    // that `events.lagged` marks exactly where it happened.
    if (this.dropped > 0) return this.drop()
    if (this.queued === 0 && (this.ctrl.desiredSize ?? 0) > 0) return this.write(bytes)
    if (this.queued < this.hub.config.queueLimit) {
      this.queue.push(bytes)
      return true
    }
    return this.drop()
  }

  private drop(): false {
    this.dropped++
    this.hub.metrics.sseEventsLagged(1)
    return false
  }

  private write(bytes: Uint8Array): boolean {
    try {
      this.ctrl.enqueue(bytes)
    } catch {
      // The body was cancelled underneath us: the client is gone.
      this.close('client')
      return false
    }
    return true
  }

  keepalive(): void {
    if (this.state !== 'closed' && this.queued === 0 && this.dropped === 0 && (this.ctrl.desiredSize ?? 0) > 0) this.write(KEEPALIVE_BYTES)
  }

  /** The client read: move queued frames on, or replay the next page of the log. */
  private pull(): void | Promise<void> {
    if (this.state === 'replay') return this.replay(REPLAY_PAGES_PER_STEP)
    if (this.state === 'live') this.pump()
  }

  private pump(): void {
    while (this.queued > 0 && (this.ctrl.desiredSize ?? 0) > 0) {
      const bytes = this.queue[this.head]!
      this.queue[this.head++] = undefined
      if (!this.write(bytes)) return
    }
    if (this.queued === 0) {
      this.queue = []
      this.head = 0
      if (this.dropped > 0 && (this.ctrl.desiredSize ?? 0) > 0) {
        // Caught up: say how much was lost; the client may resume from its last id to recover it.
        const n = this.dropped
        this.dropped = 0
        this.write(encoder.encode(laggedFrame(n)))
      }
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }

  /**
   * Replays the log after `cursor`, one page per client read. No gap and no duplicate at the seam with
   * live events: the bus appends an event to the log before it calls any subscriber, and the read of the
   * last (short) page and the switch to `live` happen in one synchronous step, so every event published
   * before the switch is in a page read here, and every event published after it arrives live. Live
   * events seen while replaying are therefore ignored, except unlogged ones (seq 0), which are held.
   */
  private replay(budget: number): void | Promise<void> {
    try {
      while (this.state === 'replay') {
        this.checkOvertaken()
        const rows = this.hub.log.afterInMemory(this.filter.memory, this.cursor, REPLAY_PAGE)
        let wrote = 0
        for (const row of rows) {
          this.cursor = row.seq
          if (!matches(this.filter, rowFacts(row, this.needTags))) continue
          if (!this.write(encoder.encode(eventFrame(row.event_id, row.event_type, row.envelope)))) return
          this.lastId = row.event_id
          wrote++
        }
        if (rows.length < REPLAY_PAGE) return this.goLive()
        if (wrote > 0) return
        // Whole pages of other streams' events: keep scanning, but let the event loop breathe.
        if (--budget <= 0) return new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.replay(REPLAY_PAGES_PER_STEP))
      }
    } catch (err) {
      this.hub.logger.error('SSE replay failed', { err, memory: this.filter.memory })
      this.close('error')
    }
  }

  /** Retention pruned events this replay had not reached: the client must resync, then we continue. */
  private checkOvertaken(): void {
    const pruned = this.hub.log.prunedThrough(this.filter.memory)
    if (pruned <= this.cursor) return
    this.write(encoder.encode(resyncFrame('replay_overtaken', this.lastId ?? '')))
    this.cursor = pruned
  }

  private goLive(): void {
    this.state = 'live'
    this.hub.sendOpeningStatus(this)
    const held = this.unlogged
    this.unlogged = []
    for (const e of held) this.pushLive(encoder.encode(eventFrame(e.envelope.event_id, e.eventType, e.json)))
    if (this.unloggedDropped > 0) {
      // Unlogged events cannot be replayed later: say how many were lost, right where they would have been.
      this.pushLive(encoder.encode(laggedFrame(this.unloggedDropped)))
      this.unloggedDropped = 0
    }
  }

  /** Ends the stream and frees everything it holds. Idempotent. */
  close(reason: CloseReason): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.queue = []
    this.head = 0
    this.unlogged = []
    this.signal.removeEventListener('abort', this.onAbort)
    this.hub.remove(this, reason)
    if (reason === 'client') return
    try {
      this.ctrl.enqueue(encoder.encode(commentFrame(reason === 'revoked' ? 'stream closed: token revoked' : reason === 'shutdown' ? 'stream closed: server shutting down' : 'stream closed: server error')))
      this.ctrl.close()
    } catch {
      // already cancelled by the client
    }
  }
}

/**
 * The SSE transport (SPEC §6): one bus subscription for every stream, streams indexed by memory, each
 * event's frame built and encoded once and shared by all the streams that receive it. Each stream owns a
 * bounded queue, so a slow client loses frames (and is told so) instead of slowing the bus or its peers.
 */
export class SseHub {
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
    const f = s.filter
    if (f.entityId !== null || (f.types && !f.types.has('queue.status'))) return
    this.sendCounts(f.memory, [s])
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
        const key = s.filter.tags ? JSON.stringify([...new Set(s.filter.tags)].sort()) : ''
        const list = byRestriction.get(key)
        if (list) list.push(s)
        else byRestriction.set(key, [s])
      }
      if (!byRestriction.size) return
      const now = Date.now()
      const cursor = this.deps.cursors.encode(memory, this.log.lastSeq(), now)
      for (const group of byRestriction.values()) {
        const envelope: Envelope = {
          event_id: cursor,
          event_type: 'queue.status',
          occurred_at: new Date(now).toISOString(),
          memory,
          tenant_id: this.deps.tenantId,
          actor: { kind: 'system' },
          entity_type: 'queue',
          payload_version: 1,
          payload: queueStatusOf(this.deps.queueCounts(memory, group[0]!.filter.tags)),
        }
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
      if (s.filter.tags && s.filter.entityId === null && (!s.filter.types || s.filter.types.has('queue.status'))) (restricted ??= []).push(s)
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

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let set = m.get(k)
  if (!set) m.set(k, (set = new Set()))
  set.add(v)
}

function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const set = m.get(k)
  if (!set) return
  set.delete(v)
  if (!set.size) m.delete(k)
}

export const SseQuery = t.Object({
  types: t.Optional(
    t.String({
      description:
        'Comma list of event types. A dotted name matches itself and its children (`job` = `job.*`); legacy names such as ' +
        '`JobCompleted` are accepted. Omit for every type; an empty list or an unknown name is a 400.',
      examples: ['job.completed,note', 'JobProgress'],
    }),
  ),
  entity_id: t.Optional(t.String({ description: 'Only events whose envelope `entity_id` equals this (a job or note id).' })),
  memory: t.Optional(t.String({ description: 'Memory to stream (or the `X-Matric-Memory` header); default `default`.' })),
  token: t.Optional(
    t.String({ description: 'A JWT when headers are impossible (EventSource). Prefer a short-lived stream token from POST /api/v1/events/tokens.' }),
  ),
  last_event_id: t.Optional(t.String({ description: 'Resume after this event id (the `Last-Event-ID` header wins when both are present).' })),
})

const SseHeaders = t.Object({
  'last-event-id': t.Optional(t.String({ description: 'Resume after this event id (sent by EventSource when it reconnects).' })),
})

const STREAM_DESCRIPTION = `Server-Sent Events (see docs/sse.md). Starts with a \`retry:\` hint, then one frame per event:

\`\`\`
id: <event_id>
event: <event_type>
data: <envelope JSON>
\`\`\`

A comment \`: keepalive\` arrives at least every 15 s. Replay: with \`Last-Event-ID\` (or \`last_event_id\`) the stream
resumes right after that event from the durable event log, also across restarts, then continues live. An unknown or
pruned id yields one \`event: resync_required\` frame \`{reason, last_known_id}\` and then live events. A client that
reads too slowly gets \`event: events.lagged\` \`{dropped_count}\` once it catches up. Synthetic frames carry no \`id:\`.

Authenticate with a bearer header, \`?token=\`, or the \`matric_token\` cookie; short-lived stream tokens
(POST /api/v1/events/tokens) are accepted. The stream is authenticated once, when it opens: it is not cut when the
token later expires, but revoking a stream token ends it.`

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
})

/**
 * Written out in `detail.responses` (the OpenAPI plugin derives responses from `response` schemas only as
 * JSON or text/plain, and a `response` hook would replace these).
 */
const STREAM_RESPONSES = {
  200: {
    description: 'An endless `text/event-stream` (see the description for the framing)',
    content: {
      'text/event-stream': {
        schema: {
          type: 'string' as const,
          example:
            'retry: 3000\n\nid: 01936b2e-7c7a-7cc3-9b1e-4f1d2a3b4c5d\nevent: job.completed\ndata: {"event_id":"01936b2e-7c7a-7cc3-9b1e-4f1d2a3b4c5d","event_type":"job.completed",…}\n\n: keepalive\n\n',
        },
      },
    },
  },
  400: errorResponse('Bad filter: empty or unknown `types`, malformed `entity_id`, memory name or last event id'),
  401: errorResponse('Missing, invalid, expired or revoked token'),
  403: errorResponse('Memory not granted, scope missing, or `Origin` not in MATRIC_ALLOWED_ORIGINS'),
  503: errorResponse('Shutting down, or the identity provider keys are unavailable'),
}

/** GET /api/v1/events (alias /api/v1/events/stream) and the stream-token routes. */
export function sseController(ctx: AppContext) {
  const { config } = ctx
  const hub = new SseHub({
    bus: ctx.bus,
    log: ctx.eventLog,
    revocations: ctx.revocations,
    metrics: ctx.metrics,
    logger: ctx.logger,
    config: config.sse,
    cursors: new CursorCodec(ctx.secret.key),
    queueCounts: (memory, tags) => ctx.jobs.counts(memory, tags),
    tenantId: config.tenantId,
  })
  ctx.live.sseConnections = () => hub.count
  ctx.openMemories.push(() => hub.memories())
  ctx.onClose(() => hub.shutdown())

  const checkOrigin = ({ request }: { request: Request }) => {
    const origin = request.headers.get('origin')
    if (!originAllowed(config.allowedOrigins, origin)) throw forbidden(`origin ${JSON.stringify(origin)} is not allowed`)
  }

  const handler = ({ request, principal, memory, server }: { request: Request; principal: Principal; memory: string; server: { timeout(r: Request, s: number): void } | null }) => {
    const url = new URL(request.url)
    const typesParam = url.searchParams.getAll('types')
    const filter: StreamFilter = {
      memory,
      types: parseTypes(typesParam.length ? typesParam.join(',') : null),
      entityId: parseEntityId(url.searchParams.get('entity_id')),
      tags: principal.tags,
    }
    const lastEventId = parseLastEventId(request.headers.get('last-event-id'), url.searchParams.get('last_event_id'))
    const preamble = [retryFrame(config.sse.retryMs)]
    let replayAfter: number | null = null
    if (lastEventId !== null) {
      replayAfter = hub.resumePosition(memory, principal.tags, lastEventId)
      if (replayAfter === null) preamble.push(resyncFrame(resyncReason(lastEventId, ctx.eventLog.oldestInMemory(memory)?.created_ms ?? null), lastEventId))
    }
    // Bun's idle timeout (Elysia: 30 s) would reset a quiet stream; keepalives are for proxies and dead peers.
    server?.timeout(request, 0)
    // Nothing after this line may throw: the stream is registered with the hub from here on.
    const body = hub.open({ filter, principal, replayAfter, lastEventId, preamble, signal: request.signal })
    const headers: Record<string, string> = {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    }
    const origin = request.headers.get('origin')
    // Cross-origin EventSource needs CORS; only for explicitly allowed origins (never reflected blindly,
    // since the cookie would let any site read the stream).
    if (origin && config.allowedOrigins?.length && originAllowed(config.allowedOrigins, origin)) {
      headers['access-control-allow-origin'] = origin
      headers['access-control-allow-credentials'] = 'true'
      headers['vary'] = 'Origin'
    }
    return new Response(body, { headers })
  }

  const route = (summary: string) =>
    ({
      streamAuth: 'read',
      transform: checkOrigin,
      query: SseQuery,
      headers: SseHeaders,
      detail: { summary, description: STREAM_DESCRIPTION, responses: STREAM_RESPONSES },
    }) as const

  const streams = new Elysia({ prefix: '/api/v1/events', tags: ['events'] })
    .use(ctx.authPlugin)
    .model(ownModels({ ErrorBody }))
    .get('', handler, route('Stream events (Server-Sent Events)'))
    .get('/stream', handler, route('Stream events (alias of GET /api/v1/events)'))
  // Siblings, not nested: a nested instance would inherit the `/api/v1/events` prefix.
  return new Elysia({ name: 'matric-sse' }).use(streams).use(streamTokensController(ctx, () => hub.openTokenIds()))
}
