/** note pipeline: title_generation, embedding, linking (both ways), re-queued on content change. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { PublishedEvent } from '../../src/events/bus.ts'
import { EMBEDDING_DIMS } from '../../src/modules/jobs/handlers/text.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

interface Note {
  id: string
  title: string | null
  has_links: boolean
  links: { note_id: string; score: number }[]
}
interface Job {
  id: string
  note_id: string
  job_type: string
  status: string
  progress_percent: number
  created_at: string
  started_at: string | null
  completed_at: string | null
}

const VECTOR_SEARCH = '# Vector search\nVector search finds similar documents by comparing their embeddings: each document becomes an embedding vector, and cosine similarity ranks the nearest neighbours.'
const EMBEDDINGS = 'Embeddings turn text into vectors. Similar texts get similar embedding vectors, so the cosine similarity of two embeddings powers semantic vector search over documents.'
const ANN_INDEX = 'Approximate nearest neighbour indexes make vector search fast. They store document embeddings and answer similarity queries over embedding vectors without comparing every document.'
const GARDENING = 'Gardening in spring. Plant tomatoes after the last frost, water the seedlings every morning and mulch the beds to keep the soil moist.'

let s: TestServer
let tok: string
const events: PublishedEvent[] = []

/**
 * Nothing pending or running, and no job run still finishing: a run records its job completed before it queues the
 * follow-up job, so the counts alone can read 0 in between (on a store that answers over the network). Counts read
 * 0 again after every run in flight has ended = nothing left to queue the next job.
 */
async function drained(): Promise<void> {
  const idle = async () => {
    const st = (await (await s.request('/api/v1/jobs/stats', { token: tok })).json()) as { pending: number; running: number }
    return st.pending + st.running === 0
  }
  await waitFor(async () => {
    if (!(await idle())) return false
    await s.ctx.worker.settled()
    return idle()
  }, 'the job queue to drain (pending + running = 0)', 15_000)
}

async function note(id: string): Promise<Note> {
  const res = await s.request(`/api/v1/notes/${id}`, { token: tok })
  expect(res.status).toBe(200)
  return (await res.json()) as Note
}

async function jobsOf(id: string): Promise<Job[]> {
  const { jobs } = (await (await s.request(`/api/v1/jobs?note_id=${id}`, { token: tok })).json()) as { jobs: Job[] }
  return jobs.reverse() // oldest first
}

beforeAll(async () => {
  s = await startServer()
  tok = await s.token()
  s.ctx.bus.onDelivered('test-recorder', (e) => void events.push(e))
})
afterAll(() => s.stop())

