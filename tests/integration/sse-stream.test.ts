/** docs/sse.md against a real server: headers and framing, filters, memory and tag isolation, keepalive, origins, disconnects. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'
import { dataOf, SseClient, type SseFrame } from '../helpers/sse-client.ts'

let s: TestServer
let admin: string
const open: SseClient[] = []

beforeAll(async () => {
  s = await startServer({
    env: {
      MATRIC_SSE_KEEPALIVE_MS: '50',
      MATRIC_SSE_RETRY_MS: '1500',
      MATRIC_ALLOWED_ORIGINS: 'https://app.example.com',
      // The trailing QueueStatus after job events (at most one per memory per interval, trailing the last one sent)
      // is not what these tests watch: a minute puts it past them, whatever the speed of the store.
      MATRIC_QUEUE_STATUS_INTERVAL_MS: '60000',
    },
  })
  admin = await s.token({ memory: '*' })
})
afterEach(() => {
  for (const c of open.splice(0)) c.close()
})
afterAll(() => s.stop())

async function stream(query = '', opts: { token?: string | null; headers?: Record<string, string>; path?: string; read?: boolean } = {}): Promise<SseClient> {
  const token = opts.token === undefined ? admin : opts.token
  const c = await SseClient.open(`${s.url}${opts.path ?? '/api/v1/events'}${query}`, {
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers },
    read: opts.read,
  })
  open.push(c)
  if (c.status === 200 && opts.read !== false) await c.frame((f) => f.retry !== undefined, 'the retry hint')
  return c
}

/** Emits an event through the external publisher API; returns its id. */
async function publish(payload: Record<string, unknown>, memory?: string): Promise<string> {
  const res = await s.request('/api/v1/events', { token: admin, body: { ...(memory ? { memory } : {}), payload } })
  expect(res.status).toBe(202)
  return ((await res.json()) as { event_id: string }).event_id
}

/** A server-owned QueueStatus (external publishers may not send one); returns its id once it is durable. */
async function queueStatus(memory = 'default'): Promise<string> {
  const id = await s.ctx.queueStatus.sendNow(memory)
  await s.ctx.bus.committed()
  return id
}

const job = (type: string, id: string, extra: Record<string, unknown> = {}) => ({ type, job_id: id, job_type: 'Import', ...extra })
const idOf = (f: SseFrame) => f.id

async function health(): Promise<{ connections: { sse: number } }> {
  return (await (await s.request('/health')).json()) as { connections: { sse: number } }
}

describe('GET /api/v1/events framing', () => {
  test('headers, retry hint first, then id/event/data frames carrying the envelope', async () => {
    const c = await stream()
    expect(c.res.headers.get('content-type')).toBe('text/event-stream')
    expect(c.res.headers.get('cache-control')).toBe('no-cache')
    expect(c.res.headers.get('x-accel-buffering')).toBe('no')
    expect(c.frames[0]).toEqual({ retry: 1500 })
    const id = await publish(job('JobQueued', 'frame-1'))
    const f = await c.frame((x) => x.id === id, 'the published event')
    expect(f.event).toBe('job.queued')
    const env = dataOf(f)
    expect(env).toMatchObject({ event_id: id, event_type: 'job.queued', memory: 'default', payload_version: 1, payload: { type: 'JobQueued', job_id: 'frame-1' } })
    c.close()
  })

  test('the /stream alias serves the same stream', async () => {
    const c = await stream('?types=job.failed', { path: '/api/v1/events/stream' })
    const id = await publish(job('JobFailed', 'alias-1', { error: 'boom' }))
    expect((await c.frame((x) => x.id === id, 'the event on the alias')).event).toBe('job.failed')
    c.close()
  })

  test('POST /api/v1/events still publishes (same path, other method)', async () => {
    const res = await s.request('/api/v1/events', { token: admin, body: { payload: job('JobQueued', 'post-still-works') } })
    expect(res.status).toBe(202)
  })

  test('keepalive comments arrive on a quiet stream', async () => {
    const c = await stream('?types=note.deleted')
    await c.frame((f) => f.comment === 'keepalive', 'a keepalive comment')
    c.close()
  })
})

