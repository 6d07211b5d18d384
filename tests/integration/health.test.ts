import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'

interface HealthBody {
  status: string
  version: unknown
  uptime_s: number
  db: string
  write: string
  write_error?: { code: string; message: string; at: string }
}

let s: TestServer
beforeAll(async () => {
  s = await startServer()
})
afterAll(() => s.stop())

describe('GET /health', () => {
  test('reports status, version, db, write health and connection counts', async () => {
    const res = await s.request('/health')
    expect(res.status).toBe(200)
    const body = (await res.json()) as HealthBody
    expect(body).toMatchObject({ status: 'ok', db: 'ok', write: 'ok', connections: { ws: 0, sse: 0 }, webhooks: { queue_depth: 0 } })
    expect(body.write_error).toBeUndefined()
    expect(typeof body.version).toBe('string')
    expect(body.uptime_s).toBeGreaterThanOrEqual(0)
  })

  test('the write probe really commits (at most once per interval)', async () => {
    await s.request('/health')
    const row = s.db.query('SELECT probed_at FROM health_probe').get() as { probed_at: string } | null
    expect(row).not.toBeNull()
    expect(Date.now() - Date.parse(row!.probed_at)).toBeLessThan(60_000)
  })
})

describe('GET /health when writes fail (disk full)', () => {
  let full: TestServer
  beforeAll(async () => {
    full = await startServer()
  })
  afterAll(() => full.stop())

  test('reads still work, but failing writes make it degraded (503) and say why; the event log failure counts too', async () => {
    const token = await full.token()
    expect((await full.request('/health')).status).toBe(200)
    // "Disk full" as SQLite sees it: the file may not grow by another page (SQLITE_FULL on the next allocation).
    const { page_count } = full.db.query('PRAGMA page_count').get() as { page_count: number }
    full.db.exec(`PRAGMA max_page_count = ${page_count}`)
    // Writes that need new pages fail. Events published by an admin are logged by the bus, which never
    // fails the request: the requests still answer 202 while the writes fail behind them.
    const payload = { type: 'JobProgress', job_id: 'import-1', job_type: 'Import', progress: 1, progress_percent: 1, message: 'x'.repeat(1000) }
    let res: Response | undefined
    for (let i = 0; i < 500 && !res; i++) {
      expect((await full.request('/api/v1/events', { token, body: { payload } })).status).toBe(202)
      const r = await full.request('/health')
      if (r.status === 503) res = r
    }
    expect(res).toBeDefined()
    const body = (await res!.json()) as HealthBody
    expect(body).toMatchObject({ status: 'degraded', db: 'ok', write: 'error' })
    expect(body.write_error!.code).toBe('SQLITE_FULL')
    expect(body.write_error!.message).toContain('full')
    expect(Date.now() - Date.parse(body.write_error!.at)).toBeLessThan(60_000)
    // a REST write fails too, and is refused with a 500 (and the health stays degraded)
    const note = await full.request('/api/v1/notes', { token, body: { content: 'y'.repeat(64 * 1024) } })
    expect(note.status).toBe(500)
    expect((await full.request('/health')).status).toBe(503)
  })
})
