import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

type Json = Record<string, any>

let s: TestServer
let admin: string
const receivers: Receiver[] = []

beforeAll(async () => {
  s = await startServer({
    env: {
      MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true',
      MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '20,40,80',
      MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000',
      MATRIC_WEBHOOK_POLL_MS: '50',
      // The trailing QueueStatus after job events (at most one per memory per interval) is not what these tests
      // count: a minute puts it past them, whatever the speed of the store.
      MATRIC_QUEUE_STATUS_INTERVAL_MS: '60000',
    },
  })
  admin = await s.token({ memory: '*' })
})
afterAll(async () => {
  await s.stop()
  for (const r of receivers) await r.stop()
})

async function receiver(): Promise<Receiver> {
  const r = await startReceiver()
  receivers.push(r)
  return r
}

async function createHook(memory: string, body: Json, server = s, token = admin): Promise<Json> {
  const res = await server.request('/api/v1/webhooks', { token, body, headers: { 'x-matric-memory': memory } })
  expect(res.status).toBe(201)
  return (await res.json()) as Json
}

async function publish(memory: string, payload: Json, server = s, token = admin): Promise<string> {
  const res = await server.request('/api/v1/events', { token, body: { memory, payload } })
  expect(res.status).toBe(202)
  return ((await res.json()) as Json).event_id
}

const completed = (jobId = 'j-1') => ({ type: 'JobCompleted', job_id: jobId, job_type: 'Embedding' })

async function attemptLog(id: string, server = s, token = admin): Promise<Json[]> {
  const res = await server.request(`/api/v1/webhooks/${id}/deliveries?limit=500`, { token })
  expect(res.status).toBe(200)
  return (await res.json()) as Json[]
}

const waitAttempts = (id: string, n: number, server = s, token = admin) =>
  waitFor(async () => {
    const log = await attemptLog(id, server, token)
    return log.length >= n ? log : null
  }, `${n} attempt log entries for webhook ${id}`)

const getHook = async (id: string, server = s): Promise<Json> => (await (await server.request(`/api/v1/webhooks/${id}`, { token: admin })).json()) as Json

/** Delivery rows are written before the publishing request answers (onCommitted): exact, no waiting needed. */
const deliveryRows = (webhookId: string, server = s) =>
  server.query<{ event_type: string; status: string }>('SELECT event_type, status FROM webhook_deliveries WHERE webhook_id = ? ORDER BY seq', webhookId)

function verifyMatric(secret: string, body: string, header: string): boolean {
  const expected = Buffer.from('sha256=' + createHmac('sha256', Buffer.from(secret, 'utf8')).update(body, 'utf8').digest('hex'))
  return header.split(' ').some((v) => v.length === expected.length && timingSafeEqual(Buffer.from(v), expected))
}

