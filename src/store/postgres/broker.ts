import type { SQL } from 'bun'
import type { Envelope, EventType, LegacyType } from '../../events/catalog.ts'
import type { Broker, SignalKind } from '../../events/broker.ts'
import type { PublishedEvent } from '../../events/published.ts'
import type { EventRow, EventStore } from '../../events/store.ts'
import type { Logger } from '../../telemetry/log.ts'

/** NOTIFY channels (one LISTEN connection carries both). */
export const EVENTS_CHANNEL = 'matric_events'
export const SIGNALS_CHANNEL = 'matric_signals'
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay clear of it. */
export const MAX_NOTIFY_BYTES = 7900

// ---- pure protocol pieces (table-tested in tests/cluster/broker-protocol.test.ts) ----

/**
 * What a node does with a batch its own bus committed, given the last position it delivered:
 * - `live`: the log write failed (seq 0): deliver here at once, never across (no position to order it by);
 * - `now`: it is the very next position: deliver at once, no round trip (the fast path);
 * - `stale`: a catch-up read already delivered it;
 * - `catchUp`: positions before it (another instance's) are not delivered yet: read the log after
 *   `deliveredThrough` and deliver in order.
 */
export function planLocal(deliveredThrough: number, batch: readonly { seq: number }[]): 'live' | 'now' | 'stale' | 'catchUp' {
  const first = batch[0]?.seq ?? 0
  if (first === 0) return 'live'
  if (first === deliveredThrough + 1) return 'now'
  if (batch[batch.length - 1]!.seq <= deliveredThrough) return 'stale'
  return 'catchUp'
}

/** The wake-up payload: who committed and the batch's last position (small, far below the NOTIFY limit). */
export const wakePayload = (nodeId: string, lastSeq: number) => `${lastSeq} ${nodeId}`

/** The last position a wake-up names, or null when the payload is not one. */
export function parseWake(payload: string): number | null {
  const n = Number(payload.split(' ', 1)[0])
  return Number.isSafeInteger(n) && n > 0 ? n : null
}

export interface Signal {
  kind: SignalKind
  value: string
  node: string
}

const KINDS: ReadonlySet<string> = new Set<SignalKind>(['revoked', 'webhooks', 'jobs'])

/** A signal's payload, or null when it would not fit in a NOTIFY. */
export function signalPayload(s: Signal): string | null {
  const p = JSON.stringify({ k: s.kind, v: s.value, n: s.node })
  return Buffer.byteLength(p) <= MAX_NOTIFY_BYTES ? p : null
}

export function parseSignal(payload: string): Signal | null {
  try {
    const o = JSON.parse(payload) as { k?: unknown; v?: unknown; n?: unknown }
    if (typeof o.k !== 'string' || !KINDS.has(o.k) || typeof o.v !== 'string' || typeof o.n !== 'string') return null
    return { kind: o.k as SignalKind, value: o.v, node: o.n }
  } catch {
    return null
  }
}

/**
 * A logged row as the transports take it. `t0` is placed as far back (in this process's performance clock) as the
 * row's creation time, so the latency histogram measures commit-to-delivery across instances (clock skew included).
 */
export function rowToEvent(r: EventRow, nowMs: number, perfNow: number): PublishedEvent {
  const envelope = JSON.parse(r.envelope) as Envelope
  return {
    seq: r.seq,
    envelope,
    json: r.envelope,
    memory: r.memory,
    eventType: r.event_type as EventType,
    legacyType: (envelope.payload as { type: LegacyType }).type,
    tags: r.tags ? (JSON.parse(r.tags) as string[]) : null,
    t0: perfNow - Math.max(0, nowMs - r.created_ms),
  }
}

// ---- the broker ----

export interface PgBrokerDeps {
  /** A small pool of the broker's own: NOTIFYs, and the dedicated LISTEN connection Bun opens for `listen()`. */
  sql: SQL
  /** The event log, for catch-up reads and the slow poll. */
  log: EventStore
  nodeId: string
  /** The end of the log when the node starts: what counts as delivered (the bus starts from the same value). */
  startSeq: number
  logger: Logger
  /** How often the end of the log is read, to catch up on wake-ups lost while the listener was away. */
  pollMs?: number
  /** Rows per catch-up read. */
  pageSize?: number
}

