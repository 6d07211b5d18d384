/**
 * Today's HotM client (SSE over fetch, compatibility gate first) in real Chromium, through real nginx
 * running deploy/nginx/matric.conf, against the real server in anonymous local mode (MATRIC_AUTH=off).
 * The page is tests/e2e/pages/hotm-client.js; see docs/deploy.md.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { startInference, type InferenceDouble } from '../doubles/inference.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { launchBrowser, recordConsole, type ConsoleRecord } from './lib/browser.ts'
import { describeE2E } from './lib/gate.ts'
import { api, caughtUp, countTypes, duplicates, lastSeq, loggedEvents, PAGES_DIR, waitForPage, waitIdle, type HandledEvent, type PageState } from './lib/harness.ts'
import { startNginx, type RunningNginx } from './lib/nginx.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

interface Note {
  id: string
}
interface Job {
  id: string
  status: string
  retry_count: number
}

describeE2E('HotM newest client through nginx (anonymous local)', () => {
  let llm: InferenceDouble
  let server: TestServer
  let nginx: RunningNginx
  let browser: Browser
  let page: Page
  let consoleLog: ConsoleRecord[]
  let seqBeforePage = 0

  beforeAll(async () => {
    llm = await startInference()
    // Retries wait 300 ms: like production's 1 s, longer than HotM's 50 ms QueueStatus coalescing window.
    server = await startServer({
      env: { MATRIC_AUTH: 'off', MATRIC_INFERENCE_URL: llm.url, MATRIC_JOB_MAX_RETRIES: '2', MATRIC_JOB_RETRY_BASE_MS: '300' },
    })
    nginx = await startNginx({ upstreamPort: server.port, staticRoot: PAGES_DIR })
    browser = await launchBrowser()
    page = await browser.newPage()
    consoleLog = recordConsole(page)
    seqBeforePage = lastSeq(server.db)
    await page.goto(`${nginx.url}/?mode=newest`)
  })
  afterAll(async () => {
    await browser?.close()
    await nginx?.stop()
    await server?.stop()
    await llm?.stop()
  })

  const state = (): Promise<PageState> => waitForPage(page, () => true, 'the page state')

  test('the compatibility document is accepted: anonymous local, the stream opens with its queue.status', async () => {
    const s = await waitForPage(page, (p) => p.phase !== 'starting' && p.sse.connected && p.handled.some((e) => e.type === 'QueueStatus' && e.transport === 'sse'), 'the SSE stream and its first QueueStatus')
    expect(s.compatibilityProblems).toEqual([])
    expect(s.phase).toBe('streaming')
    expect(s.compatibility).toMatchObject({ schema_version: 1, contract_revision: '2026-07-06', api: { name: 'fortemi' }, auth: { required: false, mode: 'anonymous_local' } })
    // The first frame after the replay is the synthetic queue.status: no `id:` line, but an event_id
    // in its data that the client keeps as its resume cursor.
    const first = s.frames.find((f) => f.transport === 'sse')!
    expect(first.event).toBe('queue.status')
    expect(first.id).toBeNull()
    expect(first.data.event_id).toMatch(UUID)
    expect(s.sse.lastEventId).toBe(first.data.event_id as string)
    expect(s.queueStatus).toEqual({ total_jobs: 0, running: 0, pending: 0 })
    // Anonymous local mode: the WebSocket is the command channel, opened with `refresh`.
    const ws = await waitForPage(page, (p) => p.ws.opens === 1 && p.frames.some((f) => f.transport === 'ws'), 'the WebSocket command channel')
    expect(ws.ws.url).toBe(`ws://127.0.0.1:${nginx.port}/api/v1/ws`)
    expect(ws.ws.sent).toEqual(['refresh'])
    // Through nginx: not cacheable.
    const res = await fetch(`${nginx.url}/api/v1/system/compatibility`)
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  test('notes, jobs, a retry, a permanent failure, pause/resume, a delete: counters equal /jobs/stats, every event handled once with the fields HotM reads', async () => {
    const base = nginx.url
    const similar = [
      '# Vector search\nCosine similarity over hashed term vectors ranks the notes.',
      'Cosine similarity over hashed term vectors finds related notes for vector search.',
      'Notes about vector search: hashed term vectors compared with cosine similarity.',
    ]
    const notes: Note[] = []
    for (const content of similar) {
      const r = await api<Note>(base, '/api/v1/notes', { body: { content, tags: ['search', 'vectors'] } })
      expect(r.status).toBe(201)
      notes.push(r.body)
    }
    await waitIdle(base)

    // One revision retried after a 503, one refused for good (400), one straight success.
    llm.script({ status: 503 }, { content: '# Vector search (revised)\nCosine similarity.' }, { status: 400 })
    const retried = await api<Job>(base, '/api/v1/jobs', { body: { job_type: 'ai_revision', note_id: notes[0]!.id } })
    expect(retried.status).toBe(201)
    const retriedDone = await waitIdle(base)
    expect(retriedDone.failed).toBe(0)
    const failed = await api<Job>(base, '/api/v1/jobs', { body: { job_type: 'ai_revision', note_id: notes[1]!.id } })
    expect(failed.status).toBe(201)
    await waitIdle(base)
    expect((await api<Job>(base, `/api/v1/jobs/${retried.body.id}`)).body).toMatchObject({ status: 'completed', retry_count: 1 })
    expect((await api<Job>(base, `/api/v1/jobs/${failed.body.id}`)).body).toMatchObject({ status: 'failed' })

    // Pause and resume the queue (global scope), then a job queued while paused runs after the resume.
    expect((await api(base, '/api/v1/jobs/pause', { body: {} })).status).toBe(200)
    const whilePaused = await api<Job>(base, '/api/v1/jobs', { body: { job_type: 'embedding', note_id: notes[2]!.id } })
    expect(whilePaused.status).toBe(201)
    expect((await api(base, '/api/v1/jobs/resume', { body: {} })).status).toBe(200)
    await waitIdle(base)

    const gone = await api<Note>(base, '/api/v1/notes', { body: { content: 'a note that is deleted at once', title: 'Scratch' } })
    expect(gone.status).toBe(201)
    await waitIdle(base)
    expect((await api(base, `/api/v1/notes/${gone.body.id}`, { method: 'DELETE' })).status).toBe(204)
    const stats = await waitIdle(base)

    // Everything the log holds since the page opened reaches it, in order, once.
    const { state: s, logged } = await caughtUp(page, () => loggedEvents(server.db, 'default', seqBeforePage), 'the page to catch up with the log')
    const sseFrames = s.frames.filter((f) => f.transport === 'sse')
    expect(sseFrames.filter((f) => f.id !== null).map((f) => f.id)).toEqual(logged.map((e) => e.event_id))
    for (const f of sseFrames.filter((f) => f.id !== null)) expect(f.data.event_id).toBe(f.id!)
    expect(duplicates(s.handled.map((e) => e.event_id))).toEqual([])
    expect(s.dropped.duplicate).toBe(0)
    expect(s.dropped.context).toBe(0)

    // HotM's counters end where the server's are.
    expect(s.queueStatus).toEqual({ total_jobs: stats.total_jobs, running: stats.running, pending: stats.pending })
    expect(s.queueStatus).toEqual({ total_jobs: 0, running: 0, pending: 0 })

    // No event fell through HotM's schema check; SSE was the only transport handled.
    const unknown = s.handled.filter((e) => e.type === 'Unknown')
    expect(unknown.map((e) => `${e.raw_type}: ${e.nonconformant}`)).toEqual([])
    expect(new Set(s.handled.map((e) => e.transport))).toEqual(new Set(['sse']))

    const types = countTypes(s.handled)
    for (const t of ['QueueStatus', 'JobQueued', 'JobStarted', 'JobProgress', 'JobCompleted', 'JobFailed', 'JobsPaused', 'JobsResumed', 'NoteCreated', 'NoteUpdated', 'NoteDeleted'])
      expect([t, (types[t] ?? 0) > 0]).toEqual([t, true])

    for (const e of s.handled) expectEnvelopeFields(e)
    const byType = (t: string) => s.handled.filter((e) => e.type === t)
    for (const t of ['JobQueued', 'JobStarted', 'JobProgress', 'JobCompleted', 'JobFailed']) {
      for (const e of byType(t)) {
        expect(e.job_id).toMatch(UUID)
        expect(e.entity_type).toBe('job')
        expect(e.entity_id).toBe(e.job_id as string)
        expect(typeof e.note_id).toBe('string')
      }
    }
    for (const t of ['JobQueued', 'JobStarted', 'JobCompleted', 'JobFailed'])
      for (const e of byType(t)) expect(['TitleGeneration', 'Embedding', 'Linking', 'AiRevision']).toContain(e.job_type as string)
    for (const e of byType('JobProgress')) {
      expect(Number.isInteger(e.progress_percent)).toBe(true)
      expect(e.progress_percent as number).toBeGreaterThanOrEqual(0)
      expect(e.progress_percent as number).toBeLessThanOrEqual(100)
    }
    expect(byType('JobProgress').some((e) => typeof e.message === 'string' && (e.message as string).length > 0)).toBe(true)
    for (const e of byType('JobCompleted')) expect(Number.isInteger(e.duration_ms)).toBe(true)
    const jobFailed = byType('JobFailed')
    expect(jobFailed.map((e) => e.job_id)).toEqual([failed.body.id])
    expect(jobFailed[0]!.error).toBe('inference endpoint refused the request (400)')
    // A retry is no failure: the retried job completed, and never sent JobFailed.
    expect(byType('JobCompleted').some((e) => e.job_id === retried.body.id)).toBe(true)

    for (const t of ['NoteCreated', 'NoteUpdated', 'NoteDeleted']) {
      for (const e of byType(t)) {
        expect(e.note_id).toMatch(UUID)
        expect(e.entity_type).toBe('note')
        expect(e.entity_id).toBe(e.note_id as string)
      }
    }
    for (const e of [...byType('NoteCreated'), ...byType('NoteUpdated')]) expect(Array.isArray(e.tags)).toBe(true)
    const updated = byType('NoteUpdated')
    for (const e of updated) {
      expect(typeof e.has_ai_content).toBe('boolean')
      expect(typeof e.has_links).toBe('boolean')
    }
    expect(updated.some((e) => e.note_id === notes[0]!.id && e.has_ai_content === true)).toBe(true)
    expect(updated.some((e) => e.has_links === true)).toBe(true)
    expect(updated.some((e) => e.note_id === notes[0]!.id && e.title === 'Vector search')).toBe(true)
    expect(updated.find((e) => e.note_id === notes[0]!.id)!.tags).toEqual(['search', 'vectors'])
    expect(byType('NoteDeleted').map((e) => e.note_id)).toEqual([gone.body.id])
    for (const t of ['JobsPaused', 'JobsResumed']) for (const e of byType(t)) expect(typeof e.scope).toBe('string')
    for (const e of byType('QueueStatus')) for (const k of ['total_jobs', 'running', 'pending']) expect(Number.isInteger(e[k])).toBe(true)
  })

  test('WebSocket frames on the command channel are bare HotM payloads with the event_id of the SSE event', async () => {
    // Every live WebSocket frame (the first one answers `refresh`) is an event the SSE stream also carries.
    const sameEvents = (p: PageState) => {
      const sseIds = new Set(p.frames.filter((f) => f.transport === 'sse').map((f) => f.data.event_id))
      return p.frames.filter((f) => f.transport === 'ws').slice(1).every((f) => sseIds.has(f.data.event_id))
    }
    const s = await waitForPage(page, (p) => p.frames.filter((f) => f.transport === 'ws').length > 1 && sameEvents(p), 'the WebSocket frames to match SSE events')
    const wsFrames = s.frames.filter((f) => f.transport === 'ws')
    for (const [i, f] of wsFrames.entries()) {
      expect(Object.keys(f.data)[0]).toBe('type')
      expect(['QueueStatus', 'JobQueued', 'JobStarted', 'JobProgress', 'JobCompleted', 'JobFailed', 'NoteUpdated']).toContain(f.data.type as string)
      expect(f.data).not.toHaveProperty('payload')
      expect(f.data).not.toHaveProperty('event_type')
      // The answer to `refresh` (the first frame) is no logged event; it may go without an event_id.
      if (i > 0 || f.data.event_id !== undefined) expect(f.data.event_id).toMatch(UUID)
    }
  })

  test('the page loaded and ran with no console errors', async () => {
    await state()
    expect(consoleLog.filter((m) => m.type === 'error' || m.type === 'pageerror')).toEqual([])
  })
})

/** The envelope metadata HotM reads from every SSE event. */
function expectEnvelopeFields(e: HandledEvent): void {
  expect(e.event_id).toMatch(UUID)
  expect(e.occurred_at).toMatch(RFC3339)
  expect(e.memory).toBe('default')
  expect(e.tenant_id).toBe('default')
  expect(e.payload_version).toBe(1)
  expect(e.actor).toMatchObject({ kind: expect.stringMatching(/^(system|user)$/) as unknown as string })
  expect(typeof e.event_type).toBe('string')
  for (const k of ['correlation_id', 'causation_id']) if (e[k] !== undefined) expect(e[k]).toMatch(UUID)
}