describe('note pipeline', () => {
  const ids: Record<'search' | 'embeddings' | 'ann' | 'garden', string> = { search: '', embeddings: '', ann: '', garden: '' }

  beforeAll(async () => {
    for (const [key, content] of [
      ['search', VECTOR_SEARCH],
      ['embeddings', EMBEDDINGS],
      ['ann', ANN_INDEX],
      ['garden', GARDENING],
    ] as const) {
      const res = await s.request('/api/v1/notes', { token: tok, body: { content } })
      expect(res.status).toBe(201)
      ids[key] = ((await res.json()) as Note).id
    }
    await drained()
  })

  test('titles come from the heading or the first sentence', async () => {
    expect((await note(ids.search)).title).toBe('Vector search')
    expect((await note(ids.embeddings)).title).toBe('Embeddings turn text into vectors')
    expect((await note(ids.garden)).title).toBe('Gardening in spring')
  })

  test('every note ran title_generation, embedding and linking to completion', async () => {
    for (const id of Object.values(ids)) {
      const jobs = await jobsOf(id)
      expect(jobs.map((j) => [j.job_type, j.status, j.progress_percent])).toEqual([
        ['title_generation', 'completed', 100],
        ['embedding', 'completed', 100],
        ['linking', 'completed', 100],
      ])
      // linking is queued only once the embedding exists
      expect(jobs[2]!.created_at >= jobs[1]!.completed_at!).toBe(true)
    }
  })

  test('embeddings are stored, normalised', async () => {
    for (const id of Object.values(ids)) {
      const v = await s.ctx.notes.getEmbedding(id)
      expect(v).not.toBeNull()
      expect(v!.length).toBe(EMBEDDING_DIMS)
      const norm = Math.sqrt(v!.reduce((a, x) => a + x * x, 0))
      expect(norm).toBeCloseTo(1, 4)
    }
  })

  test('the similar notes are linked to each other both ways; the unrelated one is not', async () => {
    const related = [ids.search, ids.embeddings, ids.ann]
    for (const id of related) {
      const n = await note(id)
      expect(n.has_links).toBe(true)
      expect(n.links.map((l) => l.note_id).sort()).toEqual(related.filter((x) => x !== id).sort())
      for (const l of n.links) {
        expect(l.score).toBeGreaterThanOrEqual(s.config.linkThreshold)
        expect(l.score).toBeLessThanOrEqual(1)
        // same score in both directions
        const back = (await note(l.note_id)).links.find((b) => b.note_id === id)
        expect(back?.score).toBe(l.score)
      }
    }
    const garden = await note(ids.garden)
    expect(garden.has_links).toBe(false)
    expect(garden.links).toEqual([])
  })

  test('job and note events accompany the pipeline', () => {
    const titleJob = events.find((e) => e.legacyType === 'JobCompleted' && (e.envelope.payload as { note_id?: string; job_type: string }).note_id === ids.search && (e.envelope.payload as { job_type: string }).job_type === 'TitleGeneration')
    expect(titleJob).toBeDefined()
    const after = events.slice(events.indexOf(titleJob!) + 1)
    const updated = after.find((e) => e.legacyType === 'NoteUpdated' && (e.envelope.payload as { note_id: string }).note_id === ids.search)
    expect(updated?.envelope.payload).toMatchObject({ type: 'NoteUpdated', note_id: ids.search, title: 'Vector search' })
    const failed = events.filter((e) => e.legacyType === 'JobFailed')
    expect(failed).toEqual([])
  })

  test('a content PATCH re-queues embedding, then linking', async () => {
    const before = (await s.ctx.notes.getEmbedding(ids.garden))!
    const res = await s.request(`/api/v1/notes/${ids.garden}`, {
      token: tok,
      method: 'PATCH',
      body: { content: 'Vector search over document embeddings: cosine similarity of embedding vectors finds the nearest neighbours.' },
    })
    expect(res.status).toBe(200)
    await drained()
    const jobs = await jobsOf(ids.garden)
    expect(jobs.map((j) => [j.job_type, j.status])).toEqual([
      ['title_generation', 'completed'],
      ['embedding', 'completed'],
      ['linking', 'completed'],
      ['embedding', 'completed'],
      ['linking', 'completed'],
    ])
    expect(jobs[4]!.started_at! >= jobs[3]!.completed_at!).toBe(true)
    const afterVec = (await s.ctx.notes.getEmbedding(ids.garden))!
    expect(afterVec).not.toEqual(before)
    const n = await note(ids.garden)
    expect(n.has_links).toBe(true)
    expect(n.links.map((l) => l.note_id)).toContain(ids.search)
    expect((await note(ids.search)).links.map((l) => l.note_id)).toContain(ids.garden)
  })

  test('a PATCH that changes only the title re-queues nothing; a tag change re-queues linking only (who may see the note changed)', async () => {
    const count = (await jobsOf(ids.ann)).length
    expect((await s.request(`/api/v1/notes/${ids.ann}`, { token: tok, method: 'PATCH', body: { title: 'ANN indexes' } })).status).toBe(200)
    expect((await s.request(`/api/v1/notes/${ids.ann}`, { token: tok, method: 'PATCH', body: { content: ANN_INDEX } })).status).toBe(200)
    expect((await jobsOf(ids.ann)).length).toBe(count)
    expect((await s.request(`/api/v1/notes/${ids.ann}`, { token: tok, method: 'PATCH', body: { tags: ['x'] } })).status).toBe(200)
    const after = await jobsOf(ids.ann)
    expect(after.length).toBe(count + 1)
    expect(after[after.length - 1]!.job_type).toBe('linking')
    await drained()
  })
})
