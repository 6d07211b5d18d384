import type { ServerWebSocket, Server } from 'bun'
import { canSeeTags, tagSetKey, type Principal } from '../../auth/principal.ts'
import type { Revocations } from '../../auth/revocations.ts'
import type { Config } from '../../config.ts'
import type { EventBus, PublishedEvent } from '../../events/bus.ts'
import { queueStatusOf } from '../../events/queue-status.ts'
import { ApiError } from '../../http/errors.ts'
import { addTo, removeFrom } from '../../util/set-index.ts'
import type { JobStore } from '../jobs/store.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { Metrics } from '../../telemetry/metrics.ts'
import { hotmFrame, isRefreshCommand, memoryTopic, withEventId } from './hotm.ts'

export const CLOSE = {
  TOKEN_EXPIRED: [1008, 'token expired'],
  TOKEN_REVOKED: [1008, 'token revoked'],
  SERVER_RESTART: [1012, 'server shutdown'],
  SLOW_CONSUMER: [1013, 'slow consumer'],
} as const

/** Subscribers of one memory that share a tag restriction: one topic, one serialisation per event. */
interface TagGroup {
  tags: readonly string[]
  topic: string
  members: number
}

type Socket = ServerWebSocket<Connection>

/** What the hub needs from the application (the composition root, src/context.ts, passes itself). */
export interface WsHubDeps {
  bus: EventBus
  revocations: Revocations
  jobs: JobStore
  config: Config
  logger: Logger
  metrics: Metrics
}

/**
 * One client connection; it is the socket's `data`. Bun's WebSocket callbacks reach it through Elysia's
 * server-wide handler, which calls `ws.data.open(ws)`, `.message(ws, msg)` and `.close(ws)`: the upgrade is
 * done here rather than with `.ws()` so a connection holds only this small object (not the request context).
 */
export class Connection {
  ws!: Socket
  group: TagGroup | null = null
  expiry: ReturnType<typeof setTimeout> | undefined
  /** When the last `refresh` was answered (performance.now()), and a trailing answer already scheduled. */
  refreshedAt = -Infinity
  refreshTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private hub: WsHub,
    readonly memory: string,
    readonly principal: Principal,
  ) {}

  open(ws: Socket): void {
    this.ws = ws
    this.hub.open(this)
  }

  message(_ws: Socket, message: string | Buffer): void {
    this.hub.message(this, message)
  }

  close(): void {
    this.hub.close(this)
  }
}

/** Minimum time between two `refresh` answers on one connection. */
export const REFRESH_INTERVAL_MS = 250

/** setTimeout's ceiling (≈ 24.8 days); longer token lifetimes re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The HotM WebSocket transport (docs/websocket.md). Each event is serialised once and published once per Bun topic:
 * one topic per memory for unrestricted clients, one per (memory, tag set) for tag-restricted clients, so the
 * common case never loops over sockets in JS. Sockets are only visited when Bun reports backpressure
 * (slow-consumer sweep), at shutdown, and on their own callbacks.
 */
export class WsHub {
  private conns = new Set<Connection>()
  private byMemory = new Map<string, Set<Connection>>()
  private groups = new Map<string, Map<string, TagGroup>>()
  private sweepPending = new Set<string>()
  private unsubscribe: () => void
  private unrevoke: () => void

  constructor(
    private ctx: WsHubDeps,
    private server: () => Server<unknown> | null,
  ) {
    this.unsubscribe = ctx.bus.onDelivered('ws', (e) => this.onEvent(e))
    this.unrevoke = ctx.revocations.onRevoke((jti) => this.onRevoke(jti))
  }

  /** A revoked stream token cuts the sockets opened with it, like SSE streams (revocation is rare: a scan is fine). */
  private onRevoke(jti: string): void {
    for (const c of [...this.conns]) if (c.principal.jti === jti) c.ws.close(...CLOSE.TOKEN_REVOKED)
  }

  get count(): number {
    return this.conns.size
  }

  /** Memories with a connected socket. */
  memories(): Iterable<string> {
    return this.byMemory.keys()
  }

  /** The tag restrictions with sockets on a memory (their QueueStatus counts are taken with the memory's). */
  *restrictions(memory: string): Iterable<readonly string[]> {
    for (const g of this.groups.get(memory)?.values() ?? []) yield g.tags
  }

  private onEvent(e: PublishedEvent): void {
    const server = this.server()
    const frame = server && hotmFrame(e.envelope.payload, e.envelope.event_id)
    if (!server || !frame) return
    let sent = 0
    // Memory-wide events (tags null) reach unrestricted clients only; note-scoped ones also matching tag groups.
    sent += this.publish(server, e.memory, memoryTopic(e.memory), frame)
    const groups = this.groups.get(e.memory)
    if (groups) {
      if (e.legacyType === 'QueueStatus') {
        for (const g of groups.values()) {
          const counts = e.groupCounts?.get(tagSetKey(g.tags))
          if (counts) sent += this.publish(server, e.memory, g.topic, withEventId(JSON.stringify(queueStatusOf(counts)), e.envelope.event_id))
          else this.sendGroupCountsLater(e, g) // formed after the counting, or counted on another node
        }
      } else if (e.tags) {
        for (const g of groups.values()) if (canSeeTags(g.tags, e.tags)) sent += this.publish(server, e.memory, g.topic, frame)
      }
    }
    if (sent) {
      this.ctx.metrics.wsEventsSent(e.eventType, sent)
      this.ctx.metrics.eventLatency('ws', performance.now() - e.t0)
    }
  }

