import type { Database, Statement } from 'bun:sqlite'
import { hostname } from 'node:os'
import { t, type Static } from 'elysia'
import type { AppContext } from '../../context.ts'
import { JsonInt } from '../../http/schemas.ts'
import { VERSION } from '../../version.ts'

/** Events per second over this many seconds (the Overview chart's width). */
export const EVENT_WINDOW_S = 60
/** Webhook health is judged over the last day of attempts. */
export const HEALTH_WINDOW_MS = 24 * 3600_000

const nullableNumber = t.Union([t.Number(), t.Null()])
const Latency = t.Object({ count: JsonInt({ minimum: 0 }), p50: nullableNumber, p95: nullableNumber, p99: nullableNumber }, { additionalProperties: false })

const EndpointHealth = t.Object(
  {
    webhook_id: t.String({ format: 'uuid' }),
    attempts_24h: JsonInt({ minimum: 0 }),
    successes_24h: JsonInt({ minimum: 0 }),
    success_rate: t.Union([t.Number({ minimum: 0, maximum: 1 }), t.Null()], { description: 'successes / attempts over 24 h; null without attempts' }),
    last_error: t.Union([t.String(), t.Null()], { description: 'Error of the newest failed attempt' }),
    last_error_at: t.Union([t.String({ format: 'date-time' }), t.Null()]),
    last_success_at: t.Union([t.String({ format: 'date-time' }), t.Null()]),
    waiting: JsonInt({ minimum: 0, description: 'Deliveries pending or retrying' }),
    failed: JsonInt({ minimum: 0, description: 'Deliveries that failed for good (retained 7 days; see recover)' }),
  },
  { additionalProperties: false },
)

export const SystemSummary = t.Object(
  {
    memory: t.String(),
    generated_at: t.String({ format: 'date-time' }),
    instance: t.Object(
      {
        node_id: t.String({ description: 'host:pid of this instance' }),
        version: t.String(),
        started_at: t.String({ format: 'date-time' }),
        uptime_s: t.Number(),
        cluster: t.Boolean({ description: 'false: one instance serves everything (there is no cluster mode yet)' }),
      },
      { additionalProperties: false },
    ),
    connections: t.Object(
      { ws: JsonInt({ minimum: 0 }), sse: JsonInt({ minimum: 0 }) },
      { additionalProperties: false, description: 'Open connections of this instance, every memory (the figures /health and /metrics show)' },
    ),
    events: t.Object(
      {
        window_s: JsonInt(),
        per_second: t.Array(JsonInt({ minimum: 0 }), { description: `Events of this memory per second, oldest first, the last ${EVENT_WINDOW_S} s` }),
        last_minute: JsonInt({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    latency_ms: t.Object(
      { ws: Latency, sse: Latency, webhook: Latency },
      { additionalProperties: false, description: 'Event creation → written to the transport, last minute of this instance, every memory' },
    ),
    jobs: t.Object(
      {
        pending: JsonInt({ minimum: 0 }),
        running: JsonInt({ minimum: 0 }),
        paused: t.Boolean({ description: 'Jobs of this memory are held (a memory or a global pause)' }),
        paused_globally: t.Boolean(),
      },
      { additionalProperties: false },
    ),
    webhooks: t.Object(
      { queue_depth: JsonInt({ minimum: 0, description: 'Deliveries of this memory waiting' }), endpoints: t.Array(EndpointHealth) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)
export type SystemSummary = Static<typeof SystemSummary>

interface HealthRow {
  id: string
  attempts: number
  successes: number
  last_error: string | null
  last_status: number | null
  last_error_at: string | null
  last_success_at: string | null
  waiting: number
  failed: number
}

/** Per-second counts → a dense series of `windowS` buckets ending with the second of `nowMs`. */
export function perSecondSeries(rows: readonly { s: number; n: number }[], nowMs: number, windowS = EVENT_WINDOW_S): number[] {
  const last = Math.floor(nowMs / 1000)
  const out = new Array<number>(windowS).fill(0)
  for (const r of rows) {
    const i = windowS - 1 - (last - r.s)
    if (i >= 0 && i < windowS) out[i] = r.n
  }
  return out
}

/**
 * The Overview's read model: one memory's events per second, job counts and webhook health, plus this
 * instance's connections and recent latency. Read-only queries on the stores' tables.
 */
export class SummaryReader {
  private perSecond: Statement
  private health: Statement
  private nodeId = `${hostname()}:${process.pid}`

  constructor(
    private ctx: AppContext,
    db: Database = ctx.db,
  ) {
    this.perSecond = db.query('SELECT created_ms / 1000 AS s, COUNT(*) AS n FROM events WHERE created_ms >= ? AND memory = ? GROUP BY s')
    this.health = db.query(`
      SELECT w.id,
        (SELECT COUNT(*) FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.created_at >= ?1) AS attempts,
        (SELECT COUNT(*) FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.created_at >= ?1 AND a.success = 1) AS successes,
        (SELECT a.error FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.success = 0 ORDER BY a.seq DESC LIMIT 1) AS last_error,
        (SELECT a.status_code FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.success = 0 ORDER BY a.seq DESC LIMIT 1) AS last_status,
        (SELECT a.created_at FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.success = 0 ORDER BY a.seq DESC LIMIT 1) AS last_error_at,
        (SELECT a.created_at FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.success = 1 ORDER BY a.seq DESC LIMIT 1) AS last_success_at,
        (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status IN ('pending', 'retrying')) AS waiting,
        (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'failed') AS failed
      FROM webhooks w WHERE w.memory = ?2 ORDER BY w.created_at, w.id`)
  }

  read(memory: string, nowMs = Date.now()): SystemSummary {
    const { ctx } = this
    const from = (Math.floor(nowMs / 1000) - EVENT_WINDOW_S + 1) * 1000
    const perSecond = perSecondSeries(this.perSecond.all(from, memory) as { s: number; n: number }[], nowMs)
    const counts = ctx.jobs.counts(memory)
    const pauses = ctx.jobPauses.state()
    const endpoints = (this.health.all(new Date(nowMs - HEALTH_WINDOW_MS).toISOString(), memory) as HealthRow[]).map((r) => ({
      webhook_id: r.id,
      attempts_24h: r.attempts,
      successes_24h: r.successes,
      success_rate: r.attempts ? Math.round((r.successes / r.attempts) * 1000) / 1000 : null,
      // An HTTP failure's error is "receiver answered HTTP 503"-like already; a bare status is spelled out.
      last_error: r.last_error ?? (r.last_status !== null ? `HTTP ${r.last_status}` : null),
      last_error_at: r.last_error_at,
      last_success_at: r.last_success_at,
      waiting: r.waiting,
      failed: r.failed,
    }))
    return {
      memory,
      generated_at: new Date(nowMs).toISOString(),
      instance: {
        node_id: this.nodeId,
        version: VERSION,
        started_at: new Date(ctx.startedAt).toISOString(),
        uptime_s: Math.round((nowMs - ctx.startedAt) / 100) / 10,
        cluster: false,
      },
      connections: { ws: ctx.live.wsConnections(), sse: ctx.live.sseConnections() },
      events: { window_s: EVENT_WINDOW_S, per_second: perSecond, last_minute: perSecond.reduce((a, b) => a + b, 0) },
      latency_ms: ctx.metrics.recentLatency(nowMs),
      jobs: { pending: counts.pending, running: counts.running, paused: pauses.global || pauses.memories.includes(memory), paused_globally: pauses.global },
      webhooks: { queue_depth: endpoints.reduce((a, e) => a + e.waiting, 0), endpoints },
    }
  }
}
