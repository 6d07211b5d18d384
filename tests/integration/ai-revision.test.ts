/** ai_revision against a local OpenAI-compatible double: success, retries, permanent failures, no secrets. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { PublishedEvent } from '../../src/events/bus.ts'
import { startInference, type InferenceDouble } from '../doubles/inference.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

interface Note {
  id: string
  content: string
  has_ai_content: boolean
}
interface Job {
  id: string
  note_id: string
  job_type: string
  status: string
  retry_count: number
  max_retries: number
  error: string | null
  created_at: string
  completed_at: string | null
}

const API_KEY = 'sk-test-DO-NOT-LEAK-4f9a2c7e1b'
const ORIGINAL = 'meeting notes: we talked about the vector index and decided to ship it next week'

async function drained(s: TestServer, tok: string): Promise<void> {
  await waitFor(async () => {
    const st = (await (await s.request('/api/v1/jobs/stats', { token: tok })).json()) as { pending: number; running: number }
    return st.pending + st.running === 0
  }, 'the job queue to drain')
}

async function createNote(s: TestServer, tok: string, content = ORIGINAL): Promise<Note> {
  const res = await s.request('/api/v1/notes', { token: tok, body: { content } })
  expect(res.status).toBe(201)
  const n = (await res.json()) as Note
  await drained(s, tok)
  return n
}

async function queueRevision(s: TestServer, tok: string, noteId: string): Promise<Job> {
  const res = await s.request('/api/v1/jobs', { token: tok, body: { job_type: 'ai_revision', note_id: noteId } })
  expect(res.status).toBe(201)
  const job = (await res.json()) as Job
  expect(job).toMatchObject({ job_type: 'ai_revision', status: 'pending', note_id: noteId, retry_count: 0 })
  return job
}

async function settled(s: TestServer, tok: string, id: string, statuses = ['completed', 'failed', 'cancelled']): Promise<Job> {
  return waitFor(async () => {
    const job = (await (await s.request(`/api/v1/jobs/${id}`, { token: tok })).json()) as Job
    return statuses.includes(job.status) ? job : null
  }, `job ${id} to reach ${statuses.join('/')}`)
}

async function getNote(s: TestServer, tok: string, id: string): Promise<Note> {
  return (await (await s.request(`/api/v1/notes/${id}`, { token: tok })).json()) as Note
}

let llm: InferenceDouble
let s: TestServer
let tok: string
const events: PublishedEvent[] = []

beforeAll(async () => {
  llm = await startInference()
  s = await startServer({
    env: { MATRIC_INFERENCE_URL: llm.url, MATRIC_INFERENCE_API_KEY: API_KEY, MATRIC_INFERENCE_MODEL: 'test-model', MATRIC_JOB_MAX_RETRIES: '2' },
  })
  tok = await s.token()
  s.ctx.bus.onDelivered('test-recorder', (e) => void events.push(e))
})
afterAll(async () => {
  await s.stop()
  await llm.stop()
})

describe('ai_revision', () => {
  test('success: content replaced, has_ai_content, embedding and linking re-queued', async () => {
    const n = await createNote(s, tok)
    const sent = llm.requests.length
    const job = await settled(s, tok, (await queueRevision(s, tok, n.id)).id)
    expect(job).toMatchObject({ status: 'completed', retry_count: 0, error: null })

    const req = llm.requests[sent]!
    expect(req.path).toBe('/v1/chat/completions')
    expect(req.authorization).toBe(`Bearer ${API_KEY}`)
    expect(req.body.model).toBe('test-model')
    expect(req.body.messages?.map((m) => m.role)).toEqual(['system', 'user'])
    expect(req.body.messages?.[1]?.content).toBe(ORIGINAL)

    const after = await getNote(s, tok, n.id)
    expect(after.content).toBe(`# Revised\n\n${ORIGINAL}\n\n(revised by the test double)`)
    expect(after.has_ai_content).toBe(true)

    await drained(s, tok)
    const { jobs } = (await (await s.request(`/api/v1/jobs?note_id=${n.id}`, { token: tok })).json()) as { jobs: Job[] }
    const later = jobs.filter((j) => j.created_at >= job.completed_at!).reverse()
    expect(later.map((j) => [j.job_type, j.status])).toEqual([
      ['embedding', 'completed'],
      ['linking', 'completed'],
    ])
    const completed = events.find((e) => e.legacyType === 'JobCompleted' && e.envelope.entity_id === job.id)
    expect(completed).toBeDefined()
    const updated = events.slice(events.indexOf(completed!)).find((e) => e.legacyType === 'NoteUpdated' && e.envelope.entity_id === n.id)
    expect(updated?.envelope.payload).toMatchObject({ has_ai_content: true })
  })

  test('instructions travel with the job to the model; they are for ai_revision only', async () => {
    const n = await createNote(s, tok)
    const sent = llm.requests.length
    const res = await s.request('/api/v1/jobs', { token: tok, body: { job_type: 'ai_revision', note_id: n.id, instructions: 'Turn it into three bullet points.' } })
    expect(res.status).toBe(201)
    const job = await settled(s, tok, ((await res.json()) as Job).id)
    expect(job.status).toBe('completed')
    const req = llm.requests[sent]!
    expect(req.body.messages?.map((m) => m.role)).toEqual(['system', 'system', 'user'])
    expect(req.body.messages?.[1]?.content).toContain('Turn it into three bullet points.')
    expect(req.body.messages?.[2]?.content).toBe(ORIGINAL)
    for (const body of [
      { job_type: 'embedding', note_id: n.id, instructions: 'x' },
      { job_type: 'ai_revision', note_id: n.id, instructions: '' },
      { job_type: 'ai_revision', note_id: n.id, instructions: 'x'.repeat(2001) },
    ])
      expect((await s.request('/api/v1/jobs', { token: tok, body })).status).toBe(422)
  })

  test('a 5xx then success: retried once, then completed', async () => {
    const n = await createNote(s, tok)
    const sent = llm.requests.length
    llm.script({ status: 503 })
    const job = await settled(s, tok, (await queueRevision(s, tok, n.id)).id)
    expect(job).toMatchObject({ status: 'completed', retry_count: 1, error: null })
    expect(llm.requests.length - sent).toBe(2)
    expect((await getNote(s, tok, n.id)).has_ai_content).toBe(true)
    // JobFailed is only for a job that fails for good (docs/events.md).
    expect(events.filter((e) => e.envelope.entity_id === job.id && e.legacyType === 'JobFailed')).toEqual([])
  })

  test('a 429 is retried like a 5xx', async () => {
    const n = await createNote(s, tok)
    llm.script({ status: 429 })
    const job = await settled(s, tok, (await queueRevision(s, tok, n.id)).id)
    expect(job).toMatchObject({ status: 'completed', retry_count: 1 })
  })

  test('a 400 fails for good at once, with a clear error and no secret', async () => {
    const n = await createNote(s, tok)
    // Upstream error bodies can echo the key: it must not travel into the job error.
    llm.script({ status: 400, body: { error: { message: `Invalid request for key ${API_KEY}` } } })
    const job = await settled(s, tok, (await queueRevision(s, tok, n.id)).id)
    expect(job.status).toBe('failed')
    expect(job.retry_count).toBe(0)
    expect(job.error).toBe('inference endpoint refused the request (400)')
    const failed = events.filter((e) => e.envelope.entity_id === job.id && e.legacyType === 'JobFailed')
    expect(failed.length).toBe(1)
    expect(failed[0]!.envelope.payload).toMatchObject({ type: 'JobFailed', job_type: 'AiRevision', error: job.error! })
    const after = await getNote(s, tok, n.id)
    expect(after.content).toBe(ORIGINAL)
    expect(after.has_ai_content).toBe(false)
  })

  test('a 401 names the credentials setting, never the key', async () => {
    const n = await createNote(s, tok)
    llm.script({ status: 401, body: { error: { message: `Incorrect API key provided: ${API_KEY}` } } })
    const job = await settled(s, tok, (await queueRevision(s, tok, n.id)).id)
    expect(job.status).toBe('failed')
    expect(job.error).toContain('MATRIC_INFERENCE_API_KEY')
    expect(job.error).not.toContain(API_KEY)
  })

  test('5xx beyond MATRIC_JOB_MAX_RETRIES: failed after the retries, no secret anywhere', async () => {
    const n = await createNote(s, tok)
    const sent = llm.requests.length
    llm.script({ status: 500, body: { error: API_KEY } }, { status: 502 }, { status: 503 })
    const job = await settled(s, tok, (await queueRevision(s, tok, n.id)).id)
    expect(job).toMatchObject({ status: 'failed', retry_count: 2, max_retries: 2 })
    expect(job.error).toBe('inference endpoint answered 503 (gave up after 2 retries)')
    expect(llm.requests.length - sent).toBe(3)
    const failed = events.filter((e) => e.envelope.entity_id === job.id && e.legacyType === 'JobFailed')
    expect(failed.length).toBe(1)
    for (const e of events) expect(e.json).not.toContain(API_KEY)
    const list = await (await s.request('/api/v1/jobs?status=failed', { token: tok })).text()
    expect(list).not.toContain(API_KEY)
  })

  test('an answer without content fails the job', async () => {
    const n = await createNote(s, tok)
    llm.script({ status: 200, body: { choices: [] } })
    const job = await settled(s, tok, (await queueRevision(s, tok, n.id)).id)
    expect(job.status).toBe('failed')
    expect(job.error).toBe('inference endpoint returned no revised content')
  })

  test('an answer longer than a note may be fails the job, the note is untouched', async () => {
    const n = await createNote(s, tok)
    llm.script({ content: 'x'.repeat(500_001) })
    const job = await settled(s, tok, (await queueRevision(s, tok, n.id)).id)
    expect(job.status).toBe('failed')
    expect(job.error).toBe('inference endpoint returned 500001 characters; a note holds at most 500000')
    expect((await getNote(s, tok, n.id)).content).toBe(ORIGINAL)
  })

  test('the note deleted while the model thinks: the job is cancelled, nothing is written', async () => {
    const n = await createNote(s, tok)
    llm.script({ hold: true })
    const job = await queueRevision(s, tok, n.id)
    await waitFor(() => llm.held() === 1, 'the revision request to reach the model')
    expect((await s.request(`/api/v1/notes/${n.id}`, { token: tok, method: 'DELETE' })).status).toBe(204)
    llm.release()
    const done = await settled(s, tok, job.id)
    expect(done.status).toBe('cancelled')
    expect(await s.ctx.notes.get(n.id)).toBeNull()
  })

  test('the note edited while the model thinks: the revision is redone on the new content', async () => {
    const n = await createNote(s, tok)
    const sent = llm.requests.length
    llm.script({ hold: true })
    const job = await queueRevision(s, tok, n.id)
    await waitFor(() => llm.held() === 1, 'the revision request to reach the model')
    expect((await s.request(`/api/v1/notes/${n.id}`, { token: tok, method: 'PATCH', body: { content: 'edited meanwhile' } })).status).toBe(200)
    llm.release({ content: 'a revision of stale content' })
    const done = await settled(s, tok, job.id)
    expect(done).toMatchObject({ status: 'completed', retry_count: 1 })
    expect(llm.requests[sent + 1]?.body.messages?.[1]?.content).toBe('edited meanwhile')
    expect((await getNote(s, tok, n.id)).content).toContain('edited meanwhile')
  })
})

describe('ai_revision misconfigured or unreachable', () => {
  test('no MATRIC_INFERENCE_URL: failed with a clear message', async () => {
    const bare = await startServer()
    try {
      const t = await bare.token()
      const n = await createNote(bare, t)
      const job = await settled(bare, t, (await queueRevision(bare, t, n.id)).id)
      expect(job.status).toBe('failed')
      expect(job.retry_count).toBe(0)
      expect(job.error).toContain('MATRIC_INFERENCE_URL')
    } finally {
      await bare.stop()
    }
  })

  test('an endpoint that never answers times out (MATRIC_INFERENCE_TIMEOUT_MS), is retried, then fails', async () => {
    const slow = await startInference()
    slow.setDefault({ hold: true })
    const srv = await startServer({
      env: { MATRIC_INFERENCE_URL: slow.url, MATRIC_INFERENCE_API_KEY: API_KEY, MATRIC_INFERENCE_TIMEOUT_MS: '200', MATRIC_JOB_MAX_RETRIES: '1' },
    })
    try {
      const t = await srv.token()
      const n = await createNote(srv, t)
      const job = await settled(srv, t, (await queueRevision(srv, t, n.id)).id)
      expect(job.status).toBe('failed')
      expect(job.retry_count).toBe(1)
      expect(job.error).toBe('inference endpoint timed out after 200 ms (gave up after 1 retry)')
      expect(slow.requests.length).toBe(2)
    } finally {
      await srv.stop()
      await slow.stop()
    }
  })

  test('an unreachable endpoint is retried, then fails without leaking the URL credentials', async () => {
    const closed = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('') })
    const port = closed.port
    await closed.stop(true)
    const srv = await startServer({ env: { MATRIC_INFERENCE_URL: `http://user:${API_KEY}@127.0.0.1:${port}/v1`, MATRIC_JOB_MAX_RETRIES: '1' } })
    try {
      const t = await srv.token()
      const n = await createNote(srv, t)
      const job = await settled(srv, t, (await queueRevision(srv, t, n.id)).id)
      expect(job.status).toBe('failed')
      expect(job.retry_count).toBe(1)
      expect(job.error).toStartWith('inference endpoint unreachable')
      expect(job.error).not.toContain(API_KEY)
    } finally {
      await srv.stop()
    }
  })
})
