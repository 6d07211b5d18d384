import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'

let s: TestServer
beforeAll(async () => {
  s = await startServer()
})
afterAll(() => s.stop())

describe('GET /health', () => {
  test('reports status, version, db and connection counts', async () => {
    const res = await s.request('/health')
    expect(res.status).toBe(200)
    const body = (await res.json()) as { version: unknown; uptime_s: number }
    expect(body).toMatchObject({ status: 'ok', db: 'ok', connections: { ws: 0, sse: 0 }, webhooks: { queue_depth: 0 } })
    expect(typeof body.version).toBe('string')
    expect(body.uptime_s).toBeGreaterThanOrEqual(0)
  })
})
