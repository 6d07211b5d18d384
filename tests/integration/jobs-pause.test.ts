/** Job processing pause/resume (GET /api/v1/jobs/status, POST /api/v1/jobs/pause|resume[/{memory}]). */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { dataOf, SseClient } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { WsClient } from '../helpers/ws-client.ts'

let s: TestServer
let root: string
let receiver: Receiver

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true' } })
  root = await s.token({ memory: '*' })
  receiver = await startReceiver()
})
afterAll(async () => {
  await s.stop()
  await receiver.stop()
})

const post = (path: string, token = root) => s.request(path, { token, method: 'POST' })
const status = async (memory: string, token = root) => (await (await s.request('/api/v1/jobs/status', { token, headers: { 'x-matric-memory': memory } })).json()) as Record<string, any>
async function createNote(memory: string): Promise<string> {
  const res = await s.request('/api/v1/notes', { token: root, headers: { 'x-matric-memory': memory }, body: { content: `# In ${memory}\nSomething to embed.` } })
  expect(res.status).toBe(201)
  return ((await res.json()) as { id: string }).id
}
const counts = (memory: string) => s.ctx.jobs.counts(memory)
const idle = async (memory: string) => {
  const c = await counts(memory)
  return c.pending + c.running === 0
}

describe('pause and resume', () => {
  test('a global pause holds every memory: jobs stay pending, running ones are not started; resume runs them', async () => {
    const stream = await SseClient.open(`${s.url}/api/v1/events?types=jobs,job.started`, { headers: { authorization: `Bearer ${root}`, 'x-matric-memory': 'p-a' } })
    const paused = await post('/api/v1/jobs/pause')
    expect(paused.status).toBe(200)
    expect(await paused.json()).toEqual({ status: 'paused', scope: 'global', changed: true })
    const ev = await stream.frame((f) => f.event === 'jobs.paused', 'jobs.paused on SSE')
    expect(dataOf(ev)).toMatchObject({ memory: 'p-a', payload: { type: 'JobsPaused', scope: 'global' }, actor: { kind: 'user', id: 'tester' } })

    await createNote('p-a')
    await createNote('p-b')
    s.ctx.worker.wake() // a claim round, synchronously: nothing may be claimed
    expect(await counts('p-a')).toMatchObject({ pending: 2, running: 0 })
    expect(await counts('p-b')).toMatchObject({ pending: 2, running: 0 })
    expect(await status('p-a')).toEqual({ global: 'paused', archives: {}, queue: { pending: 2, running: 0 } })

    const again = await post('/api/v1/jobs/pause')
    expect(((await again.json()) as { changed: boolean }).changed).toBe(false)

    expect((await post('/api/v1/jobs/resume')).status).toBe(200)
    await stream.frame((f) => f.event === 'jobs.resumed', 'jobs.resumed on SSE')
    await stream.frame((f) => f.event === 'job.started', 'a job started after the resume')
    await waitFor(async () => (await idle('p-a')) && (await idle('p-b')), 'both memories to drain', 20_000)
    // Exactly one paused and one resumed event reached the stream (the repeated pause changed nothing).
    expect(stream.events.filter((f) => f.event === 'jobs.paused')).toHaveLength(1)
    expect(stream.events.filter((f) => f.event === 'jobs.resumed')).toHaveLength(1)
    stream.close()
  }, 30_000)

  test('a memory pause holds only that memory, survives in the store, and is listed for callers who may see it', async () => {
    const r = await post('/api/v1/jobs/pause/m-held')
    expect(await r.json()).toEqual({ status: 'paused', scope: 'archive', archive: 'm-held', changed: true })
    await createNote('m-held')
    const free = await createNote('m-free')
    await waitFor(async () => (await counts('m-free')).completed >= 2 && (await idle('m-free')), 'the free memory to drain', 20_000)
    s.ctx.worker.wake()
    expect(await counts('m-held')).toMatchObject({ pending: 2, running: 0, completed: 0 })
    expect(free).toBeString()
    expect((await status('m-free')).archives).toEqual({ 'm-held': 'paused' })
    // A caller of another memory does not learn that m-held exists.
    const other = await s.token({ memory: 'm-free', scope: 'read' })
    expect((await status('m-free', other)).archives).toEqual({})
    expect((await s.ctx.jobPauses.state()).memories).toContain('m-held')
    expect((await post('/api/v1/jobs/resume/m-held')).status).toBe(200)
    await waitFor(() => idle('m-held'), 'the held memory to drain after resume', 20_000)
  }, 30_000)

  test('events go to SSE and webhooks, never to the WebSocket', async () => {
    const hook = await s.request('/api/v1/webhooks', { token: root, headers: { 'x-matric-memory': 'm-hook' }, body: { url: `${receiver.url}/paused`, events: ['jobs'] } })
    expect(hook.status).toBe(201)
    const ws = await WsClient.connect(`${s.wsUrl}?token=${root}&memory=m-hook`)
    expect((await post('/api/v1/jobs/pause/m-hook')).status).toBe(200)
    expect((await post('/api/v1/jobs/resume/m-hook')).status).toBe(200)
    const [paused, resumed] = await receiver.waitForRequests(2, 'both webhook deliveries')
    expect(paused!.headers['x-matric-event']).toBe('JobsPaused')
    expect(JSON.parse(resumed!.body)).toMatchObject({ event_type: 'jobs.resumed', memory: 'm-hook', payload: { type: 'JobsResumed', scope: 'archive' } })
    // A marker after both proves the WebSocket saw neither.
    const marker = await s.ctx.queueStatus.sendNow('m-hook')
    await ws.next((f) => f.event_id === marker, 'the marker on the WebSocket')
    expect(ws.frames.some((f) => String(f.type).startsWith('Jobs'))).toBe(false)
    ws.close()
  })

  const forbidden: [string, () => Promise<string>, string][] = [
    ['an admin of one memory, globally', () => s.token({ memory: 'x', scope: 'admin' }), '/api/v1/jobs/pause'],
    ['a tag-restricted admin', () => s.token({ memory: '*', scope: 'admin', tags: ['t'] }), '/api/v1/jobs/pause/x'],
    ['a writer', () => s.token({ memory: '*', scope: 'write' }), '/api/v1/jobs/pause/x'],
    ['an admin of another memory', () => s.token({ memory: 'y', scope: 'admin' }), '/api/v1/jobs/resume/x'],
  ]
  for (const [who, token, path] of forbidden)
    test(`403 for ${who}`, async () => {
      const res = await post(path, await token())
      expect(res.status).toBe(403)
      expect(await s.ctx.jobPauses.state()).toEqual({ global: false, memories: [] })
    })

  test('bad memory names are 400, anonymous callers 401', async () => {
    expect((await post('/api/v1/jobs/pause/bad%20name')).status).toBe(400)
    expect((await s.request('/api/v1/jobs/pause', { method: 'POST' })).status).toBe(401)
    expect((await s.request('/api/v1/jobs/status')).status).toBe(401)
  })
})

