import { Value } from '@sinclair/typebox/value'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { HOTM_TYPES, PAYLOAD_SCHEMAS, type LegacyType } from '../../src/events/catalog.ts'
import { startInference, type InferenceDouble } from '../doubles/inference.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'
import { HotmCounters, WsClient, type Frame } from '../helpers/ws-client.ts'

interface Stats {
  total_jobs: number
  running: number
  pending: number
  completed: number
  failed: number
}

let s: TestServer
let inference: InferenceDouble
let admin: string

beforeAll(async () => {
  inference = await startInference()
  s = await startServer({
    env: {
      MATRIC_INFERENCE_URL: inference.url,
      MATRIC_JOB_MAX_RETRIES: '2',
      MATRIC_WORKER_CONCURRENCY: '3',
    },
  })
  admin = await s.token()
})
afterAll(async () => {
  await s.stop()
  await inference.stop()
})

const stats = async (token = admin): Promise<Stats> => (await (await s.request('/api/v1/jobs/stats', { token })).json()) as Stats

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
/**
 * Every frame is one of the seven HotM types, `type` first, valid against the catalog schema, with the envelope's
 * `event_id` as its one extra field (absent only on `refresh` answers, which are not events).
 */
function assertHotmFrame(raw: string, opts: { refreshAnswer?: boolean } = {}): Frame {
  const { event_id, ...f } = JSON.parse(raw) as Frame
  expect(HOTM_TYPES.has(f.type as LegacyType)).toBe(true)
  expect(Object.keys(f)[0]).toBe('type')
  if (!opts.refreshAnswer || event_id !== undefined) expect(String(event_id)).toMatch(UUID)
  const type = f.type as LegacyType
  if (!Value.Check(PAYLOAD_SCHEMAS[type], f)) throw new Error(`frame does not match the ${type} schema: ${raw}`)
  return f
}
const bare = ({ event_id: _id, ...f }: Frame) => f

