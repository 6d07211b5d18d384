/**
 * What the real server sends matches its AsyncAPI document (docs/asyncapi.md): every SSE frame, WebSocket frame and
 * webhook request of a full note pipeline, a job that fails after a retry, pause/resume, deletions and external
 * publishes validates against the document's message for it (ajv over the committed document, independent of
 * the TypeBox code that produced both).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createAsyncApiValidator, type AsyncApiValidator } from '../../scripts/check-fortemi-fixtures.ts'
import { EVENT_TYPES, HOTM_TYPES } from '../../src/events/catalog.ts'
import { startInference, type InferenceDouble } from '../doubles/inference.ts'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { dataOf, SseClient, type SseFrame } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { WsClient } from '../helpers/ws-client.ts'

const committed = JSON.parse(readFileSync(join(import.meta.dir, '..', '..', 'asyncapi', 'asyncapi.json'), 'utf8')) as Record<string, unknown>

const RAG = '# Retrieval\nRetrieval augmented generation finds relevant documents by embedding similarity and feeds the retrieved documents to the language model.'
const RAG2 = 'Retrieval of relevant documents by embedding similarity: the retrieved documents give the language model grounded context for generation.'

let v: AsyncApiValidator
let s: TestServer
let llm: InferenceDouble
let receiver: Receiver
let admin: string
let stream: SseClient
let ws: WsClient
let opening: SseFrame

beforeAll(async () => {
  v = createAsyncApiValidator(committed)
  llm = await startInference()
  llm.setDefault({ status: 503, body: { error: 'overloaded' } }) // transient: retried, then failed for good
  receiver = await startReceiver({ reply: (req) => new Response(req.path === '/gone' ? 'gone' : 'ok', { status: req.path === '/gone' ? 410 : 200 }) })
  s = await startServer({
    env: { MATRIC_TENANT_ID: 'acme', MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_INFERENCE_URL: llm.url, MATRIC_JOB_MAX_RETRIES: '1' },
  })
  admin = await s.token({ memory: '*' })
  const hook = await s.request('/api/v1/webhooks', { token: admin, body: { url: `${receiver.url}/hook`, events: ['*', 'queue.status', 'job.progress'] } })
  expect(hook.status).toBe(201)
  const hookId = ((await hook.json()) as { id: string }).id

  stream = await SseClient.open(`${s.url}/api/v1/events`, { headers: { authorization: `Bearer ${admin}`, 'x-fortemi-memory': 'default' } })
  expect(stream.status).toBe(200)
  opening = await stream.frame((f) => f.event === 'queue.status' && f.id === undefined, 'the opening queue.status')
  ws = await WsClient.connect(`${s.wsUrl}?token=${admin}&memory=default`)
  ws.send('refresh')
  await ws.next((f) => f.type === 'QueueStatus' && f.event_id === undefined, 'the answer to refresh')

  const api = (path: string, init: { method?: string; body?: unknown } = {}) => s.request(path, { token: admin, ...init })
  const drained = () =>
    waitFor(async () => {
      const st = (await (await api('/api/v1/jobs/stats')).json()) as { pending: number; running: number }
      return st.pending + st.running === 0
    }, 'the queue to drain', 20_000)

  // The note pipeline (title, embedding, linking of two similar notes), then a content change.
  const a = ((await (await api('/api/v1/notes', { body: { content: RAG, tags: ['ml'] } })).json()) as { id: string }).id
  const b = ((await (await api('/api/v1/notes', { body: { content: RAG2, title: 'RAG notes' } })).json()) as { id: string }).id
  await drained()
  expect((await api(`/api/v1/notes/${a}`, { method: 'PATCH', body: { content: `${RAG}\nEdited.` } })).status).toBe(200)
  await drained()
  // A job that fails transiently (a retry, hence a QueueStatus correction), then for good.
  expect((await api('/api/v1/jobs', { body: { job_type: 'ai_revision', note_id: a } })).status).toBe(201)
  await drained()
  // Pause and resume, globally and for one memory.
  for (const path of ['pause', 'resume', 'pause/default', 'resume/default']) expect((await api(`/api/v1/jobs/${path}`, { method: 'POST' })).status).toBe(200)
  // External publishers, in upstream shapes (JobProgress with `progress` only and no job type).
  const external = [
    { type: 'JobQueued', job_id: 'ext-1', job_type: 'Import', note_id: a },
    { type: 'JobStarted', job_id: 'ext-1', job_type: 'Import' },
    { type: 'JobProgress', job_id: 'ext-1', progress: 40, message: 'page 2 of 5' },
    { type: 'JobProgress', job_id: 'ext-2', progress_percent: 10 },
    { type: 'JobFailed', job_id: 'ext-2', job_type: 'Transcription', error: 'unsupported codec' },
    { type: 'NoteCreated', note_id: 'ext-note', title: 'From elsewhere', tags: ['x'] },
    { type: 'NoteUpdated', note_id: 'ext-note', tags: [], has_ai_content: true, has_links: false },
    { type: 'NoteDeleted', note_id: 'ext-note' },
    { type: 'JobsPaused', scope: 'global' },
    { type: 'JobsResumed', scope: 'global' },
  ]
  for (const payload of external) expect((await api('/api/v1/events', { body: { payload } })).status).toBe(202)
  expect((await api(`/api/v1/notes/${b}`, { method: 'DELETE' })).status).toBe(204)
  expect((await api(`/api/v1/webhooks/${hookId}/test`, { method: 'POST' })).status).toBe(202)
  // An endpoint that answers 410 Gone is disabled by the outbox: webhook.disabled (SSE, and the webhook above, which selects *).
  const gone = await s.request('/api/v1/webhooks', { token: admin, body: { url: `${receiver.url}/gone`, events: ['note.deleted'], max_retries: 0 } })
  expect(gone.status).toBe(201)
  expect((await api('/api/v1/events', { body: { payload: { type: 'NoteDeleted', note_id: 'to-a-gone-endpoint' } } })).status).toBe(202)
  await stream.frame((f) => f.event === 'webhook.disabled', 'webhook.disabled on SSE', 20_000)
  // The last event, on every transport.
  const last = ((await (await api('/api/v1/events', { body: { payload: { type: 'JobCompleted', job_id: 'the-end', job_type: 'Import', duration_ms: 1 } } })).json()) as { event_id: string }).event_id
  await stream.frame((f) => f.id === last, 'the last event on SSE', 20_000)
  await ws.next((f) => f.event_id === last, 'the last event on the WebSocket', 20_000)
  // Every logged event reaches the webhook too (it selected every type).
  await waitFor(() => {
    const delivered = new Set(receiver.requests.map((r) => (JSON.parse(r.body) as { event_id: string }).event_id))
    return stream.events.every((f) => delivered.has(f.id!))
  }, 'every SSE event delivered to the webhook', 20_000)
}, 60_000)

afterAll(async () => {
  stream?.close()
  ws?.close()
  await s?.stop()
  await receiver?.stop()
  await llm?.stop()
})

describe('SSE', () => {
  test('every frame validates against the message for its event name (and id: presence)', () => {
    const framesWithEvent = stream.frames.filter((f) => f.event !== undefined)
    expect(framesWithEvent.length).toBeGreaterThan(30)
    for (const f of framesWithEvent) expect({ frame: f, problems: v.sse(f.event!, f.id !== undefined, dataOf(f)) }).toEqual({ frame: f, problems: [] })
  })

  test('the run covered every event type, and the opening queue.status', () => {
    const seen = new Set(stream.events.map((f) => f.event))
    expect([...seen].sort()).toEqual(Object.values(EVENT_TYPES).sort())
    expect(v.sse('queue.status', false, dataOf(opening))).toEqual([])
    // The upstream-shaped JobProgress went out completed to the documented shape.
    const ext = stream.events.map((f) => dataOf<{ payload: Record<string, unknown> }>(f).payload).find((p) => p.job_id === 'ext-1' && p.type === 'JobProgress')
    expect(ext).toEqual({ type: 'JobProgress', job_id: 'ext-1', progress: 40, progress_percent: 40, message: 'page 2 of 5' })
  })

  test('a resumed stream (from the opening cursor) and resync_required validate too', async () => {
    const resumed = await SseClient.open(`${s.url}/api/v1/events?last_event_id=${encodeURIComponent(dataOf<{ event_id: string }>(opening).event_id)}`, {
      headers: { authorization: `Bearer ${admin}` },
    })
    const replayed = await resumed.eventCount(stream.events.length, 'the replayed events')
    expect(replayed.map((f) => f.id)).toEqual(stream.events.map((f) => f.id))
    const reopened = await resumed.frame((f) => f.event === 'queue.status' && f.id === undefined, 'the queue.status after the replay')
    expect(v.sse('queue.status', false, dataOf(reopened))).toEqual([])
    resumed.close()

    const unknown = await SseClient.open(`${s.url}/api/v1/events`, { headers: { authorization: `Bearer ${admin}`, 'last-event-id': '01970c3a-0000-7000-8000-000000000000' } })
    const resync = await unknown.frame((f) => f.event === 'resync_required', 'resync_required')
    expect(resync.id).toBeUndefined()
    expect(v.sse('resync_required', false, dataOf(resync))).toEqual([])
    unknown.close()
  })
})

describe('WebSocket', () => {
  test('every frame validates against the HotM message for its type, and all seven types were sent', () => {
    for (const f of ws.frames) expect({ frame: f, problems: v.ws(f) }).toEqual({ frame: f, problems: [] })
    expect([...new Set(ws.frames.map((f) => f.type))].sort()).toEqual([...HOTM_TYPES].sort())
    // `type` first, `event_id` last (when present): the order the document describes.
    for (const raw of ws.raw) {
      expect(raw.startsWith('{"type":')).toBe(true)
      if (raw.includes('"event_id"')) expect(raw).toMatch(/,"event_id":"[^"]+"\}$/)
    }
  })
})

describe('webhooks', () => {
  test('every request\'s headers and body validate against the webhook message for its event type', () => {
    expect(receiver.requests.length).toBeGreaterThan(30)
    for (const r of receiver.requests) {
      expect(r.method).toBe('POST')
      expect({ delivery: r.headers['x-matric-delivery'], problems: v.webhook(r.headers, JSON.parse(r.body)) }).toEqual({ delivery: r.headers['x-matric-delivery'], problems: [] })
    }
    const seen = new Set(receiver.requests.map((r) => (JSON.parse(r.body) as { event_type: string }).event_type))
    expect([...seen].sort()).toEqual(Object.values(EVENT_TYPES).sort())
  })
})
