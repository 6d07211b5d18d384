/**
 * What Fortemi clients and producers need of the event API: `X-Fortemi-Memory` on every transport, `tenant_id` on
 * every envelope, upstream payloads accepted by POST /api/v1/events (QueueStatus excepted), and who may publish.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'
import { dataOf, SseClient } from '../helpers/sse-client.ts'
import { WsClient } from '../helpers/ws-client.ts'

let s: TestServer
let admin: string

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_TENANT_ID: 'acme' } })
  admin = await s.token({ memory: '*' })
})
afterAll(() => s.stop())

async function publish(payload: Record<string, unknown>, opts: { memory?: string; token?: string } = {}) {
  return s.request('/api/v1/events', { token: opts.token ?? admin, body: { ...(opts.memory ? { memory: opts.memory } : {}), payload } })
}

async function sse(memory: string, headers: Record<string, string> = {}) {
  const c = await SseClient.open(`${s.url}/api/v1/events`, { headers: { authorization: `Bearer ${admin}`, 'x-fortemi-memory': memory, ...headers } })
  expect(c.status).toBe(200)
  await c.frame((f) => f.event === 'queue.status' && f.id === undefined, 'the opening counts')
  return c
}

describe('X-Fortemi-Memory', () => {
  test('selects the memory on REST, SSE and the WebSocket', async () => {
    const created = await s.request('/api/v1/notes', { token: admin, headers: { 'x-fortemi-memory': 'fm-a' }, body: { content: 'in fm-a' } })
    expect(created.status).toBe(201)
    expect(((await created.json()) as { memory: string }).memory).toBe('fm-a')
    const listed = (await (await s.request('/api/v1/notes', { token: admin, headers: { 'x-fortemi-memory': 'fm-a' } })).json()) as { notes: unknown[] }
    expect(listed.notes).toHaveLength(1)
    // X-Matric-Memory wins when both are sent.
    const both = await s.request('/api/v1/notes', { token: admin, headers: { 'x-matric-memory': 'fm-b', 'x-fortemi-memory': 'fm-a' } })
    expect(((await both.json()) as { notes: unknown[] }).notes).toHaveLength(0)

    const stream = await sse('fm-a')
    const ws = await WsClient.connect(`${s.wsUrl}?token=${admin}`, undefined, { headers: { 'x-fortemi-memory': 'fm-a' } })
    const id = ((await (await publish({ type: 'JobQueued', job_id: 'fm-job', job_type: 'Import' }, { memory: 'fm-a' })).json()) as { event_id: string }).event_id
    await stream.frame((f) => f.id === id, 'the event on SSE')
    const frame = await ws.next((f) => f.job_id === 'fm-job', 'the event on the WebSocket')
    expect(frame.event_id).toBe(id)
    stream.close()
    ws.close()
  })

  test('a memory the token does not grant is 403 through the alias too', async () => {
    const narrow = await s.token({ memory: 'only-this' })
    const res = await s.request('/api/v1/notes', { token: narrow, headers: { 'x-fortemi-memory': 'other' } })
    expect(res.status).toBe(403)
  })
})

describe('envelopes', () => {
  test("carry the deployment's tenant_id on every transport's envelope", async () => {
    const stream = await sse('tn')
    const opening = stream.frames.find((f) => f.event === 'queue.status')!
    expect(dataOf(opening).tenant_id).toBe('acme')
    const id = ((await (await publish({ type: 'NoteDeleted', note_id: 'n-1' }, { memory: 'tn' })).json()) as { event_id: string }).event_id
    const f = await stream.frame((x) => x.id === id, 'the event')
    expect(dataOf(f)).toMatchObject({ event_id: id, tenant_id: 'acme', memory: 'tn' })
    stream.close()
  })
})

describe('POST /api/v1/events with upstream payloads', () => {
  test("JobProgress with `progress` only and no job_type: both progress fields on the wire; a known job's type filled in", async () => {
    const stream = await sse('up')
    const external = await publish({ type: 'JobProgress', job_id: '018f7d2d-0064-7000-0001-f147d6a2e70a', progress: 65, message: 'from fortemi' }, { memory: 'up' })
    expect(external.status).toBe(202)
    const e1 = ((await external.json()) as { event_id: string }).event_id
    const f1 = await stream.frame((x) => x.id === e1, 'the external progress')
    expect(dataOf(f1).payload).toEqual({ type: 'JobProgress', job_id: '018f7d2d-0064-7000-0001-f147d6a2e70a', progress: 65, progress_percent: 65, message: 'from fortemi' })

    const note = (await (await s.request('/api/v1/notes', { token: admin, headers: { 'x-matric-memory': 'up' }, body: { content: 'x' } })).json()) as { id: string }
    const job = (await (await s.request('/api/v1/jobs', { token: admin, headers: { 'x-matric-memory': 'up' }, body: { job_type: 'ai_revision', note_id: note.id } })).json()) as { id: string }
    const known = await publish({ type: 'JobProgress', job_id: job.id, progress_percent: 30 }, { memory: 'up' })
    const e2 = ((await known.json()) as { event_id: string }).event_id
    const f2 = await stream.frame((x) => x.id === e2, 'progress of a known job')
    expect(dataOf(f2).payload).toEqual({ type: 'JobProgress', job_id: job.id, job_type: 'AiRevision', progress: 30, progress_percent: 30 })
    stream.close()
  })

  test('JobsPaused / JobsResumed are publishable', async () => {
    for (const type of ['JobsPaused', 'JobsResumed']) expect((await publish({ type, scope: 'global' })).status).toBe(202)
  })

  const refused: [string, Record<string, unknown>, RegExp][] = [
    ['QueueStatus (the server owns the counts)', { type: 'QueueStatus', total_jobs: 999, running: 999, pending: 0 }, /got 'QueueStatus'/],
    ['JobProgress without any progress', { type: 'JobProgress', job_id: 'j' }, /progress/],
    ['JobProgress whose two progress fields differ', { type: 'JobProgress', job_id: 'j', progress: 10, progress_percent: 20 }, /differ/],
    ['an extra payload field', { type: 'NoteDeleted', note_id: 'n', colour: 'red' }, /colour/],
    ['an extra field on an upstream JobProgress', { type: 'JobProgress', job_id: 'j', progress: 1, step: 2 }, /step/],
  ]
  for (const [name, payload, msg] of refused)
    test(`refuses ${name} with 422`, async () => {
      const res = await publish(payload)
      expect(res.status).toBe(422)
      expect(JSON.stringify(await res.json())).toMatch(msg)
    })

  test('a tag-restricted admin may not publish (403), nor a non-admin', async () => {
    const restrictedAdmin = await s.token({ scope: 'admin', tags: ['x'] })
    const res = await publish({ type: 'NoteDeleted', note_id: 'someone-elses' }, { token: restrictedAdmin })
    expect(res.status).toBe(403)
    expect(((await res.json()) as { message: string }).message).toContain('tag restriction')
    expect((await publish({ type: 'NoteDeleted', note_id: 'n' }, { token: await s.token({ scope: 'write' }) })).status).toBe(403)
  })
})

describe('tenant claim', () => {
  test("a token for this deployment's tenant works on REST, SSE and the WebSocket; its stream tokens keep the tenant", async () => {
    const token = await s.token({ memory: 't1', tenant: 'acme' })
    expect((await s.request('/api/v1/notes', { token })).status).toBe(200)
    const c = await SseClient.open(`${s.url}/api/v1/events?memory=t1`, { headers: { authorization: `Bearer ${token}` } })
    expect(c.status).toBe(200)
    c.close()
    const ws = await WsClient.connect(`${s.wsUrl}?memory=t1&token=${token}`)
    ws.close()
    const minted = (await (await s.request('/api/v1/events/tokens', { token, body: {} })).json()) as { token: string }
    const claims = JSON.parse(atob(minted.token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>
    expect(claims.tenant).toBe('acme')
  })

  test('a token issued for another tenant is refused everywhere with 403', async () => {
    const token = await s.token({ memory: 't1', tenant: 'globex' })
    const rest = await s.request('/api/v1/notes', { token })
    expect(rest.status).toBe(403)
    expect(((await rest.json()) as { message: string }).message).toContain("tenant 'globex'")
    expect((await fetch(`${s.url}/api/v1/events?memory=t1`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403)
    expect((await fetch(`${s.wsUrl.replace('ws', 'http')}?memory=t1&token=${token}`, { headers: { upgrade: 'websocket', connection: 'upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } })).status).toBe(403)
  })
})

describe('correlation_id and causation_id', () => {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
  test('a note write and everything it sets off share one correlation id; each event names its cause', async () => {
    const stream = await sse('trace')
    const res = await s.request('/api/v1/notes', { token: admin, headers: { 'x-matric-memory': 'trace' }, body: { content: '# Traced\nA note whose chain we follow.' } })
    const noteId = ((await res.json()) as { id: string }).id
    const linked = await stream.frame((f) => f.event === 'job.completed' && (dataOf(f).payload as { job_type: string }).job_type === 'Linking', 'linking completed')
    await stream.frame((f) => f.event === 'note.updated' && stream.frames.indexOf(f) > stream.frames.indexOf(linked), 'the NoteUpdated after linking')
    const envs = stream.events.map((f) => dataOf(f) as Record<string, any>).filter((e) => e.payload.note_id === noteId)
    const byId = new Map(envs.map((e) => [e.event_id as string, e]))
    const created = envs.find((e) => e.event_type === 'note.created')!
    for (const e of envs) {
      expect(e.correlation_id).toBe(created.correlation_id)
      expect(e.correlation_id).toMatch(UUID)
      if (e !== created) expect(byId.has(e.causation_id)).toBe(true) // every cause is an event of the chain
    }
    const cause = (e: Record<string, any>) => byId.get(e.causation_id)!
    for (const e of envs) {
      const c = e === created ? undefined : cause(e)
      if (e.event_type === 'job.queued') expect(['note.created', 'job.completed']).toContain(c!.event_type)
      if (e.event_type === 'job.started') expect(c).toMatchObject({ event_type: 'job.queued', payload: { job_id: e.payload.job_id } })
      if (e.event_type === 'job.progress' || e.event_type === 'job.completed') expect(c).toMatchObject({ event_type: 'job.started', payload: { job_id: e.payload.job_id } })
      if (e.event_type === 'note.updated') expect(c!.event_type).toBe('job.completed')
    }
    // Linking was queued by the embedding's completion.
    const linkingQueued = envs.find((e) => e.event_type === 'job.queued' && e.payload.job_type === 'Linking')!
    expect(cause(linkingQueued).payload.job_type).toBe('Embedding')
    stream.close()
  })

  test('external publishers pass their own ids through; non-UUIDs are refused', async () => {
    const stream = await sse('trace-ext')
    const ids = { correlation_id: '018f7d2d-0003-7000-0002-f147d6a2e70a', causation_id: '018f7d2d-0003-7000-0003-f147d6a2e70a' }
    const res = await s.request('/api/v1/events', { token: admin, body: { memory: 'trace-ext', payload: { type: 'NoteDeleted', note_id: 'n' }, ...ids } })
    const id = ((await res.json()) as { event_id: string }).event_id
    expect(dataOf(await stream.frame((f) => f.id === id, 'the published event'))).toMatchObject(ids)
    const bad = await s.request('/api/v1/events', { token: admin, body: { payload: { type: 'NoteDeleted', note_id: 'n' }, correlation_id: 'req-42' } })
    expect(bad.status).toBe(422)
    stream.close()
  })
})