describe('HotM protocol on /api/v1/ws', () => {
  test('a HotM counter client stays equal to /jobs/stats through a burst of jobs with retries and failures', async () => {
    const client = await WsClient.connect(`${s.wsUrl}?token=${admin}`)
    const counters = new HotmCounters()
    client.onFrame = (f) => counters.apply(f)
    // HotM sends `refresh` on open and applies the QueueStatus it gets back.
    client.send('refresh')
    await client.next((f) => f.type === 'QueueStatus' && f.event_id === undefined, 'QueueStatus answer to refresh')

    // Inference: first calls fail transiently (retried), some fail for good, the rest succeed.
    let call = 0
    inference.setDefault((req) => {
      call++
      if (call % 5 === 1) return { status: 503 } // retried
      if (call % 7 === 0) return { status: 400 } // permanent failure
      return { content: `revised ${req.body.messages?.length ?? 0}` }
    })

    const topics = ['vector search embeddings', 'gardening tomatoes soil', 'cosine similarity vectors', 'bread baking yeast']
    const noteIds: string[] = []
    for (let i = 0; i < 8; i++) {
      const res = await s.request('/api/v1/notes', { token: admin, body: { content: `# Note ${i}\nAbout ${topics[i % 4]} and more ${topics[(i + 1) % 4]}.` } })
      expect(res.status).toBe(201)
      noteIds.push(((await res.json()) as { id: string }).id)
    }
    for (const id of noteIds) {
      const res = await s.request('/api/v1/jobs', { token: admin, body: { job_type: 'ai_revision', note_id: id } })
      expect(res.status).toBe(201)
    }
    // A burst of externally published frames must not disturb the counters either.
    await waitFor(async () => {
      const st = await stats()
      return st.pending === 0 && st.running === 0
    }, 'the queue to drain', 30_000)

    const final = await stats()
    expect(final.failed).toBeGreaterThan(0)
    const jobs = (await (await s.request('/api/v1/jobs?limit=500', { token: admin })).json()) as { jobs: { retry_count: number }[] }
    expect(jobs.jobs.some((j) => j.retry_count > 0)).toBe(true)

    // Corrections (QueueStatus) are trailing: the counters converge to the server's counts.
    await waitFor(
      () => counters.pending === final.pending && counters.running === final.running && counters.total === final.total_jobs,
      `HotM counters ${JSON.stringify(counters)} to equal ${JSON.stringify(final)}`,
    )
    expect(counters.total).toBe(0)
    for (const raw of client.raw) assertHotmFrame(raw, { refreshAnswer: raw === client.raw[0] })
    client.close()
  }, 60_000)

  test('every frame of a full note + pipeline run is a valid HotM frame; NoteCreated arrives as NoteUpdated; NoteDeleted never', async () => {
    const client = await WsClient.connect(`${s.wsUrl}?token=${admin}`)
    const res = await s.request('/api/v1/notes', { token: admin, body: { content: '# Protocol check\nA note whose pipeline we watch.', tags: ['p'] } })
    const note = (await res.json()) as { id: string }
    const first = await client.next((f) => f.note_id === note.id, 'first frame of the note')
    expect(bare(first)).toEqual({ type: 'NoteUpdated', note_id: note.id, tags: ['p'], has_ai_content: false, has_links: false })
    // The frame's event_id is the id of the note.created envelope that SSE and webhooks carry.
    const logged = await s.ctx.stores.events.positionOf(String(first.event_id))
    expect(logged?.memory).toBe('default')
    // The pipeline ends with linking completed and a NoteUpdated after it.
    const linked = await client.next((f) => f.type === 'JobCompleted' && f.job_type === 'Linking' && f.note_id === note.id, 'linking completed')
    const idx = client.frames.indexOf(linked)
    await client.next((f) => client.frames.indexOf(f) > idx && f.type === 'NoteUpdated' && f.note_id === note.id, 'NoteUpdated after linking')
    const titled = await client.next((f) => f.type === 'NoteUpdated' && f.title === 'Protocol check', 'NoteUpdated with the generated title')
    expect(titled.note_id).toBe(note.id)
    const progress = await client.next((f) => f.type === 'JobProgress' && f.note_id === note.id, 'a progress frame')
    expect(progress.progress).toBe(progress.progress_percent)
    // docs/events.md: a job that completes with a note changes the note's state, so a NoteUpdated follows, at once.
    const completed = client.frames.filter((f) => f.type === 'JobCompleted' && f.note_id === note.id)
    expect(completed.map((f) => f.job_type).sort()).toEqual(['Embedding', 'Linking', 'TitleGeneration'])
    for (const c of completed) expect(client.frames[client.frames.indexOf(c) + 1]).toMatchObject({ type: 'NoteUpdated', note_id: note.id })

    // Deleting sends nothing on the HotM socket; a marker published afterwards proves the order.
    expect((await s.request(`/api/v1/notes/${note.id}`, { token: admin, method: 'DELETE' })).status).toBe(204)
    const from = client.frames.length
    const markerId = await s.ctx.queueStatus.sendNow('default')
    const marker = await client.after(from, (f) => f.type === 'QueueStatus' && f.event_id === markerId, 'marker after delete')
    expect(marker.type).toBe('QueueStatus')
    for (const raw of client.raw) assertHotmFrame(raw)
    expect(client.raw.some((r) => r.includes('NoteDeleted') || r.includes('NoteCreated') || r.includes('event_type'))).toBe(false)
    client.close()
  }, 30_000)

  test('externally published payloads reach HotM clients with `type` first even when sent last', async () => {
    const client = await WsClient.connect(`${s.wsUrl}?token=${admin}`)
    const body = '{"payload":{"job_id":"ext-1","job_type":"Import","progress":40,"progress_percent":40,"type":"JobProgress"}}'
    const res = await s.request('/api/v1/events', { token: admin, body })
    expect(res.status).toBe(202)
    await client.next((f) => f.job_id === 'ext-1', 'external frame')
    const raw = client.raw.find((r) => r.includes('ext-1'))!
    expect(raw.startsWith('{"type":"JobProgress"')).toBe(true)
    client.close()
  })

  test('refresh is answered to the asker only; other text and binary frames are ignored', async () => {
    const a = await WsClient.connect(`${s.wsUrl}?token=${admin}`)
    const b = await WsClient.connect(`${s.wsUrl}?token=${admin}`)
    a.send('hello?')
    a.send(new Uint8Array([1, 2, 3]))
    a.send('refresh')
    // The refresh answer is not an event (no event_id); broadcast corrections of earlier jobs may come too.
    const qs = await a.next((f) => f.type === 'QueueStatus' && f.event_id === undefined, 'refresh answer')
    const st = await stats()
    expect(qs).toEqual({ type: 'QueueStatus', total_jobs: st.total_jobs, running: st.running, pending: st.pending }) // no event_id: not an event
    // b gets the next broadcast but never a's refresh answer.
    await s.request('/api/v1/events', { token: admin, body: { payload: { type: 'JobQueued', job_id: 'marker-b', job_type: 'Import' } } })
    await b.next((f) => f.job_id === 'marker-b', 'marker on b')
    expect(b.frames.filter((f) => f.type === 'QueueStatus' && f.event_id === undefined)).toHaveLength(0)
    expect(a.closed).toBeNull()
    const metrics = await (await s.request('/metrics')).text()
    expect(metrics).toMatch(/matric_ws_client_messages_ignored_total [1-9]/)
    a.close()
    b.close()
  })
})
