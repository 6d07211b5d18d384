/**
 * Today's HotM client against a server that requires auth (MATRIC_AUTH=required), in real Chromium through
 * real nginx: a bearer token with HotM's memory and tenant binding, the `matric_token` cookie on the same
 * origin, no credentials, another memory chosen with X-Fortemi-Memory, and a token of another tenant.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { SignJWT } from 'jose'
import type { Browser, Page } from 'playwright-core'
import { startServer, type TestServer } from '../helpers/server.ts'
import { launchBrowser } from './lib/browser.ts'
import { describeE2E } from './lib/gate.ts'
import { api, caughtUp, duplicates, lastSeq, loggedEvents, PAGES_DIR, waitForPage, waitIdle } from './lib/harness.ts'
import { startNginx, type RunningNginx } from './lib/nginx.ts'

describeE2E('HotM newest client through nginx with auth required', () => {
  let server: TestServer
  let nginx: RunningNginx
  let browser: Browser
  let admin: string

  beforeAll(async () => {
    server = await startServer({ env: { MATRIC_AUTH: 'required' } })
    nginx = await startNginx({ upstreamPort: server.port, staticRoot: PAGES_DIR })
    browser = await launchBrowser()
    admin = await server.token({ memory: '*' })
  })
  afterAll(async () => {
    await browser?.close()
    await nginx?.stop()
    await server?.stop()
  })

  /** A page in its own browser context (cookies never leak between cases). */
  async function open(query: string, cookie?: string): Promise<Page> {
    const ctx = await browser.newContext()
    if (cookie) await ctx.addCookies([{ name: 'matric_token', value: cookie, url: nginx.url, httpOnly: true, sameSite: 'Strict' }])
    const page = await ctx.newPage()
    await page.goto(`${nginx.url}/?mode=newest&${query}`)
    return page
  }

  /** Creates a note in `memory` and waits for its pipeline. */
  async function activity(memory: string) {
    const r = await api(nginx.url, '/api/v1/notes', { token: admin, headers: { 'X-Fortemi-Memory': memory }, body: { content: `a note in ${memory}`, tags: [memory] } })
    expect(r.status).toBe(201)
    return waitIdle(nginx.url, admin, { memory })
  }

  /** The page once it has the newest event of `memory`'s log since `afterSeq`, and that log. */
  function streamed(page: Page, memory: string, afterSeq: number) {
    return caughtUp(page, () => loggedEvents(server.db, memory, afterSeq), `the page to catch up with the log of ${memory}`)
  }

  test('bearer token with memory and tenant: the gate passes, SSE carries the memory, no WebSocket', async () => {
    const token = await server.token({ scope: 'read', memory: 'default' })
    const seq = lastSeq(server.db)
    const page = await open(`token=${encodeURIComponent(token)}&memory=default&tenant=default`)
    const ready = await waitForPage(page, (p) => p.sse.connected && p.handled.some((e) => e.type === 'QueueStatus'), 'the stream to open', 5000)
    expect(ready.compatibility).toMatchObject({ auth: { required: true, claim_contract_version: '1' } })
    expect(ready.compatibilityProblems).toEqual([])
    const stats = await activity('default')
    await activity('other') // never reaches this page
    const { state: s, logged } = await streamed(page, 'default', seq)
    expect(s.frames.filter((f) => f.id !== null).map((f) => f.id)).toEqual(logged.map((e) => e.event_id))
    expect(new Set(s.handled.map((e) => e.memory))).toEqual(new Set(['default']))
    expect(new Set(s.handled.map((e) => e.tenant_id))).toEqual(new Set(['default']))
    expect(s.dropped).toMatchObject({ context: 0, duplicate: 0 })
    expect(duplicates(s.handled.map((e) => e.event_id))).toEqual([])
    expect(s.handled.filter((e) => e.type === 'Unknown')).toEqual([])
    // The legacy WebSocket is for anonymous local mode only.
    expect(s.ws).toMatchObject({ url: null, opens: 0 })
    const def = (await api<{ pending: number; running: number; total_jobs: number }>(nginx.url, '/api/v1/jobs/stats', { token })).body
    expect(s.queueStatus).toEqual({ total_jobs: def.total_jobs, running: def.running, pending: def.pending })
    expect(stats.pending + stats.running).toBe(0)
  })

  test('the matric_token cookie on the same origin opens the stream without an Authorization header', async () => {
    const token = await server.token({ scope: 'read', memory: 'default' })
    const seq = lastSeq(server.db)
    const page = await open('memory=default&tenant=default', token)
    await waitForPage(page, (p) => p.sse.connected && p.handled.some((e) => e.type === 'QueueStatus'), 'the stream to open with the cookie', 5000)
    await activity('default')
    const { state: s, logged } = await streamed(page, 'default', seq)
    expect(s.frames.filter((f) => f.id !== null).map((f) => f.id)).toEqual(logged.map((e) => e.event_id))
    expect(s.sse.failures).toEqual([])
  })

  test('no credentials: the stream is refused with 401 and nothing is handled', async () => {
    const page = await open('memory=default&tenant=default')
    const s = await waitForPage(page, (p) => p.sse.failures.length > 0, 'the stream to be refused', 5000)
    expect(s.phase).toBe('streaming') // the compatibility document is public
    expect(s.sse.failures[0]!.reason).toBe('SSE endpoint returned 401')
    expect(s.handled).toEqual([])
  })

  test('X-Fortemi-Memory chooses the memory of the stream; events of the other memory never arrive', async () => {
    const token = await server.token({ scope: 'read', memory: ['default', 'other'] })
    const seq = lastSeq(server.db)
    const page = await open(`token=${encodeURIComponent(token)}&memory=other&tenant=default`)
    await waitForPage(page, (p) => p.sse.connected && p.handled.some((e) => e.type === 'QueueStatus'), 'the stream to open', 5000)
    await activity('default')
    await activity('other')
    const { state: s, logged } = await streamed(page, 'other', seq)
    expect(s.frames.filter((f) => f.id !== null).map((f) => f.id)).toEqual(logged.map((e) => e.event_id))
    expect(new Set(s.handled.map((e) => e.memory))).toEqual(new Set(['other']))
    expect(s.dropped.context).toBe(0)
  })

  test('a tag-restricted token: only its notes and their jobs arrive, and the counters are its own', async () => {
    const token = await server.token({ scope: 'read', memory: 'default', tags: ['visible'] })
    const seq = lastSeq(server.db)
    const page = await open(`token=${encodeURIComponent(token)}&memory=default&tenant=default`)
    await waitForPage(page, (p) => p.sse.connected && p.handled.some((e) => e.type === 'QueueStatus'), 'the stream to open', 5000)
    const post = (tags: string[]) => api<{ id: string }>(nginx.url, '/api/v1/notes', { token: admin, body: { content: `tagged ${tags.join(' ')}`, tags } })
    const shown = await post(['visible'])
    const hidden = await post(['hidden'])
    expect([shown.status, hidden.status]).toEqual([201, 201])
    await waitIdle(nginx.url, admin)
    const mine = (await api<{ pending: number; running: number; total_jobs: number }>(nginx.url, '/api/v1/jobs/stats', { token })).body
    // What this principal may read: the log's events of notes carrying `visible` (the log keeps each event's note tags).
    const visible = () => loggedEvents(server.db, 'default', seq).filter((e) => e.event_type !== 'queue.status' && (JSON.parse(e.tags ?? '[]') as string[]).includes('visible'))
    const { state: s, logged } = await caughtUp(page, visible, 'the visible note and its jobs')
    expect(s.frames.filter((f) => f.id !== null && f.event !== 'queue.status').map((f) => f.id)).toEqual(logged.map((e) => e.event_id))
    const noteIds = new Set(s.handled.filter((e) => e.note_id !== undefined).map((e) => e.note_id))
    expect(noteIds).toEqual(new Set([shown.body.id]))
    expect(s.frames.some((f) => JSON.stringify(f.data).includes(hidden.body.id))).toBe(false)
    expect(s.handled.filter((e) => e.type === 'Unknown')).toEqual([])
    expect(s.queueStatus).toEqual({ total_jobs: mine.total_jobs, running: mine.running, pending: mine.pending })
  })

  test('a token of another tenant is refused with 403', async () => {
    const token = await new SignJWT({ scope: 'read', memory: 'default', tenant: 'someone-else' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('intruder')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(server.ctx.secret.key)
    const page = await open(`token=${encodeURIComponent(token)}&memory=default&tenant=someone-else`)
    const s = await waitForPage(page, (p) => p.sse.failures.length > 0, 'the stream to be refused', 5000)
    expect(s.sse.failures[0]!.reason).toBe('SSE endpoint returned 403')
    expect(s.handled).toEqual([])
  })
})
