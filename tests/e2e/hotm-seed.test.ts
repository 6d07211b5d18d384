/**
 * The seed-era HotM client (WebSocket only: `refresh` on open, the seven bare payload types) in real
 * Chromium through real nginx (deploy/nginx/matric.conf): the WebSocket upgrade crosses the proxy,
 * `refresh` answers with QueueStatus, and after a burst the counters equal /api/v1/jobs/stats.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { startServer, type TestServer } from '../helpers/server.ts'
import { launchBrowser, recordConsole, type ConsoleRecord } from './lib/browser.ts'
import { describeE2E } from './lib/gate.ts'
import { api, caughtUp, lastSeq, loggedEvents, PAGES_DIR, waitForPage, waitIdle, type PageFrame } from './lib/harness.ts'
import { startNginx, type RunningNginx } from './lib/nginx.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const HOTM_TYPES = ['QueueStatus', 'JobQueued', 'JobStarted', 'JobProgress', 'JobCompleted', 'JobFailed', 'NoteUpdated']
/** Event types that reach the WebSocket (note.created goes out as NoteUpdated; note.deleted and jobs.* do not). */
const WS_EVENT_TYPES = new Set(['queue.status', 'job.queued', 'job.started', 'job.progress', 'job.completed', 'job.failed', 'note.updated', 'note.created'])

/** A HotM frame: the bare payload, `type` first, plus the envelope's `event_id` (optional on the answer to `refresh`, which is no logged event). */
function expectBareFrame(f: PageFrame, opts: { refreshAnswer?: boolean } = {}): void {
  expect(Object.keys(f.data)[0]).toBe('type')
  expect(HOTM_TYPES).toContain(f.data.type as string)
  for (const k of ['payload', 'event_type', 'occurred_at', 'actor', 'payload_version']) expect(f.data).not.toHaveProperty(k)
  if (!opts.refreshAnswer || f.data.event_id !== undefined) expect(f.data.event_id).toMatch(UUID)
}

describeE2E('HotM seed-era client (WebSocket only) through nginx', () => {
  let browser: Browser
  beforeAll(async () => {
    browser = await launchBrowser()
  })
  afterAll(async () => {
    await browser?.close()
  })

  caseWith('anonymous local (MATRIC_AUTH=off)', { MATRIC_AUTH: 'off' }, () => '', async (ctx) => {
    const { page, server, nginx, consoleLog, seqBeforePage } = ctx
    const first = await waitForPage(page, (p) => p.ws.opens === 1 && p.frames.length >= 1, 'the WebSocket to open and answer refresh')
    expect(first.ws.url).toBe(`ws://127.0.0.1:${nginx.port}/api/v1/ws`)
    expect(first.ws.sent).toEqual(['refresh'])
    expect(first.frames[0]!.data).toMatchObject({ type: 'QueueStatus', total_jobs: 0, running: 0, pending: 0 })
    expectBareFrame(first.frames[0]!, { refreshAnswer: true })

    // A burst: 12 notes at once (each queues title generation, embedding, then linking).
    const created = await Promise.all(Array.from({ length: 12 }, (_, i) => api<{ id: string }>(nginx.url, '/api/v1/notes', { body: { content: `burst note ${i}: queue counters under load`, tags: ['burst'] } })))
    expect(created.map((r) => r.status)).toEqual(Array(12).fill(201))
    const stats = await waitIdle(nginx.url)

    const { state: s, logged: expected } = await caughtUp(page, () => loggedEvents(server.db, 'default', seqBeforePage).filter((e) => WS_EVENT_TYPES.has(e.event_type)), 'the WebSocket frames of every logged event', { transport: 'ws' })
    const live = s.frames.slice(1)
    // Every event the WebSocket carries arrived, in emission order, each a bare payload with its event_id.
    expect(live.map((f) => f.data.event_id)).toEqual(expected.map((e) => e.event_id))
    for (const f of live) expectBareFrame(f)
    expect(live.map((f) => f.data.type)).toEqual(expected.map((e) => (e.event_type === 'note.created' ? 'NoteUpdated' : (e.envelope.payload as { type: string }).type)))
    // No frame fell through the seed-era switch to QueueStatus.
    expect(s.handled.filter((e) => e.seed_type !== e.type)).toEqual([])
    expect(s.queueStatus).toEqual({ total_jobs: stats.total_jobs, running: stats.running, pending: stats.pending })
    expect(consoleLog.filter((m) => m.type === 'error' || m.type === 'pageerror')).toEqual([])
  })

  caseWith('auth required, token in the query', {}, async (server) => `&token=${encodeURIComponent(await server.token({ scope: 'read' }))}`, async (ctx) => {
    const { page, nginx, server } = ctx
    const s = await waitForPage(page, (p) => p.ws.opens === 1 && p.frames.length >= 1, 'the WebSocket to open and answer refresh')
    expect(s.frames[0]!.data).toMatchObject({ type: 'QueueStatus', total_jobs: 0, running: 0, pending: 0 })
    const admin = await server.token()
    expect((await api(nginx.url, '/api/v1/notes', { token: admin, body: { content: 'seen by the seed-era client' } })).status).toBe(201)
    const stats = await waitIdle(nginx.url, admin)
    const done = await waitForPage(page, (p) => p.frames.filter((f) => f.data.type === 'JobCompleted').length >= 2, 'the pipeline jobs to complete on the page')
    await waitForPage(page, (p) => p.queueStatus.total_jobs === stats.total_jobs && p.queueStatus.pending === stats.pending && p.queueStatus.running === stats.running, 'the counters to settle')
    expectBareFrame(done.frames[0]!, { refreshAnswer: true })
    for (const f of done.frames.slice(1)) expectBareFrame(f)
  })

  /** One server (env) + nginx + a page per case, all stopped after it. */
  function caseWith(
    name: string,
    env: Record<string, string>,
    query: (server: TestServer) => string | Promise<string>,
    body: (ctx: { page: Page; server: TestServer; nginx: RunningNginx; consoleLog: ConsoleRecord[]; seqBeforePage: number }) => Promise<void>,
  ): void {
    test(name, async () => {
      const server = await startServer({ env })
      let nginx: RunningNginx | undefined
      let page: Page | undefined
      try {
        nginx = await startNginx({ upstreamPort: server.port, staticRoot: PAGES_DIR })
        page = await browser.newPage()
        const consoleLog = recordConsole(page)
        const seqBeforePage = lastSeq(server.db)
        await page.goto(`${nginx.url}/?mode=seed${await query(server)}`)
        await body({ page, server, nginx, consoleLog, seqBeforePage })
      } finally {
        await page?.close()
        await nginx?.stop()
        await server.stop()
      }
    })
  }
})