describe('filters', () => {
  test('types: prefixes, dotted and legacy names select exactly those events', async () => {
    await queueStatus() // sent before the streams open: the job events below leave only a trailing one, a minute away
    const prefix = await stream('?types=job')
    const legacy = await stream('?types=JobCompleted,NoteDeleted')
    const dotted = await stream('?types=job.progress,queue.status')
    const repeated = await stream('?types=job.failed&types=JobQueued')
    const ids = {
      queued: await publish(job('JobQueued', 'f-1')),
      progress: await publish(job('JobProgress', 'f-1', { progress: 50, progress_percent: 50 })),
      completed: await publish(job('JobCompleted', 'f-1')),
      failed: await publish(job('JobFailed', 'f-2', { error: 'x' })),
      queue: await queueStatus(),
      deleted: await publish({ type: 'NoteDeleted', note_id: 'n-gone' }),
    }
    // One event each stream selects, published last: once it arrived, everything before it has too.
    const barrier = await publish(job('JobFailed', 'barrier', { error: 'x' }))
    const noteBarrier = await publish({ type: 'NoteDeleted', note_id: 'barrier' })
    const queueBarrier = await queueStatus()
    await prefix.frame((f) => f.id === barrier, 'barrier on the prefix stream')
    await legacy.frame((f) => f.id === noteBarrier, 'barrier on the legacy stream')
    await dotted.frame((f) => f.id === queueBarrier, 'barrier on the dotted stream')
    await repeated.frame((f) => f.id === barrier, 'barrier on the repeated-parameter stream')
    expect(prefix.events.map(idOf)).toEqual([ids.queued, ids.progress, ids.completed, ids.failed, barrier])
    expect(prefix.events.map((f) => f.event)).toEqual(['job.queued', 'job.progress', 'job.completed', 'job.failed', 'job.failed'])
    expect(legacy.events.map(idOf)).toEqual([ids.completed, ids.deleted, noteBarrier])
    expect(dotted.events.map(idOf)).toEqual([ids.progress, ids.queue, queueBarrier])
    expect(repeated.events.map(idOf)).toEqual([ids.queued, ids.failed, barrier])
  })

  test('entity_id selects the events of one entity', async () => {
    const c = await stream('?entity_id=ent-A')
    await publish(job('JobQueued', 'ent-B'))
    const a1 = await publish(job('JobQueued', 'ent-A'))
    await publish(job('JobStarted', 'ent-B'))
    const a2 = await publish(job('JobCompleted', 'ent-A'))
    await c.eventCount(2, 'events of ent-A')
    expect(c.events.map(idOf)).toEqual([a1, a2])
    c.close()
  })

  const bad: [string, number, RegExp][] = [
    ['?types=', 400, /at least one event type/],
    ['?types=,', 400, /at least one event type/],
    ['?types=job,bogus', 400, /unknown event type "bogus"/],
    ['?types=*', 400, /unknown event type/],
    ['?entity_id=', 400, /entity_id/],
    ['?memory=bad%20name', 400, /invalid memory name/],
  ]
  for (const [query, status, message] of bad)
    test(`${query} → ${status} with the JSON error shape`, async () => {
      const res = await fetch(`${s.url}/api/v1/events${query}`, { headers: { authorization: `Bearer ${admin}` } })
      expect(res.status).toBe(status)
      const body = (await res.json()) as { error: string; message: string }
      expect(body.error).toBe('bad_request')
      expect(body.message).toMatch(message)
    })
})

