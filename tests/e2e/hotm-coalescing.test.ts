/**
 * HotM applies each QueueStatus 50 ms late (it coalesces QueueStatus and keeps the latest), so job deltas
 * that arrive inside that window are overwritten by an older snapshot. With retries faster than the window
 * (a correction QueueStatus, then the retry's JobStarted a few ms later) the counters of today's HotM would
 * stay wrong at idle unless the server sends a QueueStatus after the burst. Real Chromium, real nginx.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { startInference, type InferenceDouble } from '../doubles/inference.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { launchBrowser } from './lib/browser.ts'
import { describeE2E } from './lib/gate.ts'
import { api, caughtUp, lastSeq, loggedEvents, PAGES_DIR, waitForPage, waitIdle } from './lib/harness.ts'
import { startNginx, type RunningNginx } from './lib/nginx.ts'

describeE2E('HotM counters with retries inside its 50 ms coalescing window', () => {
  let llm: InferenceDouble
  let server: TestServer
  let nginx: RunningNginx
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    llm = await startInference()
    server = await startServer({ env: { MATRIC_AUTH: 'off', MATRIC_INFERENCE_URL: llm.url, MATRIC_JOB_MAX_RETRIES: '2', MATRIC_JOB_RETRY_BASE_MS: '5' } })
    nginx = await startNginx({ upstreamPort: server.port, staticRoot: PAGES_DIR })
    browser = await launchBrowser()
    page = await browser.newPage()
    await page.goto(`${nginx.url}/?mode=newest`)
  })
  afterAll(async () => {
    await browser?.close()
    await nginx?.stop()
    await server?.stop()
    await llm?.stop()
  })

  test('after fast retries the counters at idle equal /jobs/stats', async () => {
    await waitForPage(page, (p) => p.sse.connected && p.handled.some((e) => e.type === 'QueueStatus'), 'the stream to open', 5000)
    const note = await api<{ id: string }>(nginx.url, '/api/v1/notes', { body: { content: 'retried quickly, several times' } })
    expect(note.status).toBe(201)
    await waitIdle(nginx.url)
    // Each revision fails once with a 503, then succeeds: the retry's correction QueueStatus is followed
    // within a few ms by its JobStarted. After each one, at idle, HotM's counters must be the server's.
    for (let i = 0; i < 3; i++) {
      const seq = lastSeq(server.db)
      llm.script({ status: 503 }, { content: `revision ${i}` })
      const job = await api<{ id: string }>(nginx.url, '/api/v1/jobs', { body: { job_type: 'ai_revision', note_id: note.body.id } })
      expect(job.status).toBe(201)
      const stats = await waitIdle(nginx.url)
      expect((await api<{ status: string; retry_count: number }>(nginx.url, `/api/v1/jobs/${job.body.id}`)).body).toMatchObject({ status: 'completed', retry_count: 1 })
      await caughtUp(page, () => loggedEvents(server.db, 'default', seq), `the page to catch up after revision ${i}`)
      // The correction may trail the last job event by a moment; without one the counters stay wrong.
      const want = { total_jobs: stats.total_jobs, running: stats.running, pending: stats.pending }
      const s = await waitForPage(page, (p) => p.pendingCoalesced === 0 && JSON.stringify(p.queueStatus) === JSON.stringify(want), `HotM's counters to equal /jobs/stats after revision ${i}`, 3000)
      expect(s.queueStatus).toEqual(want)
    }
  })
})