describe('signing', () => {
  test('body is the envelope byte for byte; both signatures verify independently', async () => {
    const r = await receiver()
    const w = await createHook('sig', { url: r.url + '/hook?x=1', events: ['job'] })
    const eventId = await publish('sig', completed())
    const [req] = await r.waitForRequests(1)
    const [logged] = await s.query<{ envelope: string }>('SELECT envelope FROM events WHERE event_id = ?', eventId)
    expect(req!.body).toBe(logged!.envelope)
    expect(req!.method).toBe('POST')
    expect(req!.path).toBe('/hook?x=1')
    const h = req!.headers
    expect(h['content-type']).toBe('application/json')
    expect(h['user-agent']).toMatch(/^matric-realtime\/\d+\.\d+\.\d+/)
    expect(h['x-matric-event']).toBe('JobCompleted')
    expect(h['x-matric-delivery']).toMatch(/^[0-9a-f-]{36}$/)
    expect(h['webhook-id']).toBe(h['x-matric-delivery']!)
    expect(Math.abs(Number(h['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60)
    // Standard Webhooks, with the reference package.
    expect(new Webhook(w.secret).verify(req!.body, h)).toMatchObject({ event_id: eventId, event_type: 'job.completed' })
    // Ours, with node:crypto.
    expect(h['x-matric-signature']).toMatch(/^sha256=[0-9a-f]{64}$/)
    expect(verifyMatric(w.secret, req!.body, h['x-matric-signature']!)).toBe(true)
    expect(verifyMatric('whsec_wrong', req!.body, h['x-matric-signature']!)).toBe(false)
  })

  test('a non-whsec secret: the Standard Webhooks key is its UTF-8 bytes', async () => {
    const r = await receiver()
    const secret = 'plain-shared-secret-1234'
    await createHook('sig-plain', { url: r.url, events: ['*'], secret })
    await publish('sig-plain', completed())
    const [req] = await r.waitForRequests(1)
    expect(new Webhook(new TextEncoder().encode(secret), { format: 'raw' }).verify(req!.body, req!.headers)).toBeTruthy()
    expect(verifyMatric(secret, req!.body, req!.headers['x-matric-signature']!)).toBe(true)
  })

  test('rotation: the old and the new secret both sign for 24 h', async () => {
    const r = await receiver()
    const w = await createHook('rotate', { url: r.url, events: ['*'] })
    const rotated = (await (await s.request(`/api/v1/webhooks/${w.id}/rotate-secret`, { token: admin, method: 'POST' })).json()) as Json
    expect(rotated.secret).not.toBe(w.secret)
    await publish('rotate', completed())
    const [req] = await r.waitForRequests(1)
    const h = req!.headers
    expect(h['webhook-signature']!.split(' ')).toHaveLength(2)
    expect(h['x-matric-signature']!.split(' ')).toHaveLength(2)
    // A receiver holding either secret verifies the delivery.
    expect(new Webhook(rotated.secret).verify(req!.body, h)).toBeTruthy()
    expect(new Webhook(w.secret).verify(req!.body, h)).toBeTruthy()
    expect(verifyMatric(rotated.secret, req!.body, h['x-matric-signature']!)).toBe(true)
    expect(verifyMatric(w.secret, req!.body, h['x-matric-signature']!)).toBe(true)
    // Newest first.
    expect(verifyMatric(rotated.secret, req!.body, h['x-matric-signature']!.split(' ')[0]!)).toBe(true)
  })
})

describe('delivery rules', () => {
  test('500, 500, 200: delivered on the third attempt, three attempt log entries, stable delivery id', async () => {
    const r = await receiver()
    r.script([500, 500, 200])
    const w = await createHook('retry', { url: r.url, events: ['job.completed'] })
    const eventId = await publish('retry', completed())
    const reqs = await r.waitForRequests(3)
    const log = await waitAttempts(w.id, 3)
    expect(log.map((a) => a.attempt)).toEqual([3, 2, 1]) // newest first
    expect(log.map((a) => a.status_code)).toEqual([200, 500, 500])
    expect(log.map((a) => a.success)).toEqual([true, false, false])
    expect(log.every((a) => a.event_id === eventId && a.event_type === 'job.completed')).toBe(true)
    expect(new Set(log.map((a) => a.delivery_id)).size).toBe(1)
    expect(log[2]!.error).toContain('500')
    expect(log[0]!.error).toBeUndefined()
    expect(log[1]!.response_excerpt).toBe('status 500')
    expect(new Set(reqs.map((q) => q.headers['webhook-id'])).size).toBe(1)
    expect(reqs[0]!.headers['webhook-id']).toBe(log[0]!.delivery_id)
    expect(reqs.every((q) => q.body === reqs[0]!.body)).toBe(true)
    expect((await getHook(w.id)).consecutive_failures).toBe(0)
  })

  test('410 Gone disables the webhook with the reason; it gets no new deliveries', async () => {
    const r = await receiver()
    r.script([410])
    const w = await createHook('gone', { url: r.url, events: ['*'] })
    await publish('gone', completed())
    const disabled = await waitFor(async () => {
      const x = await getHook(w.id)
      return x.is_active ? null : x
    }, 'webhook disabled after 410')
    expect(disabled.disabled_reason).toContain('410')
    const [entry] = await attemptLog(w.id)
    expect(entry).toMatchObject({ status_code: 410, success: false, attempt: 1 })
    await publish('gone', completed('j-2'))
    expect(await deliveryRows(w.id)).toEqual([{ event_type: 'job.completed', status: 'failed' }])
    // Test and retry need an active webhook.
    expect((await s.request(`/api/v1/webhooks/${w.id}/test`, { token: admin, method: 'POST' })).status).toBe(409)
  })

  test('404 fails without retry', async () => {
    const r = await receiver()
    r.script([404])
    const w = await createHook('notfound', { url: r.url, events: ['*'], max_retries: 5 })
    const first = await publish('notfound', completed('first'))
    const [entry] = await waitAttempts(w.id, 1)
    expect(entry).toMatchObject({ status_code: 404, success: false, attempt: 1, event_id: first })
    expect(entry!.error).toContain('404')
    expect(await deliveryRows(w.id)).toEqual([{ event_type: 'job.completed', status: 'failed' }])
    // The next request the receiver sees is the next event, not a retry of the first.
    const second = await publish('notfound', completed('second'))
    const reqs = await r.waitForRequests(2)
    expect(reqs.map((q) => JSON.parse(q.body).event_id)).toEqual([first, second])
  })

  test('Retry-After is honoured: the next attempt is not before it', async () => {
    const r = await receiver()
    r.script([new Response('slow down', { status: 429, headers: { 'retry-after': '1' } })])
    const w = await createHook('retry-after', { url: r.url, events: ['*'] })
    await publish('retry-after', completed())
    const reqs = await r.waitForRequests(2)
    expect(reqs[1]!.at - reqs[0]!.at).toBeGreaterThanOrEqual(1000)
    const log = await waitAttempts(w.id, 2)
    expect(log.map((a) => a.status_code)).toEqual([200, 429])
  })

  test('a redirect is a failure and is never followed', async () => {
    const internal = await receiver()
    const r = await receiver()
    r.script([new Response(null, { status: 302, headers: { location: `${internal.url}/admin` } })])
    const w = await createHook('redirect', { url: r.url, events: ['*'] })
    await publish('redirect', completed())
    const [entry] = await waitAttempts(w.id, 1)
    expect(entry).toMatchObject({ status_code: 302, success: false })
    expect(entry!.error).toContain('not followed')
    expect((await deliveryRows(w.id))[0]!.status).toBe('failed')
    expect(internal.requests).toHaveLength(0)
    expect(r.requests).toHaveLength(1)
  })

  test('network errors are retried', async () => {
    const r = await receiver()
    const url = r.url
    await r.stop() // nothing listens any more
    const w = await createHook('down', { url, events: ['*'], max_retries: 1 })
    await publish('down', completed())
    const log = await waitAttempts(w.id, 2)
    expect(log.every((a) => a.status_code === undefined && a.success === false)).toBe(true)
    expect(log[1]!.error).toContain('network error')
    expect(log[0]!.error).toContain('no retries left')
  })

  test('a timeout is retried', async () => {
    const t = await startServer({ env: { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_TIMEOUT_MS: '250', MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '10' } })
    try {
      const token = await t.token()
      const r = await receiver()
      r.script([() => r.hold()]) // the first request never gets an answer
      const w = await createHook('default', { url: r.url, events: ['*'] }, t, token)
      await publish('default', completed(), t, token)
      const log = await waitAttempts(w.id, 2, t, token)
      expect(log[1]).toMatchObject({ attempt: 1, success: false, error: 'timed out after 250 ms' })
      expect(log[1]!.status_code).toBeUndefined()
      expect(log[0]).toMatchObject({ attempt: 2, success: true, status_code: 200 })
    } finally {
      await t.stop()
    }
  })
})

describe('filters and memories', () => {
  test('dotted, legacy, prefix and * (without queue.status and job.progress)', async () => {
    const r = await receiver()
    const hooks = {
      prefix: await createHook('filters', { url: r.url + '/prefix', events: ['job'] }),
      legacy: await createHook('filters', { url: r.url + '/legacy', events: ['JobCompleted'] }),
      wildcard: await createHook('filters', { url: r.url + '/wildcard', events: ['*'] }),
      named: await createHook('filters', { url: r.url + '/named', events: ['note.deleted', 'queue.status', 'JobProgress'] }),
    }
    await s.ctx.queueStatus.sendNow('filters')
    await publish('filters', { type: 'JobProgress', job_id: 'j', job_type: 'Embedding', progress: 50, progress_percent: 50 })
    await publish('filters', completed('j'))
    await publish('filters', { type: 'NoteCreated', note_id: 'n', tags: [] })
    await publish('filters', { type: 'NoteDeleted', note_id: 'n' })
    const types = async (id: string) => (await deliveryRows(id)).map((d) => d.event_type)
    expect(await types(hooks.prefix.id)).toEqual(['job.progress', 'job.completed'])
    expect(await types(hooks.legacy.id)).toEqual(['job.completed'])
    expect(await types(hooks.wildcard.id)).toEqual(['job.completed', 'note.created', 'note.deleted'])
    expect(await types(hooks.named.id)).toEqual(['queue.status', 'job.progress', 'note.deleted'])
    const reqs = await r.waitForRequests(2 + 1 + 3 + 3)
    const got = (path: string) => reqs.filter((q) => q.path === path).map((q) => q.headers['x-matric-event'])
    expect(got('/legacy')).toEqual(['JobCompleted'])
    expect(got('/wildcard').sort()).toEqual(['JobCompleted', 'NoteCreated', 'NoteDeleted'])
    expect(got('/named').sort()).toEqual(['JobProgress', 'NoteDeleted', 'QueueStatus'])
  })

  test("a webhook of memory A never gets memory B's events", async () => {
    const r = await receiver()
    const a = await createHook('mem-a', { url: r.url + '/a', events: ['*'] })
    await publish('mem-b', completed('b-job'))
    const mine = await publish('mem-a', completed('a-job'))
    expect(await deliveryRows(a.id)).toHaveLength(1)
    const [req] = await r.waitForRequests(1)
    expect(JSON.parse(req!.body)).toMatchObject({ event_id: mine, memory: 'mem-a' })
    // Events of the app itself (a note created through the API) reach the webhook of their memory.
    const note = await s.request('/api/v1/notes', { token: admin, body: { content: 'hello webhooks', title: 'T' }, headers: { 'x-matric-memory': 'mem-a' } })
    expect(note.status).toBe(201)
    const noteId = ((await note.json()) as Json).id
    await waitFor(() => r.requests.some((q) => q.headers['x-matric-event'] === 'NoteCreated' && JSON.parse(q.body).payload.note_id === noteId), 'NoteCreated delivered')
    expect(r.requests.every((q) => JSON.parse(q.body).memory === 'mem-a')).toBe(true)
  })
})

describe('failure counting', () => {
  test('disabled after 10 consecutive failed deliveries; PATCH is_active re-enables and resets', async () => {
    const r = await receiver()
    r.reply = () => new Response('down', { status: 500 })
    const w = await createHook('tenfail', { url: r.url, events: ['*'], max_retries: 0 })
    for (let i = 0; i < 10; i++) await publish('tenfail', completed(`j${i}`))
    const disabled = await waitFor(async () => {
      const x = await getHook(w.id)
      return x.is_active ? null : x
    }, 'webhook disabled after 10 failures')
    expect(disabled.consecutive_failures).toBe(10)
    expect(disabled.disabled_reason).toContain('10 consecutive failed deliveries')
    await publish('tenfail', completed('ignored'))
    expect(await deliveryRows(w.id)).toHaveLength(10)

    r.reply = () => new Response('ok')
    const res = await s.request(`/api/v1/webhooks/${w.id}`, { token: admin, method: 'PATCH', body: { is_active: true } })
    expect((await res.json()) as Json).toMatchObject({ is_active: true, disabled_reason: null, consecutive_failures: 0 })
    const back = await publish('tenfail', completed('back'))
    await waitFor(() => r.requests.some((q) => JSON.parse(q.body).event_id === back), 'delivery after re-enabling')
  })

  test('a success resets the count', async () => {
    const r = await receiver()
    r.script([500, 200])
    const w = await createHook('reset', { url: r.url, events: ['*'], max_retries: 0 })
    await publish('reset', completed('a'))
    await waitFor(async () => (await getHook(w.id)).consecutive_failures === 1, 'one failure counted')
    await publish('reset', completed('b'))
    await waitAttempts(w.id, 2)
    expect((await getHook(w.id)).consecutive_failures).toBe(0)
  })

  test('deliveries queued when a webhook is disabled wait, and resume when it is re-enabled', async () => {
    const r = await receiver()
    r.reply = () => new Response('down', { status: 503 })
    const w = await createHook('paused', { url: r.url, events: ['*'], max_retries: 10 })
    await publish('paused', completed())
    await r.waitForRequests(1)
    await s.request(`/api/v1/webhooks/${w.id}`, { token: admin, method: 'PATCH', body: { is_active: false } })
    await waitFor(async () => (await deliveryRows(w.id))[0]!.status === 'retrying', 'delivery waiting while disabled')
    const health = (await (await s.request('/health')).json()) as Json
    expect(health.webhooks.queue_depth).toBeGreaterThanOrEqual(1)
    const gauge = /matric_webhook_queue_depth (\d+)/.exec(await (await s.request('/metrics')).text())
    expect(Number(gauge?.[1])).toBeGreaterThanOrEqual(1)
    r.reply = () => new Response('ok')
    await s.request(`/api/v1/webhooks/${w.id}`, { token: admin, method: 'PATCH', body: { is_active: true } })
    await waitFor(async () => (await deliveryRows(w.id))[0]!.status === 'succeeded', 'paused delivery delivered after re-enabling')
  })
})

describe('test, retry and metrics', () => {
  test('POST /test sends a queue.status snapshot through the outbox, whatever the filter', async () => {
    const r = await receiver()
    const w = await createHook('testing', { url: r.url, events: ['note.deleted'] })
    const res = await s.request(`/api/v1/webhooks/${w.id}/test`, { token: admin, method: 'POST' })
    expect(res.status).toBe(202)
    const d = (await res.json()) as Json
    expect(d).toMatchObject({ webhook_id: w.id, event_type: 'queue.status', attempts: 0 })
    const [req] = await r.waitForRequests(1)
    expect(req!.headers['x-matric-event']).toBe('QueueStatus')
    expect(req!.headers['webhook-id']).toBe(d.id)
    const body = JSON.parse(req!.body)
    expect(body).toMatchObject({ event_id: d.event_id, event_type: 'queue.status', memory: 'testing', actor: { kind: 'user', id: 'tester' } })
    expect(body.payload).toEqual({ type: 'QueueStatus', total_jobs: 0, running: 0, pending: 0 })
    expect(new Webhook(w.secret).verify(req!.body, req!.headers)).toBeTruthy()
    const [entry] = await waitAttempts(w.id, 1)
    expect(entry).toMatchObject({ delivery_id: d.id, success: true })
  })

  test('manual retry re-queues a failed delivery for an immediate attempt', async () => {
    const r = await receiver()
    r.script([500])
    const w = await createHook('manual', { url: r.url, events: ['*'], max_retries: 0 })
    await publish('manual', completed())
    const [failed] = await waitAttempts(w.id, 1)
    expect(failed!.success).toBe(false)
    const res = await s.request(`/api/v1/webhooks/${w.id}/deliveries/${failed!.delivery_id}/retry`, { token: admin, method: 'POST' })
    expect(res.status).toBe(202)
    expect((await res.json()) as Json).toMatchObject({ id: failed!.delivery_id, status: 'retrying', attempts: 1 })
    const log = await waitAttempts(w.id, 2)
    expect(log[0]).toMatchObject({ delivery_id: failed!.delivery_id, attempt: 2, success: true })
    const reqs = await r.waitForRequests(2)
    expect(reqs[1]!.headers['x-matric-delivery']).toBe(failed!.delivery_id)
    // A delivery of another webhook is not found through this one.
    const other = await createHook('manual', { url: r.url, events: ['note.deleted'] })
    expect((await s.request(`/api/v1/webhooks/${other.id}/deliveries/${failed!.delivery_id}/retry`, { token: admin, method: 'POST' })).status).toBe(404)
  })

  test('metrics count attempts by outcome and record webhook latency', async () => {
    const text = await (await s.request('/metrics')).text()
    expect(text).toMatch(/matric_webhook_deliveries_total\{status="success"\} [1-9]/)
    expect(text).toMatch(/matric_webhook_deliveries_total\{status="retry"\} [1-9]/)
    expect(text).toMatch(/matric_webhook_deliveries_total\{status="failed"\} [1-9]/)
    expect(text).toMatch(/matric_event_latency_ms_count\{transport="webhook"\} [1-9]/)
    expect(text).toContain('matric_webhook_queue_depth')
  })
})

describe('ordering', () => {
  test('first attempts reach a webhook in emission order (per-endpoint concurrency 1)', async () => {
    const o = await startServer({ env: { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_ENDPOINT_CONCURRENCY: '1' } })
    try {
      const token = await o.token()
      const r = await receiver()
      await createHook('default', { url: r.url, events: ['*'] }, o, token)
      const ids: string[] = []
      for (let i = 0; i < 25; i++) ids.push(await publish('default', completed(`j${i}`), o, token))
      const reqs = await r.waitForRequests(25)
      expect(reqs.map((q) => JSON.parse(q.body).event_id)).toEqual(ids)
    } finally {
      await o.stop()
    }
  })
})