describe('isolation', () => {
  test('a stream receives only the events of its memory', async () => {
    await queueStatus('other') // before the streams open: the job events below leave only a trailing one, a minute away
    const other = await stream('?memory=other')
    const viaHeader = await stream('', { headers: { 'x-matric-memory': 'other' } })
    await publish(job('JobQueued', 'in-default'))
    const mine = await publish(job('JobQueued', 'in-other'), 'other')
    const end = await publish(job('JobCompleted', 'in-other'), 'other')
    await other.frame((f) => f.id === end, 'the last event of memory other')
    await viaHeader.frame((f) => f.id === end, 'the last event of memory other (header)')
    expect(other.events.map(idOf)).toEqual([mine, end])
    expect(viaHeader.events.map(idOf)).toEqual([mine, end])
    other.close()
    viaHeader.close()
  })

  test('a memory the token does not grant → 403', async () => {
    const token = await s.token({ memory: 'default', scope: 'read' })
    const c = await stream('?memory=other', { token })
    expect(c.status).toBe(403)
    expect(((await c.res.json()) as { error: string }).error).toBe('forbidden')
  })

  test('a tag-restricted token sees only events of notes carrying its tags, never memory-wide ones', async () => {
    const restricted = await stream('', { token: await s.token({ scope: 'read', tags: ['alpha'] }) })
    const everything = await stream()
    const create = async (tags: string[]) => {
      const res = await s.request('/api/v1/notes', { token: admin, body: { title: `t-${tags.join()}`, content: `about ${tags.join()}`, tags } })
      expect(res.status).toBe(201)
      return ((await res.json()) as { id: string }).id
    }
    const alpha = await create(['alpha', 'x'])
    const beta = await create(['beta'])
    const untagged = await create([])
    await publish(job('JobCompleted', 'beta-job', { note_id: beta }))
    await queueStatus()
    await publish(job('JobCompleted', 'loose-job'))
    const marker = await publish(job('JobCompleted', 'alpha-marker', { note_id: alpha }))
    await restricted.frame((f) => f.id === marker, 'the alpha marker on the restricted stream')
    await everything.frame((f) => f.id === marker, 'the alpha marker on the unrestricted stream')

    const notesOf = (c: SseClient) => new Set(c.events.map((f) => (dataOf(f).payload as { note_id?: string }).note_id ?? null))
    expect([...notesOf(restricted)]).toEqual([alpha])
    expect(restricted.events.some((f) => f.event === 'note.created')).toBe(true)
    expect(restricted.events.some((f) => f.event === 'queue.status')).toBe(false)
    // The unrestricted stream saw what the restricted one must not.
    const all = notesOf(everything)
    for (const n of [alpha, beta, untagged, null]) expect(all.has(n)).toBe(true)
    restricted.close()
    everything.close()
  })
})

describe('origins', () => {
  test('a listed Origin gets the stream with CORS headers; no Origin is not a browser and passes', async () => {
    const c = await stream('', { headers: { origin: 'https://app.example.com' } })
    expect(c.status).toBe(200)
    expect(c.res.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(c.res.headers.get('access-control-allow-credentials')).toBe('true')
    c.close()
    const plain = await stream()
    expect(plain.status).toBe(200)
    expect(plain.res.headers.get('access-control-allow-origin')).toBeNull()
    plain.close()
  })

  test('an Origin that is not listed → 403, before authentication', async () => {
    for (const token of [admin, null]) {
      const res = await fetch(`${s.url}/api/v1/events`, {
        headers: { origin: 'https://evil.example', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      })
      expect(res.status).toBe(403)
      expect(((await res.json()) as { message: string }).message).toMatch(/origin "https:\/\/evil.example" is not allowed/)
    }
  })
})

describe('connections', () => {
  test('abrupt client disconnects bring connections.sse back to zero', async () => {
    await waitFor(async () => (await health()).connections.sse === 0, 'no open streams before the test')
    const clients = [await stream(), await stream('?types=job'), await stream('?memory=other')]
    expect((await health()).connections.sse).toBe(3)
    // One of them is mid-event when it goes away.
    await publish(job('JobQueued', 'disconnect'))
    for (const c of clients) c.close()
    await waitFor(async () => (await health()).connections.sse === 0, 'connections.sse to return to 0')
    // The bus keeps working for new streams.
    const again = await stream()
    const id = await publish(job('JobQueued', 'after-disconnect'))
    await again.frame((f) => f.id === id, 'an event after the disconnects')
    again.close()
  })

  test('a client that never reads and then disconnects is freed too', async () => {
    const c = await stream('', { read: false })
    expect(c.status).toBe(200)
    for (let i = 0; i < 50; i++) await publish(job('JobProgress', 'unread', { progress: i, progress_percent: i }))
    c.close()
    await waitFor(async () => (await health()).connections.sse === 0, 'connections.sse to return to 0')
  })

  test('server shutdown ends open streams with a closing comment', async () => {
    const s2 = await startServer()
    let stopped = false
    try {
      const c = await SseClient.open(`${s2.url}/api/v1/events?token=${await s2.token()}`)
      await c.frame((f) => f.retry !== undefined, 'the retry hint')
      const stopping = s2.stop().then(() => (stopped = true))
      await c.ended
      expect(c.frames.at(-1)).toEqual({ comment: 'stream closed: server shutting down' })
      await stopping
      expect(s2.ctx.live.sseConnections()).toBe(0)
    } finally {
      if (!stopped) await s2.stop()
    }
  })
})