/**
 * Carries committed batches to every instance on one PostgreSQL database (docs/cluster.md).
 *
 * Positions on PostgreSQL are dense and commit-ordered (src/store/postgres/events.ts), so the committed log is
 * always a gapless prefix and one number per node — `deliveredThrough` — says exactly what it has delivered. A
 * batch is delivered only when it starts right after it: the node's own batches usually do (no round trip);
 * anything else is read from the log after `deliveredThrough`, so every node delivers every position once, in
 * order. Wake-ups are one NOTIFY per committed batch, sent after the commit (never inside the domain
 * transaction); notifications sent while the listener is disconnected are lost, so the node catches up on every
 * (re)LISTEN and reads the end of the log every `pollMs` as well.
 *
 * Only the delivery handler (`onDelivered` subscribers) runs for batches of other instances: the bus runs the
 * once-per-cluster `onCommitted` subscribers before it hands its own batch to `publish`, and never for these.
 */
export class PgBroker implements Broker {
  private deliver: ((batch: readonly PublishedEvent[]) => void) | undefined
  private delivered: number
  /** This node's batches waiting for earlier positions (delivered as the same objects: spans, group counts). */
  private local = new Map<number, PublishedEvent>()
  private catching: Promise<void> | undefined
  private again = false
  private timer: ReturnType<typeof setInterval> | undefined
  private subs: { unlisten(): Promise<void> }[] = []
  private signalHandlers = new Map<SignalKind, ((value: string | null) => void)[]>()
  private listens = 0
  private closed = false
  private failing = false
  private readonly pageSize: number

  constructor(private d: PgBrokerDeps) {
    this.delivered = d.startSeq
    this.pageSize = d.pageSize ?? 500
  }

  /** LISTENs on the broker's channels (resolves once acknowledged) and starts the slow poll. */
  async start(): Promise<void> {
    const relisten = () => {
      // The first LISTEN and every one after a reconnect: whatever was notified meanwhile is lost, so read the
      // log, and tell every signal handler to resynchronise from the store.
      if (this.listens++ > 0) {
        this.d.logger.info('cluster listener reconnected; catching up', { delivered_through: this.delivered })
        for (const [kind] of this.signalHandlers) this.emitSignal(kind, null)
      }
      this.catchUp()
    }
    this.subs.push(await this.d.sql.listen(EVENTS_CHANNEL, (p) => this.onWake(p), relisten))
    this.subs.push(await this.d.sql.listen(SIGNALS_CHANNEL, (p) => this.onSignalPayload(p)))
    const pollMs = this.d.pollMs ?? 1000
    this.timer = setInterval(() => void this.poll(), pollMs)
    this.timer.unref?.()
  }

  onBatch(deliver: (batch: readonly PublishedEvent[]) => void): void {
    this.deliver = deliver
  }

  publish(batch: readonly PublishedEvent[]): void {
    if (batch.length === 0 || this.closed) return
    switch (planLocal(this.delivered, batch)) {
      case 'live':
        this.deliver?.(batch)
        return
      case 'now':
        this.hand(batch)
        break
      case 'stale':
        break // delivered by a catch-up read already; the others still need the wake-up
      case 'catchUp':
        for (const e of batch) this.local.set(e.seq, e)
        this.catchUp()
        break
    }
    const last = batch[batch.length - 1]!.seq
    this.d.sql.notify(EVENTS_CHANNEL, wakePayload(this.d.nodeId, last)).catch((err: unknown) => {
      // The others find the batch on their next poll.
      this.d.logger.warn('cluster wake-up (NOTIFY) failed', { err, last_seq: last })
    })
  }