  /** Publishes to a topic; returns the number of subscribers reached and schedules a sweep on backpressure. */
  private publish(server: Server<unknown>, memory: string, topic: string, frame: string): number {
    const n = server.subscriberCount(topic)
    if (!n) return 0
    // > 0 bytes sent; -1 enqueued under backpressure; 0 dropped: somebody is slow.
    if (server.publish(topic, frame) <= 0) this.scheduleSweep(memory)
    return n
  }

  private async queueStatusFrame(memory: string, restriction: readonly string[] | null): Promise<string> {
    return JSON.stringify(queueStatusOf(await this.ctx.jobs.counts(memory, restriction)))
  }

  private sendGroupCountsLater(e: PublishedEvent, g: TagGroup): void {
    this.queueStatusFrame(e.memory, g.tags).then(
      (frame) => {
        const server = this.server()
        if (server) this.publish(server, e.memory, g.topic, withEventId(frame, e.envelope.event_id))
      },
      (err) => this.ctx.logger.error('QueueStatus counts failed', { err, memory: e.memory }),
    )
  }

  /** Closes, with 1013, the sockets of a memory whose send buffer passed the limit. Coalesced per memory. */
  private scheduleSweep(memory: string): void {
    if (this.sweepPending.has(memory)) return
    this.sweepPending.add(memory)
    queueMicrotask(() => {
      this.sweepPending.delete(memory)
      for (const c of this.byMemory.get(memory) ?? []) this.closeIfSlow(c.ws)
    })
  }

  private closeIfSlow(ws: Socket): boolean {
    if (ws.getBufferedAmount() <= this.ctx.config.ws.backpressureLimit) return false
    this.ctx.metrics.wsSlowConsumer()
    this.ctx.logger.info('closing slow WebSocket consumer', { buffered: ws.getBufferedAmount(), memory: ws.data.memory })
    ws.close(...CLOSE.SLOW_CONSUMER)
    return true
  }

  /** Connection cap check, done before the upgrade so a full server answers 503. */
  admit(): void {
    if (this.conns.size >= this.ctx.config.ws.maxConnections)
      throw new ApiError(503, `too many WebSocket connections (limit ${this.ctx.config.ws.maxConnections})`, undefined, { 'retry-after': '5' })
  }

  open(conn: Connection): void {
    const { ws, memory, principal } = conn
    if (principal.tags) {
      conn.group = this.joinGroup(memory, principal.tags)
      ws.subscribe(conn.group.topic)
    } else {
      ws.subscribe(memoryTopic(memory))
    }
    this.conns.add(conn)
    addTo(this.byMemory, memory, conn)
    this.armExpiry(conn)
  }

  private armExpiry(conn: Connection): void {
    const exp = conn.principal.exp
    if (exp === undefined) return
    const ms = exp * 1000 - Date.now()
    if (ms <= 0) {
      conn.ws.close(...CLOSE.TOKEN_EXPIRED)
      return
    }
    conn.expiry = setTimeout(() => (ms > MAX_TIMER_MS ? this.armExpiry(conn) : conn.ws.close(...CLOSE.TOKEN_EXPIRED)), Math.min(ms, MAX_TIMER_MS))
  }

  message(conn: Connection, message: unknown): void {
    if (!isRefreshCommand(message)) return this.ctx.metrics.wsMessageIgnored()
    // At most one answer per REFRESH_INTERVAL_MS per connection; refreshes in between coalesce into one trailing
    // answer, so a client repeating `refresh` gets current counts without making the server work per frame.
    if (conn.refreshTimer) return
    const wait = conn.refreshedAt + REFRESH_INTERVAL_MS - performance.now()
    if (wait <= 0) return this.answerRefresh(conn)
    conn.refreshTimer = setTimeout(() => {
      conn.refreshTimer = undefined
      this.answerRefresh(conn)
    }, wait)
  }

  private answerRefresh(conn: Connection): void {
    conn.refreshedAt = performance.now()
    // Once every event published so far is delivered: the counts then include exactly their effects.
    this.ctx.bus.whenIdle(() => {
      if (!this.conns.has(conn)) return
      this.queueStatusFrame(conn.memory, conn.principal.tags).then(
        (frame) => {
          if (!this.conns.has(conn)) return
          conn.ws.send(frame)
          this.closeIfSlow(conn.ws)
        },
        (err) => this.ctx.logger.error('refresh counts failed', { err, memory: conn.memory }),
      )
    })
  }

  close(conn: Connection): void {
    if (!this.conns.delete(conn)) return
    clearTimeout(conn.expiry)
    clearTimeout(conn.refreshTimer)
    removeFrom(this.byMemory, conn.memory, conn)
    if (conn.group) this.leaveGroup(conn.memory, conn.group)
  }

  private joinGroup(memory: string, tags: readonly string[]): TagGroup {
    const key = tagSetKey(tags)
    let groups = this.groups.get(memory)
    if (!groups) this.groups.set(memory, (groups = new Map()))
    let g = groups.get(key)
    if (!g) groups.set(key, (g = { tags: [...tags], topic: `${memoryTopic(memory)}:t:${key}`, members: 0 }))
    g.members++
    return g
  }

  private leaveGroup(memory: string, g: TagGroup): void {
    if (--g.members > 0) return
    const groups = this.groups.get(memory)
    groups?.delete(tagSetKey(g.tags))
    if (groups && !groups.size) this.groups.delete(memory)
  }

  /** Server shutdown: every socket is closed with 1012 so clients reconnect elsewhere / later. */
  shutdown(): void {
    this.unsubscribe()
    this.unrevoke()
    for (const c of [...this.conns]) c.ws.close(...CLOSE.SERVER_RESTART)
  }
}
