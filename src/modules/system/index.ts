import type { Database } from 'bun:sqlite'
import { Elysia, t } from 'elysia'
import type { AppContext, LiveCounts } from '../../context.ts'
import { writeHealth } from '../../store/db.ts'
import type { Logger } from '../../telemetry/log.ts'
import { PROMETHEUS_CONTENT_TYPE } from '../../telemetry/metrics.ts'
import { VERSION } from '../../version.ts'

export const Health = t.Object(
  {
    status: t.Union([t.Literal('ok'), t.Literal('degraded')]),
    version: t.String(),
    uptime_s: t.Number(),
    db: t.Union([t.Literal('ok'), t.Literal('error')]),
    write: t.Union([t.Literal('ok'), t.Literal('error')], {
      description: '`error` when the write probe fails or a store met a storage failure (disk full, I/O error, read-only file) in the last 60 s',
    }),
    write_error: t.Optional(
      t.Object(
        {
          code: t.String({ description: 'SQLite result code, e.g. SQLITE_FULL' }),
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
      { status: 'ok', version: '0.1.0', uptime_s: 42.5, db: 'ok', write: 'ok', connections: { ws: 3, sse: 1 }, webhooks: { queue_depth: 0 } },
      {
        status: 'degraded',
        version: '0.1.0',
        uptime_s: 42.5,
        db: 'ok',
        write: 'error',
        write_error: { code: 'SQLITE_FULL', message: 'database or disk is full', at: '2026-12-01T10:00:00.000Z' },
        connections: { ws: 3, sse: 1 },
        webhooks: { queue_depth: 0 },
      },
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

/** Minimum time between two committed write probes (a /health probe every second must not mean a write every second). */
export const WRITE_PROBE_INTERVAL_MS = 5000

export interface WriteStatus {
  write: 'ok' | 'error'
  error?: { code: string; message: string; at: string }
}

/**
 * Write health behind /health. The read check above cannot see a full disk (its no-op write allocates
 * nothing), so: (1) a real, committed upsert of one row in `health_probe`, at most every
 * WRITE_PROBE_INTERVAL_MS, and (2) the last storage failure any store met (disk full, I/O error,
 * read-only), reported by the connection itself (store/db.ts) for WRITE_ERROR_WINDOW_MS. A probe on a
 * full disk can still succeed (it rewrites a page that exists), which is why (2) matters.
 */
export function writeCheck(db: Database, logger: Logger, now: () => number = Date.now): () => WriteStatus {
  const health = writeHealth(db)
  let lastProbe = -Infinity
  let probeError: { code: string; message: string; at: string } | undefined
  let healthy = true
  return () => {
    const t = now()
    if (t - lastProbe >= WRITE_PROBE_INTERVAL_MS && !db.inTransaction) {
      lastProbe = t
      try {
        db.query('INSERT INTO health_probe (id, probed_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at').run(new Date(t).toISOString())
        probeError = undefined
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown }
        probeError = { code: typeof e.code === 'string' ? e.code : 'ERROR', message: String(e.message ?? err).slice(0, 200), at: new Date(t).toISOString() }
      }
    }
    const seen = health.recent()
    const error = seen ? { code: seen.code, message: seen.message, at: new Date(seen.atMs).toISOString() } : probeError
    if (error && healthy) logger.error('database writes are failing', { code: error.code, error: error.message })
    if (!error && !healthy) logger.info('database writes recovered')
    healthy = !error
    return error ? { write: 'error', error } : { write: 'ok' }
  }
}

/** /health and /metrics (docs/operations.md). Unauthenticated: they expose counts, never payloads or secrets. */
export function systemController(ctx: AppContext, live: LiveCounts) {
  const checkDb = dbCheck(ctx.db, ctx.logger)
  const checkWrite = writeCheck(ctx.db, ctx.logger)

  return new Elysia({ tags: ['system'] })
    .get(
      '/health',
      ({ set }) => {
        const db = checkDb()
        const write = checkWrite()
        const status = db === 'ok' && write.write === 'ok' ? 'ok' : 'degraded'
        set.headers['cache-control'] = 'no-store'
        if (status !== 'ok') set.status = 503
        return {
          status,
          version: VERSION,
          uptime_s: Math.round((Date.now() - ctx.startedAt) / 100) / 10,
          db,
          write: write.write,
          ...(write.error ? { write_error: write.error } : {}),
          connections: { ws: live.wsConnections(), sse: live.sseConnections() },
          webhooks: { queue_depth: live.webhookQueueDepth() },
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
        return ctx.metrics.scrape()
      },
      { detail: { summary: 'Prometheus metrics (text exposition format)' }, response: { 200: t.String() } },
    )
}
