import type { Principal } from '../../auth/principal.ts'
import type { Config } from '../../config.ts'
import type { PublishedEvent } from '../../events/bus.ts'
import type { EventStore } from '../../events/store.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { Metrics } from '../../telemetry/metrics.ts'
import { matches, rowFacts, type StreamFilter } from './sse-filter.ts'
import { commentFrame, eventFrame, KEEPALIVE, laggedFrame, resyncFrame } from './sse-frames.ts'

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

/** What a stream needs from the hub that owns it. */
export interface StreamHost {
  readonly config: Config['sse']
  readonly metrics: Metrics
  readonly logger: Logger
  readonly log: EventStore
  /** Called by a stream as it closes. */
  remove(s: SseStream, reason: CloseReason): void
  /** Sends the stream its opening `queue.status` (once it is live). */
  sendOpeningStatus(s: SseStream): void
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

export type CloseReason = 'client' | 'revoked' | 'shutdown' | 'error'

/**
 * One SSE stream. States: `replay` (catching up from the durable log, paced by the client's reads),
 * `live` (fed by the bus through a bounded queue), `closed`.
 */
export class SseStream {
  state: 'replay' | 'live' | 'closed'
  readonly body: ReadableStream<Uint8Array>
  private ctrl!: ReadableStreamDefaultController<Uint8Array>
  private queue: (Uint8Array | undefined)[] = []
  private head = 0
  /** Live events dropped since the queue overflowed; reported in `events.lagged` once the queue drains. */
  private dropped = 0
  /**
   * Events delivered live while replaying, in delivery order. Logged ones (seq > 0) are dropped at the seam if
   * the replay already sent them; unlogged ones (seq 0, a failed log write) cannot be replayed and are held.
   */
  private held: PublishedEvent[] = []
  /** A logged event did not fit in `held`: the replay must read the log again before going live. */
  private heldOverflow = false
  private unloggedDropped = 0
  /** Log position: the last seq replayed or delivered. Delivery is idempotent by it (nothing at or below goes out). */
  private cursor: number
  /** The last event id this stream delivered (or the one the client resumed from). */
  private lastId: string | null
  private readonly needTags: boolean
  private readonly signal: AbortSignal
  private readonly onAbort = () => this.close('client')

  constructor(
    private hub: StreamHost,
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
    if (this.state === 'live') {
      if (e.seq !== 0) {
        if (e.seq <= this.cursor) return false // already replayed
        this.cursor = e.seq
      }
      return this.pushLive(bytes())
    }
    if (this.state === 'replay') {
      if (this.held.length < this.hub.config.queueLimit) this.held.push(e)
      else if (e.seq !== 0) this.heldOverflow = true // in the log: the replay reads it there
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
   * Replays the log after `cursor`, one page per client read. No gap and no duplicate at the seam with live
   * events, by log position rather than by timing: the stream is subscribed before it replays, so every event
   * committed after a page was read arrives live and is held; when a read comes back short (caught up), the held
   * events above the position replayed so far go out and the ones at or below it are dropped. If more logged
   * events arrived than can be held, the log is read again first. (This holds whether the store answers
   * synchronously or not — what a networked store needs.)
   */
  private async replay(budget: number): Promise<void> {
    try {
      while (this.state === 'replay') {
        await this.checkOvertaken()
        const rows = await this.hub.log.afterInMemory(this.filter.memory, this.cursor, REPLAY_PAGE)
        if (this.state !== 'replay') return // closed while reading
        let wrote = 0
        for (const row of rows) {
          this.cursor = row.seq
          if (!matches(this.filter, rowFacts(row, this.needTags))) continue
          if (!this.write(encoder.encode(eventFrame(row.event_id, row.event_type, row.envelope)))) return
          this.lastId = row.event_id
          wrote++
        }
        if (rows.length < REPLAY_PAGE) {
          if (!this.heldOverflow) return this.goLive()
          this.heldOverflow = false // read again: what did not fit is in the log
          continue
        }
        if (wrote > 0) return
        // Whole pages of other streams' events: keep scanning, but let the event loop breathe.
        if (--budget <= 0) {
          await new Promise<void>((resolve) => setImmediate(resolve))
          budget = REPLAY_PAGES_PER_STEP
        }
      }
    } catch (err) {
      this.hub.logger.error('SSE replay failed', { err, memory: this.filter.memory })
      this.close('error')
    }
  }

  /** Retention pruned events this replay had not reached: the client must resync, then we continue. */
  private async checkOvertaken(): Promise<void> {
    const pruned = await this.hub.log.prunedThrough(this.filter.memory)
    if (pruned <= this.cursor || this.state !== 'replay') return
    this.write(encoder.encode(resyncFrame('replay_overtaken', this.lastId ?? '')))
    this.cursor = pruned
  }

  private goLive(): void {
    this.state = 'live'
    const held = this.held
    this.held = []
    for (const e of held) {
      if (e.seq !== 0) {
        if (e.seq <= this.cursor) continue // the replay sent it
        this.cursor = e.seq
      }
      this.pushLive(encoder.encode(eventFrame(e.envelope.event_id, e.eventType, e.json)))
    }
    if (this.unloggedDropped > 0) {
      // Unlogged events cannot be replayed later: say how many were lost, right where they would have been.
      this.pushLive(encoder.encode(laggedFrame(this.unloggedDropped)))
      this.unloggedDropped = 0
    }
    // After the held events: the counts include their effects.
    this.hub.sendOpeningStatus(this)
  }

  /** Ends the stream and frees everything it holds. Idempotent. */
  close(reason: CloseReason): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.queue = []
    this.head = 0
    this.held = []
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