describe('what the HotM jobs panel reads', () => {
  test('GET /jobs/stats also answers in Fortemi names; GET /jobs pages with offset and says the total', async () => {
    const memory = 'panel'
    for (let i = 0; i < 3; i++) await createNote(memory)
    await waitFor(() => idle(memory), 'the panel memory to drain', 20_000)
    const h = { 'x-fortemi-memory': memory }
    const stats = (await (await s.request('/api/v1/jobs/stats', { token: root, headers: h })).json()) as { running: number; pending: number; completed: number; failed: number; total: number }
    expect(stats).toMatchObject({ processing: stats.running, completed_last_hour: stats.completed, failed_last_hour: stats.failed })
    expect(stats.total).toBe(stats.completed + stats.failed + stats.pending + stats.running)
    const page = (await (await s.request('/api/v1/jobs?limit=2&offset=1&archive=panel', { token: root, headers: h })).json()) as { jobs: { id: string }[]; total: number }
    const all = (await (await s.request('/api/v1/jobs?limit=500', { token: root, headers: h })).json()) as { jobs: { id: string }[]; total: number }
    expect(all.total).toBe(stats.total)
    expect(page.total).toBe(all.total)
    expect(page.jobs.map((j) => j.id)).toEqual(all.jobs.slice(1, 3).map((j) => j.id))
  }, 30_000)
})
