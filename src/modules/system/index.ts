import type { Database } from 'bun:sqlite'
import { Elysia, t } from 'elysia'
import type { AppContext, LiveCounts } from '../../context.ts'
import type { Logger } from '../../telemetry/log.ts'
import { PROMETHEUS_CONTENT_TYPE } from '../../telemetry/metrics.ts'
import { VERSION } from '../../version.ts'

export const Health = t.Object(
  {
    status: t.Union([t.Literal('ok'), t.Literal('degraded')]),
    version: t.String(),
    uptime_s: t.Number(),
    db: t.Union([t.Literal('ok'), t.Literal('error')]),
    connections: t.Object({ ws: t.Integer(), sse: t.Integer() }, { additionalProperties: false }),
    webhooks: t.Object({ queue_depth: t.Integer() }, { additionalProperties: false }),
  },
  {
    // Declared up front: Elysia adds it in place on first use, which would make the document order-dependent.
    additionalProperties: false,
    examples: [
      { status: 'ok', version: '0.1.0', uptime_s: 42.5, db: 'ok', connections: { ws: 3, sse: 1 }, webhooks: { queue_depth: 0 } },
    ],
  },
)


/**
 * The database check behind /health: reads the newest event-log row (a real table, not `SELECT 1`) and
 * runs a no-op write inside a rolled-back transaction, so a closed, unreadable, locked or read-only store
 * reports `error`.
 * Logs the transition, not every failed probe.
 */
export function dbCheck(db: Database, logger: Logger): () => 'ok' | 'error' {
  let healthy = true
  return () => {
    let ok = true
    try {
      db.query('SELECT max(seq) AS seq FROM events').get()
      // Inside someone's open transaction the write probe would fail for the wrong reason; reading is enough then.
      if (!db.inTransaction) {
        db.exec('BEGIN IMMEDIATE')
        try {
          // Deletes nothing, but needs a writable store (read-only files and mounts fail here).
          db.exec('DELETE FROM events WHERE 0')
        } finally {
          db.exec('ROLLBACK')
        }
      }
    } catch (err) {
      ok = false
      if (healthy) logger.error('database health check failed', { err })
    }
    if (ok && !healthy) logger.info('database health check recovered')
    healthy = ok
    return ok ? 'ok' : 'error'
  }
}

/** /health and /metrics (SPEC §8). Unauthenticated: they expose counts, never payloads or secrets. */
export function systemController(ctx: AppContext, live: LiveCounts) {
  // Read through `live` at scrape time: transports register their counters after this controller is built.
  ctx.metrics.gauge('matric_ws_connections_active', 'Open WebSocket connections', () => live.wsConnections())
  ctx.metrics.gauge('matric_sse_connections_active', 'Open SSE streams', () => live.sseConnections())
  ctx.metrics.gauge('matric_webhook_queue_depth', 'Webhook deliveries waiting (pending or retrying)', () => live.webhookQueueDepth())
  const checkDb = dbCheck(ctx.db, ctx.logger)

  return new Elysia({ tags: ['system'] })
    .get(
      '/health',
      ({ set }) => {
        const db = checkDb()
        const status = db === 'ok' ? 'ok' : 'degraded'
        set.headers['cache-control'] = 'no-store'
        if (status !== 'ok') set.status = 503
        return {
          status,
          version: VERSION,
          uptime_s: Math.round((Date.now() - ctx.startedAt) / 100) / 10,
          db,
          connections: { ws: live.wsConnections(), sse: live.sseConnections() },
          webhooks: { queue_depth: live.webhookQueueDepth() },
        } as const
      },
      {
        response: { 200: Health, 503: Health },
        detail: {
          summary: 'Liveness and readiness',
          description: '200 with `status: ok` when the database answers a read and accepts a (rolled-back) write; 503 with `status: degraded` (same body) otherwise.',
        },
      },
    )
    .get(
      '/metrics',
      async ({ set }) => {
        set.headers['content-type'] = PROMETHEUS_CONTENT_TYPE
        set.headers['cache-control'] = 'no-store'
        return ctx.metrics.scrape()
      },
      { detail: { summary: 'Prometheus metrics (text exposition format)' }, response: { 200: t.String() } },
    )
}
