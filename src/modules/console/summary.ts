import { t, type Static } from 'elysia'
import type { AppContext } from '../../context.ts'
import { JsonInt } from '../../http/schemas.ts'
import { VERSION } from '../../version.ts'

/** What this module uses of the composition root (src/context.ts). */
export type ConsoleSummaryDeps = Pick<AppContext, 'config' | 'jobPauses' | 'jobs' | 'live' | 'metrics' | 'startedAt' | 'stores'>

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
  constructor(private ctx: ConsoleSummaryDeps) {}

  async read(memory: string, nowMs = Date.now()): Promise<SystemSummary> {
    const { ctx } = this
    const from = (Math.floor(nowMs / 1000) - EVENT_WINDOW_S + 1) * 1000
    const [rows, counts, pauses, health] = await Promise.all([
      ctx.stores.events.perSecond(memory, from),
      ctx.jobs.counts(memory),
      ctx.jobPauses.state(),
      ctx.stores.webhooks.health(memory, new Date(nowMs - HEALTH_WINDOW_MS).toISOString()),
    ])
    const perSecond = perSecondSeries(rows, nowMs)
    const endpoints = health.map((r) => ({
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
        node_id: ctx.config.nodeId,
        version: VERSION,
        started_at: new Date(ctx.startedAt).toISOString(),
        uptime_s: Math.round((nowMs - ctx.startedAt) / 100) / 10,
        cluster: ctx.stores.kind !== 'sqlite',
      },
      connections: { ws: ctx.live.wsConnections(), sse: ctx.live.sseConnections() },
      events: { window_s: EVENT_WINDOW_S, per_second: perSecond, last_minute: perSecond.reduce((a, b) => a + b, 0) },
      latency_ms: ctx.metrics.recentLatency(nowMs),
      jobs: { pending: counts.pending, running: counts.running, paused: pauses.global || pauses.memories.includes(memory), paused_globally: pauses.global },
      webhooks: { queue_depth: endpoints.reduce((a, e) => a + e.waiting, 0), endpoints },
    }
  }
}
