/**
 * Queue counts over SSE, the way today's HotM keeps its counters: an opening queue.status on every stream, job
 * deltas, and corrections — also for tag-restricted streams, which never see the memory-wide QueueStatus.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'
import { dataOf, SseClient, type SseFrame } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { HotmCounters, type Frame } from '../helpers/ws-client.ts'

let s: TestServer
let admin: string

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_WORKER_CONCURRENCY: '2' } })
  admin = await s.token({ memory: '*' })
})
afterAll(() => s.stop())

interface Stats {
  total_jobs: number
  running: number
  pending: number
}
const stats = async (token: string, memory: string) => (await (await s.request('/api/v1/jobs/stats', { token, headers: { 'x-matric-memory': memory } })).json()) as Stats

/** Applies every payload of a stream to HotM-style counters; `lateQueueStatus` mimics HotM's 50 ms QueueStatus coalescing. */
function countersOf(c: SseClient, opts: { lateQueueStatus?: boolean } = {}) {
  const counters = new HotmCounters()
  let applied = 0
  const pump = () => {
    for (; applied < c.frames.length; applied++) {
      const f = c.frames[applied]!
      if (!f.data || !f.event || f.event === 'resync_required' || f.event === 'events.lagged') continue
      const payload = dataOf(f).payload as Frame
      if (payload.type === 'QueueStatus' && opts.lateQueueStatus) setTimeout(() => counters.apply(payload), 50)
      else counters.apply(payload)
    }
  }
  return { counters, pump }
}

async function note(memory: string, tags: string[]): Promise<void> {
  const res = await s.request('/api/v1/notes', { token: admin, headers: { 'x-matric-memory': memory }, body: { content: `# ${tags.join(' ')}\nText about ${tags.join(' and ')}.`, tags } })
  expect(res.status).toBe(201)
}

describe('queue counts on SSE', () => {
  test('the opening frame of a tag-restricted stream carries the counts that token sees', async () => {
    await s.ctx.jobPauses.pause({ kind: 'memory', memory: 'qs-open' }, { kind: 'system' })
    await note('qs-open', ['alpha'])
    await note('qs-open', ['beta'])
    await note('qs-open', ['beta'])
    const restricted = await s.token({ memory: 'qs-open', scope: 'read', tags: ['alpha'] })
    const c = await SseClient.open(`${s.url}/api/v1/events`, { headers: { authorization: `Bearer ${restricted}`, 'x-fortemi-memory': 'qs-open' } })
    const opening = await c.frame((f) => f.event === 'queue.status', 'the opening counts')
    const { total_jobs, running, pending } = await stats(restricted, 'qs-open')
    expect(dataOf(opening).payload).toEqual({ type: 'QueueStatus', total_jobs, running, pending })
    expect((dataOf(opening).payload as Stats).pending).toBe(2) // title + embedding of the alpha note only
    c.close()
    await s.ctx.jobPauses.resume({ kind: 'memory', memory: 'qs-open' }, { kind: 'system' })
  })

  test('counters from the stream equal /jobs/stats at idle, restricted or not, also when QueueStatus is applied late', async () => {
    const memory = 'qs-burst'
    const restrictedToken = await s.token({ memory, scope: 'read', tags: ['alpha'] })
    const open = (token: string) => SseClient.open(`${s.url}/api/v1/events`, { headers: { authorization: `Bearer ${token}`, 'x-fortemi-memory': memory } })
    const full = await open(admin)
    const restricted = await open(restrictedToken)
    const views = [
      { name: 'unrestricted', c: full, token: admin, ...countersOf(full) },
      { name: 'unrestricted, late QueueStatus', c: full, token: admin, ...countersOf(full, { lateQueueStatus: true }) },
      { name: 'restricted', c: restricted, token: restrictedToken, ...countersOf(restricted) },
      { name: 'restricted, late QueueStatus', c: restricted, token: restrictedToken, ...countersOf(restricted, { lateQueueStatus: true }) },
    ]
    await full.frame((f) => f.event === 'queue.status', 'opening counts (full)')
    await restricted.frame((f) => f.event === 'queue.status', 'opening counts (restricted)')
    for (let i = 0; i < 6; i++) await note(memory, [i % 2 ? 'alpha' : 'beta'])
    await waitFor(async () => {
      const st = await stats(admin, memory)
      return st.pending === 0 && st.running === 0
    }, 'the queue to drain', 20_000)
    for (const v of views) {
      const want = await stats(v.token, memory)
      await waitFor(
        () => {
          v.pump()
          return v.counters.pending === want.pending && v.counters.running === want.running && v.counters.total === want.total_jobs
        },
        `${v.name} counters ${JSON.stringify(v.counters)} to equal ${JSON.stringify(want)}`,
      )
    }
    // The restricted stream saw no event of a beta note and no memory-wide QueueStatus event (only its own counts).
    const restrictedEvents = restricted.frames.filter((f: SseFrame) => f.id !== undefined)
    expect(restrictedEvents.some((f) => f.event === 'queue.status')).toBe(false)
    expect(restricted.frames.filter((f) => f.event === 'queue.status').length).toBeGreaterThan(1)
    full.close()
    restricted.close()
  }, 30_000)
})

describe('external job events', () => {
  test('an externally published JobQueued for a job this server does not run is followed by a correction', async () => {
    const c = await SseClient.open(`${s.url}/api/v1/events`, { headers: { authorization: `Bearer ${admin}`, 'x-fortemi-memory': 'qs-ext' } })
    const { counters, pump } = countersOf(c)
    await c.frame((f) => f.event === 'queue.status', 'the opening counts')
    const res = await s.request('/api/v1/events', { token: admin, body: { memory: 'qs-ext', payload: { type: 'JobQueued', job_id: '018f7d2d-0064-7000-8001-f147d6a2e70a', job_type: 'Import' } } })
    expect(res.status).toBe(202)
    const id = ((await res.json()) as { event_id: string }).event_id
    await c.frame((f) => f.id === id, 'the external JobQueued')
    await c.frame((f) => f.event === 'queue.status' && f.id !== undefined && c.frames.indexOf(f) > c.frames.findIndex((x) => x.id === id), 'the correction after it')
    pump()
    expect({ pending: counters.pending, total: counters.total }).toEqual({ pending: 0, total: 0 })
    c.close()
  })
})
