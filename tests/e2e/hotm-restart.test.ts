/**
 * Server restarts under today's HotM client, in real Chromium through real nginx: the page resumes with
 * Last-Event-ID (its cursor is the last event_id it saw, the synthetic queue.status included) and ends with
 * exactly the events of the server's log, in order, none twice — after a graceful restart with nothing but
 * the synthetic cursor in hand, and after a crash (SIGKILL) mid-stream with a job running.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { revisedOf, startInference, type InferenceDouble } from '../doubles/inference.ts'
import { spawnServer, type ServerProcess } from '../helpers/process.ts'
import { TEST_SECRET } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'
import { launchBrowser } from './lib/browser.ts'
import { describeE2E } from './lib/gate.ts'
import { api, caughtUp, duplicates, loggedEvents, openLog, PAGES_DIR, waitForPage, waitIdle } from './lib/harness.ts'
import { startNginx, type RunningNginx } from './lib/nginx.ts'

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = s.port
  s.stop(true)
  return port
}

describeE2E('HotM newest client across server restarts (through nginx)', () => {
  let llm: InferenceDouble
  let dataDir: string
  let port: number
  let nginx: RunningNginx
  let browser: Browser
  let page: Page
  let log: Database | undefined
  const procs: ServerProcess[] = []

  async function start(): Promise<ServerProcess> {
    // Same data dir and port every time: nginx's upstream stays, the event log survives.
    const p = await spawnServer({
      PORT: String(port),
      MATRIC_DATA_DIR: dataDir,
      MATRIC_JWT_SECRET: TEST_SECRET,
      MATRIC_AUTH: 'off',
      MATRIC_INFERENCE_URL: llm.url,
      MATRIC_JOB_RETRY_BASE_MS: '300',
      MATRIC_WORKER_POLL_MS: '50',
      MATRIC_QUEUE_STATUS_INTERVAL_MS: '50',
    })
    procs.push(p)
    return p
  }

  beforeAll(async () => {
    llm = await startInference()
    dataDir = mkdtempSync(join(tmpdir(), 'matric-e2e-restart-'))
    port = await freePort()
    await start()
    nginx = await startNginx({ upstreamPort: port, staticRoot: PAGES_DIR })
    browser = await launchBrowser()
    page = await browser.newPage()
    await page.goto(`${nginx.url}/?mode=newest`)
  })
  afterAll(async () => {
    log?.close()
    await browser?.close()
    await nginx?.stop()
    for (const p of procs) if (p.proc.exitCode === null && !p.proc.killed) await p.kill('SIGKILL')
    await llm?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  test('graceful restart with only the synthetic queue.status cursor: resumed from it, nothing lost', async () => {
    const opened = await waitForPage(page, (p) => p.sse.connected && p.handled.some((e) => e.type === 'QueueStatus'), 'the stream to open')
    const cursor = opened.sse.lastEventId
    expect(opened.frames.filter((f) => f.id !== null)).toEqual([]) // an empty log: only the synthetic frame
    expect(cursor).toMatch(/^[0-9a-f-]{36}$/i)

    await procs[0]!.kill('SIGTERM')
    await start()
    // Activity on the new process, very likely before the page is back (its first retry waits 1 s).
    const r = await api<{ id: string }>(nginx.url, '/api/v1/notes', { body: { content: '# After the restart\nwritten while the page reconnects' } })
    expect(r.status).toBe(201)
    await waitIdle(nginx.url)

    const db = (log = openLog(dataDir))
    const { state: s, logged } = await caughtUp(page, () => loggedEvents(db), 'the page to catch up with the log after the restart')
    const resumed = s.sse.connects.slice(1).find((c) => c.lastEventId !== null)
    expect(resumed?.lastEventId).toBe(cursor)
    expect(s.frames.filter((f) => f.event === 'resync_required')).toEqual([])
    expect(s.frames.filter((f) => f.id !== null).map((f) => f.id)).toEqual(logged.map((e) => e.event_id))
    // The WebSocket command channel saw the server's shutdown close code through nginx (HotM reconnects on it).
    expect(s.ws.closes[0]).toMatchObject({ code: 1012, reason: 'server shutdown' })
  })

  test('crash mid-stream with a job running: resumed with Last-Event-ID, exactly the log in order, counters right', async () => {
    const base = nginx.url
    const n = await api<{ id: string }>(base, '/api/v1/notes', { body: { content: 'draft that the model revises across a crash' } })
    expect(n.status).toBe(201)
    await waitIdle(base)
    llm.setDefault({ hold: true })
    const job = await api<{ id: string }>(base, '/api/v1/jobs', { body: { job_type: 'ai_revision', note_id: n.body.id } })
    expect(job.status).toBe(201)
    await waitFor(() => llm.held() === 1, 'the revision to reach the model')
    await waitForPage(page, (p) => p.handled.some((e) => e.type === 'JobStarted' && e.job_id === job.body.id), 'JobStarted of the revision on the page')
    // Events committed just before the crash, whether or not they reached the page.
    const burst = await Promise.all([1, 2, 3].map((i) => api(base, '/api/v1/notes', { body: { content: `burst ${i} right before the crash` } })))
    expect(burst.map((b) => b.status)).toEqual([201, 201, 201])

    const crashed = procs[procs.length - 1]!
    await crashed.kill('SIGKILL')
    llm.setDefault((req) => ({ content: revisedOf(req) }))
    await start()
    const after = await api(base, '/api/v1/notes', { body: { content: 'written after the crash' } })
    expect(after.status).toBe(201)
    const stats = await waitIdle(base)
    expect((await api<{ status: string }>(base, `/api/v1/jobs/${job.body.id}`)).body.status).toBe('completed')

    const db = (log ??= openLog(dataDir))
    const { state: s, logged } = await caughtUp(page, () => loggedEvents(db), 'the page to catch up with the log after the crash')
    const ids = s.frames.filter((f) => f.id !== null).map((f) => f.id)
    expect(duplicates(ids)).toEqual([])
    expect(ids).toEqual(logged.map((e) => e.event_id))
    expect(duplicates(s.handled.map((e) => e.event_id))).toEqual([])
    expect(s.frames.filter((f) => f.event === 'resync_required')).toEqual([])
    // Every reconnect carried the cursor.
    expect(s.sse.connects.length).toBeGreaterThanOrEqual(3)
    for (const c of s.sse.connects.slice(1)) expect(c.lastEventId).not.toBeNull()
    expect(s.handled.filter((e) => e.type === 'Unknown')).toEqual([])
    expect(s.queueStatus).toEqual({ total_jobs: stats.total_jobs, running: stats.running, pending: stats.pending })
  })
})
