import { Elysia, t } from 'elysia'
import type { AppContext } from '../../context.ts'
import { VERSION } from '../../version.ts'

export const Health = t.Object(
  {
    status: t.Union([t.Literal('ok'), t.Literal('degraded')]),
    version: t.String(),
    uptime_s: t.Number(),
    db: t.Union([t.Literal('ok'), t.Literal('error')]),
    connections: t.Object({ ws: t.Integer(), sse: t.Integer() }),
    webhooks: t.Object({ queue_depth: t.Integer() }),
  },
  {
    examples: [
      { status: 'ok', version: '0.1.0', uptime_s: 42.5, db: 'ok', connections: { ws: 3, sse: 1 }, webhooks: { queue_depth: 0 } },
    ],
  },
)

/** Live counts the transports register; read by /health and the Prometheus gauges. */
export interface LiveCounts {
  wsConnections: () => number
  sseConnections: () => number
  webhookQueueDepth: () => number
}

/** /health and /metrics (SPEC §8). Unauthenticated: they expose counts, never payloads or secrets. */
export function systemController(ctx: AppContext, live: LiveCounts) {
  ctx.metrics.gauge('matric_ws_connections_active', 'Open WebSocket connections', live.wsConnections)
  ctx.metrics.gauge('matric_sse_connections_active', 'Open SSE streams', live.sseConnections)
  ctx.metrics.gauge('matric_webhook_queue_depth', 'Webhook deliveries waiting (pending or retrying)', live.webhookQueueDepth)
  const ping = ctx.db.query('SELECT 1 AS ok')

  return new Elysia({ tags: ['system'] })
    .get(
      '/health',
      ({ set }) => {
        let db: 'ok' | 'error' = 'ok'
        try {
          ping.get()
        } catch {
          db = 'error'
        }
        const status = db === 'ok' ? 'ok' : 'degraded'
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
      { response: { 200: Health, 503: Health }, detail: { summary: 'Liveness and readiness' } },
    )
    .get(
      '/metrics',
      async ({ set }) => {
        set.headers['content-type'] = 'text/plain; version=0.0.4; charset=utf-8'
        return ctx.metrics.scrape()
      },
      { detail: { summary: 'Prometheus metrics (text exposition format)' }, response: { 200: t.String() } },
    )
}