  /** Tells every other instance (not this one: the caller already acted here). */
  signal(kind: SignalKind, value: string): void {
    if (this.closed) return
    const p = signalPayload({ kind, value, node: this.d.nodeId })
    if (p === null) {
      this.d.logger.warn('cluster signal too large for NOTIFY; not sent', { kind })
      return
    }
    this.d.sql.notify(SIGNALS_CHANNEL, p).catch((err: unknown) => this.d.logger.warn('cluster signal (NOTIFY) failed', { kind, err }))
  }

  onSignal(kind: SignalKind, fn: (value: string | null) => void): void {
    const list = this.signalHandlers.get(kind) ?? []
    list.push(fn)
    this.signalHandlers.set(kind, list)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    for (const s of this.subs.splice(0)) await s.unlisten().catch(() => {})
    await this.catching?.catch(() => {})
    this.deliver = undefined
    await this.d.sql.close({ timeout: 1 })
  }

  // ---- internals ----

  /** Delivers a batch that starts right after `delivered` (checked by the caller). */
  private hand(batch: readonly PublishedEvent[]): void {
    this.delivered = batch[batch.length - 1]!.seq
    this.deliver?.(batch)
  }

  private onWake(payload: string): void {
    const last = parseWake(payload)
    if (last !== null && last > this.delivered) this.catchUp()
  }

  private onSignalPayload(payload: string): void {
    const s = parseSignal(payload)
    if (!s || s.node === this.d.nodeId) return
    this.emitSignal(s.kind, s.value)
  }

  private emitSignal(kind: SignalKind, value: string | null): void {
    for (const fn of this.signalHandlers.get(kind) ?? []) {
      try {
        fn(value)
      } catch (err) {
        this.d.logger.error('cluster signal handler failed', { kind, err })
      }
    }
  }

  private async poll(): Promise<void> {
    if (this.closed || this.catching) return
    try {
      if ((await this.d.log.lastSeq()) > this.delivered) this.catchUp()
      this.recovered()
    } catch (err) {
      this.failed(err)
    }
  }

  /** Starts a catch-up, or asks the running one for another round (single flight; wake-ups coalesce). */
  private catchUp(): void {
    if (this.closed) return
    if (this.catching) {
      this.again = true
      return
    }
    this.catching = this.readLoop().finally(() => (this.catching = undefined))
  }

  private async readLoop(): Promise<void> {
    try {
      do {
        this.again = false
        for (;;) {
          const rows = await this.d.log.readAfter(this.delivered, this.pageSize)
          if (this.closed) return
          this.handRows(rows)
          if (rows.length < this.pageSize) break
        }
      } while (this.again && !this.closed)
      this.recovered()
    } catch (err) {
      this.failed(err) // the poll tries again
    }
  }

  /** Delivers the rows that continue `delivered` (a fast-path delivery may have passed some meanwhile). */
  private handRows(rows: readonly EventRow[]): void {
    const out: PublishedEvent[] = []
    const nowMs = Date.now()
    const perfNow = performance.now()
    for (const r of rows) {
      const expect = this.delivered + out.length + 1
      if (r.seq < expect) continue
      if (r.seq > expect) {
        // Retention removed positions this node never delivered (it was far behind): they are gone for live
        // clients; SSE clients resuming from the log are told by its watermark.
        this.flushOut(out)
        this.d.logger.warn('cluster catch-up skipped pruned positions', { from: expect, to: r.seq - 1 })
        this.delivered = r.seq - 1
      }
      out.push(this.local.get(r.seq) ?? rowToEvent(r, nowMs, perfNow))
    }
    this.flushOut(out)
    for (const seq of this.local.keys()) if (seq <= this.delivered) this.local.delete(seq)
  }

  private flushOut(out: PublishedEvent[]): void {
    if (out.length) this.hand(out.splice(0))
  }

  private failed(err: unknown): void {
    if (!this.failing) this.d.logger.error('cluster catch-up read failed; retrying on the next poll', { err, delivered_through: this.delivered })
    this.failing = true
  }

  private recovered(): void {
    if (this.failing) this.d.logger.info('cluster catch-up reads work again', { delivered_through: this.delivered })
    this.failing = false
  }
}
