/**
 * /console is served by the app from a bundle built at start (no CDN, nothing to fetch), and
 * GET /api/v1/system/summary gives one memory's live figures to an admin of that memory only.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { consoleBundle } from '../../src/modules/console/bundle.ts'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { dataOf, SseClient } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'

type Json = Record<string, any>

let s: TestServer
let admin: string
let r: Receiver

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_AUTH: 'required', MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_POLL_MS: '20', MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000' } })
  admin = await s.token({ memory: '*' })
  r = await startReceiver({ reply: (req) => (req.path.endsWith('/bad') ? new Response('nope', { status: 500 }) : new Response('ok')) })
})
afterAll(async () => {
  await r.stop()
  await s.stop()
})

describe('GET /console', () => {
  test('a public page whose script and stylesheet come from this app, under a CSP that allows nothing else', async () => {
    for (const path of ['/console', '/console/']) {
      const res = await fetch(`${s.url}${path}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
      const csp = res.headers.get('content-security-policy')!
      expect(csp).toContain("default-src 'none'")
      expect(csp).toContain("connect-src 'self'")
      expect(csp).toContain("frame-ancestors 'none'")
      const html = await res.text()
      // Every reference: the two assets, the in-page skip link and an empty inline icon (no /favicon.ico request).
      const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).sort()
      expect(refs).toEqual(['#main', expect.stringMatching(/^\/console\/assets\/console\.css\?v=[0-9a-f]{12}$/), expect.stringMatching(/^\/console\/assets\/console\.js\?v=[0-9a-f]{12}$/), 'data:,'] as string[])
      expect(html).not.toMatch(/https?:\/\//) // no CDN, no other host
    }
  })

  test('assets: compiled JavaScript and CSS, gzip when accepted, immutable; unknown names 404', async () => {
    const html = await (await fetch(`${s.url}/console`)).text()
    const js = /src="([^"]+console\.js[^"]*)"/.exec(html)![1]!
    const plain = await fetch(`${s.url}${js}`, { headers: { 'accept-encoding': 'identity' } })
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(plain.headers.get('cache-control')).toContain('immutable')
    expect(plain.headers.get('content-encoding')).toBeNull()
    const code = await plain.text()
    expect(code).toContain('/api/v1/events') // the bundle, not the TypeScript source
    expect(code).not.toContain('import ')
    // The only absolute URLs are the SVG namespace and the URL field's placeholder: names, never requested.
    expect([...new Set(code.match(/https?:\/\/[^"'`\s)]+/g) ?? [])].sort()).toEqual(['http://www.w3.org/2000/svg', 'https://example.com/hooks/matric'])
    const zipped = await fetch(`${s.url}${js}`, { headers: { 'accept-encoding': 'gzip, br' }, decompress: false } as RequestInit)
    expect(zipped.headers.get('content-encoding')).toBe('gzip')
    expect(new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await zipped.arrayBuffer())))).toBe(code)
    expect((await fetch(`${s.url}/console/assets/main.ts`)).status).toBe(404)
    expect((await fetch(`${s.url}/console/assets/..%2F..%2Fapp.ts`)).status).toBe(404)
  })

  test('the page stays small', async () => {
    const b = await consoleBundle()
    // Measured: 39 KB as served uncompressed, 13 KB gzipped (docs/console.md). A bound, not a goal.
    expect(b.bytes.total).toBeLessThan(80_000)
    expect(b.bytes.gzipTotal).toBeLessThan(25_000)
  })
})

describe('GET /api/v1/system/summary', () => {
  const summary = (memory: string, token = admin) => s.request('/api/v1/system/summary', { token, headers: { 'x-matric-memory': memory } })

  test('admin of the memory only: 401 without a token, 403 for readers, writers, tag-restricted admins and other memories', async () => {
    expect((await s.request('/api/v1/system/summary')).status).toBe(401)
    expect((await summary('sum-a', await s.token({ memory: 'sum-a', scope: 'read write' }))).status).toBe(403)
    expect((await summary('sum-b', await s.token({ memory: 'sum-a' }))).status).toBe(403)
    expect((await summary('sum-a', await s.token({ memory: 'sum-a', tags: ['t'] }))).status).toBe(403)
    expect((await summary('sum-a', await s.token({ memory: 'sum-a' }))).status).toBe(200)
  })

  test("counts one memory's events, queue and webhooks, never another's", async () => {
    const hook = async (memory: string, path: string) =>
      (await (await s.request('/api/v1/webhooks', { token: admin, body: { url: `${r.url}${path}`, events: ['note.deleted'], max_retries: 0 }, headers: { 'x-matric-memory': memory } })).json()) as Json
    const good = await hook('sum-a', '/good')
    const bad = await hook('sum-a', '/bad')
    const elsewhere = await hook('sum-b', '/good')
    const publish = (memory: string, id: string) => s.request('/api/v1/events', { token: admin, body: { memory, payload: { type: 'NoteDeleted', note_id: id } } })
    for (const id of ['a1', 'a2', 'a3']) expect((await publish('sum-a', id)).status).toBe(202)
    for (const id of ['b1', 'b2']) expect((await publish('sum-b', id)).status).toBe(202)
    await r.waitForRequests(8)
    const a = await waitFor(async () => {
      const x = (await (await summary('sum-a')).json()) as Json
      return x.webhooks.endpoints.every((e: Json) => e.attempts_24h === 3) ? x : null
    }, 'the attempts of sum-a')
    expect(a.memory).toBe('sum-a')
    expect(a.events.window_s).toBe(60)
    expect(a.events.per_second).toHaveLength(60)
    expect(a.events.last_minute).toBe(3)
    expect(a.events.per_second.reduce((x: number, y: number) => x + y, 0)).toBe(3)
    expect(a.webhooks.endpoints.map((e: Json) => e.webhook_id)).toEqual([good.id, bad.id])
    expect(a.webhooks.endpoints[0]).toMatchObject({ attempts_24h: 3, successes_24h: 3, success_rate: 1, last_error: null, waiting: 0, failed: 0 })
    expect(a.webhooks.endpoints[1]).toMatchObject({ attempts_24h: 3, successes_24h: 0, success_rate: 0, waiting: 0, failed: 3 })
    expect(a.webhooks.endpoints[1].last_error).toContain('receiver answered HTTP 500')
    expect(a.webhooks.endpoints[1].last_success_at).toBeNull()
    expect(Date.parse(a.webhooks.endpoints[1].last_error_at)).toBeGreaterThan(0)
    expect(a.instance).toMatchObject({ cluster: false, node_id: expect.stringContaining(':') })
    expect(a.jobs).toMatchObject({ paused: false, paused_globally: false })

    const b = (await (await summary('sum-b')).json()) as Json
    expect(b.events.last_minute).toBe(2)
    expect(b.webhooks.endpoints.map((e: Json) => e.webhook_id)).toEqual([elsewhere.id])
  })

  test('connections and latency percentiles follow what this instance delivers', async () => {
    const stream = await SseClient.open(`${s.url}/api/v1/events?memory=sum-c`, { headers: { authorization: `Bearer ${admin}` } })
    try {
      const before = (await (await summary('sum-c')).json()) as Json
      expect(before.connections.sse).toBeGreaterThanOrEqual(1)
      await s.request('/api/v1/events', { token: admin, body: { memory: 'sum-c', payload: { type: 'NoteDeleted', note_id: 'c1' } } })
      await stream.frame((f) => f.event === 'note.deleted' && dataOf<Json>(f).payload.note_id === 'c1', 'the event')
      const after = (await (await summary('sum-c')).json()) as Json
      const l = after.latency_ms.sse
      expect(l.count).toBeGreaterThan(before.latency_ms.sse.count)
      expect(l.p50).toBeGreaterThanOrEqual(0)
      expect(l.p50).toBeLessThanOrEqual(l.p95)
      expect(l.p95).toBeLessThanOrEqual(l.p99)
      expect(after.jobs).toMatchObject({ pending: 0, running: 0 })
    } finally {
      stream.close()
    }
  })

  test('a paused memory says so', async () => {
    expect((await s.request('/api/v1/jobs/pause/sum-d', { token: admin, method: 'POST' })).status).toBe(200)
    expect(((await (await summary('sum-d')).json()) as Json).jobs).toMatchObject({ paused: true, paused_globally: false })
    expect(((await (await summary('sum-e')).json()) as Json).jobs.paused).toBe(false)
  })
})
