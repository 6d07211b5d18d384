import { Elysia, t } from 'elysia'
import type { AppContext, LiveCounts } from '../../context.ts'
import type { StoreProbe } from '../../store/ports.ts'
import type { Logger } from '../../telemetry/log.ts'
import { PROMETHEUS_CONTENT_TYPE } from '../../telemetry/metrics.ts'
import { VERSION } from '../../version.ts'

/** What this module uses of the composition root (src/context.ts). */
export type SystemDeps = Pick<AppContext, 'config' | 'logger' | 'metrics' | 'startedAt' | 'stores'>

export const Health = t.Object(
  {
    status: t.Union([t.Literal('ok'), t.Literal('degraded')]),
    version: t.String(),
    uptime_s: t.Number(),
    db: t.Union([t.Literal('ok'), t.Literal('error')]),
    store: t.Object(
      {
        kind: t.Union([t.Literal('sqlite'), t.Literal('postgres')], { description: 'The backend: the embedded SQLite file, or PostgreSQL (MATRIC_DATABASE_URL)' }),
        node_id: t.String({ description: 'This instance (MATRIC_NODE_ID; default host:pid)' }),
      },
      { additionalProperties: false },
    ),
    write: t.Union([t.Literal('ok'), t.Literal('error')], {
      description: '`error` when the write probe fails or a store met a storage failure (disk full, I/O error, read-only file) in the last 60 s',
    }),
    write_error: t.Optional(
      t.Object(
        {
          code: t.String({ description: 'The store\'s error code, e.g. SQLITE_FULL' }),
          message: t.String(),
          at: t.String({ format: 'date-time', description: 'when it was last seen' }),
        },
        { additionalProperties: false },
      ),
    ),
    connections: t.Object({ ws: t.Integer(), sse: t.Integer() }, { additionalProperties: false }),
    webhooks: t.Object({ queue_depth: t.Integer() }, { additionalProperties: false }),
  },
  {
    // Declared up front: Elysia adds it in place on first use, which would make the document order-dependent.
    additionalProperties: false,
    examples: [
      { status: 'ok', version: '0.1.0', uptime_s: 42.5, db: 'ok', store: { kind: 'sqlite', node_id: 'host-1:4242' }, write: 'ok', connections: { ws: 3, sse: 1 }, webhooks: { queue_depth: 0 } },
      {
        status: 'degraded',
        version: '0.1.0',
        uptime_s: 42.5,
        db: 'ok',
        store: { kind: 'sqlite', node_id: 'host-1:4242' },
        write: 'error',
        write_error: { code: 'SQLITE_FULL', message: 'database or disk is full', at: '2026-12-01T10:00:00.000Z' },
        connections: { ws: 3, sse: 1 },
        webhooks: { queue_depth: 0 },
      },
    ],
  },
)


/**
 * The store check behind /health: a real read and, where the backend allows, the write lock taken without writing
 * (StoreProbe.read), so a closed, unreadable, locked or read-only store reports `error`. Logs the transition, not
 * every failed probe.
 */
export function dbCheck(probe: StoreProbe, logger: Logger): () => Promise<'ok' | 'error'> {
  let healthy = true
  return async () => {
    let ok = true
    try {
      await probe.read()
    } catch (err) {
      ok = false
      if (healthy) logger.error('database health check failed', { err })
    }
    if (ok && !healthy) logger.info('database health check recovered')
    healthy = ok
    return ok ? 'ok' : 'error'
  }
}

/** Minimum time between two committed write probes (a /health probe every second must not mean a write every second). */
export const WRITE_PROBE_INTERVAL_MS = 5000

export interface WriteStatus {
  write: 'ok' | 'error'
  error?: { code: string; message: string; at: string }
}

/**
 * Write health behind /health. The read check above cannot see a full disk (its no-op write allocates
 * nothing), so: (1) a real, committed write (StoreProbe.write), at most every WRITE_PROBE_INTERVAL_MS, and
 * (2) the last storage failure any store met (disk full, I/O error, read-only), as the backend reports it
 * (StoreProbe.recentFailure; SQLite: store/sqlite/db.ts). A probe on a full disk can still succeed (it rewrites
 * a page that exists), which is why (2) matters.
 */
export function writeCheck(probe: StoreProbe, logger: Logger, now: () => number = Date.now): () => Promise<WriteStatus> {
  let lastProbe = -Infinity
  let probeError: { code: string; message: string; at: string } | undefined
  let healthy = true
  return async () => {
    const t = now()
    if (t - lastProbe >= WRITE_PROBE_INTERVAL_MS) {
      lastProbe = t
      try {
        await probe.write(new Date(t).toISOString())
        probeError = undefined
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown }
        probeError = { code: typeof e.code === 'string' ? e.code : 'ERROR', message: String(e.message ?? err).slice(0, 200), at: new Date(t).toISOString() }
      }
    }
    const seen = probe.recentFailure?.()
    const error = seen ? { code: seen.code, message: seen.message, at: new Date(seen.atMs).toISOString() } : probeError
    if (error && healthy) logger.error('database writes are failing', { code: error.code, error: error.message })
    if (!error && !healthy) logger.info('database writes recovered')
    healthy = !error
    return error ? { write: 'error', error } : { write: 'ok' }
  }
}

/** /health and /metrics (docs/operations.md). Unauthenticated: they expose counts, never payloads or secrets. */
export function systemController(ctx: SystemDeps, live: LiveCounts) {
  const checkDb = dbCheck(ctx.stores.probe, ctx.logger)
  const checkWrite = writeCheck(ctx.stores.probe, ctx.logger)

  return new Elysia({ tags: ['system'] })
    .get(
      '/health',
      async ({ set }) => {
        const db = await checkDb()
        const write = await checkWrite()
        // A store that cannot answer leaves the last depth read (the probes above already say it is failing).
        const queueDepth = await live.readQueueDepth().catch(() => live.webhookQueueDepth())
        const status = db === 'ok' && write.write === 'ok' ? 'ok' : 'degraded'
        set.headers['cache-control'] = 'no-store'
        if (status !== 'ok') set.status = 503
        return {
          status,
          version: VERSION,
          uptime_s: Math.round((Date.now() - ctx.startedAt) / 100) / 10,
          db,
          store: { kind: ctx.stores.kind, node_id: ctx.config.nodeId },
          write: write.write,
          ...(write.error ? { write_error: write.error } : {}),
          connections: { ws: live.wsConnections(), sse: live.sseConnections() },
          webhooks: { queue_depth: queueDepth },
        }
      },
      {
        response: { 200: Health, 503: Health },
        detail: {
          summary: 'Liveness and readiness',
          description:
            '200 with `status: ok` when the database answers a read and accepts a (rolled-back) write (`db`), and writes work (`write`: a ' +
            'committed probe at most every 5 s, and no storage failure such as a full disk met by any store in the last 60 s); 503 with ' +
            '`status: degraded` (same body) otherwise. See docs/operations.md.',
        },
      },
    )
    .get(
      '/metrics',
      async ({ set }) => {
        set.headers['content-type'] = PROMETHEUS_CONTENT_TYPE
        set.headers['cache-control'] = 'no-store'
        await live.readQueueDepth().catch(() => {}) // the gauge reads it synchronously during the scrape
        return ctx.metrics.scrape()
      },
      { detail: { summary: 'Prometheus metrics (text exposition format)' }, response: { 200: t.String() } },
    )
}
