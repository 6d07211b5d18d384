/**
 * An endpoint the outbox disables by itself announces it: a `webhook.disabled` event of its memory on SSE and to
 * the memory's other webhooks that subscribe to it (never on the WebSocket, never to tag-restricted streams),
 * and the matric_webhooks_disabled_total counter.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { dataOf, SseClient } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { WsClient } from '../helpers/ws-client.ts'

type Json = Record<string, any>

let s: TestServer
let admin: string
const receivers: Receiver[] = []
const streams: SseClient[] = []

beforeAll(async () => {
  s = await startServer({
    env: {
      MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true',
      MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '10',
      MATRIC_WEBHOOK_POLL_MS: '20',
      MATRIC_WEBHOOK_DISABLE_AFTER: '2',
      MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000',
    },
  })
  admin = await s.token({ memory: '*' })
})
afterAll(async () => {
  for (const c of streams) c.close()
  for (const r of receivers) await r.stop()
  await s.stop()
})

async function receiver(status = 200): Promise<Receiver> {
  const r = await startReceiver({ reply: () => new Response(status === 200 ? 'ok' : 'gone away', { status }) })
  receivers.push(r)
  return r
}

async function hook(memory: string, url: string, events: string[]): Promise<Json> {
  const res = await s.request('/api/v1/webhooks', { token: admin, body: { url, events, max_retries: 0 }, headers: { 'x-matric-memory': memory } })
  expect(res.status).toBe(201)
  return (await res.json()) as Json
}

async function publish(memory: string, noteId: string): Promise<void> {
  const res = await s.request('/api/v1/events', { token: admin, body: { memory, payload: { type: 'NoteDeleted', note_id: noteId } } })
  expect(res.status).toBe(202)
}

async function sse(memory: string, token = admin, query = ''): Promise<SseClient> {
  const c = await SseClient.open(`${s.url}/api/v1/events?memory=${memory}${query}`, { headers: { authorization: `Bearer ${token}` } })
  expect(c.status).toBe(200)
  streams.push(c)
  return c
}

async function metric(cause: string): Promise<number> {
  const text = await (await s.request('/metrics')).text()
  const m = new RegExp(`^matric_webhooks_disabled_total\\{cause="${cause}"\\} (\\d+)`, 'm').exec(text)
  return m ? Number(m[1]) : NaN
}

test('consecutive failures: webhook.disabled on SSE and to subscribing webhooks, counted, never on the WebSocket', async () => {
  const memory = 'wd-fail'
  const failing = await receiver(500)
  const named = await receiver()
  const wildcard = await receiver()
  const notes = await receiver()
  const bad = await hook(memory, `${failing.url}/bad`, ['note'])
  await hook(memory, `${named.url}/named`, ['webhook.disabled'])
  await hook(memory, `${wildcard.url}/all`, ['*'])
  await hook(memory, `${notes.url}/notes`, ['note'])
  await hook('wd-elsewhere', `${named.url}/elsewhere`, ['webhook']) // another memory: never told
  const stream = await sse(memory)
  const tagged = await sse(memory, await s.token({ memory, scope: 'read', tags: ['a'] }))
  const filtered = await sse(memory, admin, '&types=webhook')
  const ws = await WsClient.connect(`${s.wsUrl}?token=${admin}&memory=${memory}`)
  const before = await metric('consecutive_failures')

  await publish(memory, 'n-1')
  await publish(memory, 'n-2')
  const frame = await stream.frame((f) => f.event === 'webhook.disabled', 'webhook.disabled on SSE')
  const env = dataOf<Json>(frame)
  expect(env).toMatchObject({
    event_type: 'webhook.disabled',
    memory,
    entity_type: 'webhook',
    entity_id: bad.id,
    actor: { kind: 'system' },
    payload: { type: 'WebhookDisabled', webhook_id: bad.id, cause: 'consecutive_failures', consecutive_failures: 2 },
  })
  expect(env.payload.reason).toContain('2 consecutive failed deliveries')
  expect(JSON.stringify(env)).not.toContain(failing.url) // the URL may carry the receiver's token

  const got = (r: Receiver) => r.requests.map((q) => JSON.parse(q.body) as Json)
  await waitFor(() => got(named).some((e) => e.event_type === 'webhook.disabled'), 'the named subscriber')
  await waitFor(() => got(wildcard).some((e) => e.event_type === 'webhook.disabled'), 'the * subscriber')
  expect(got(named).find((e) => e.event_type === 'webhook.disabled')!.event_id).toBe(env.event_id)
  expect(named.requests.find((q) => q.path === '/elsewhere')).toBeUndefined()
  await filtered.frame((f) => f.event === 'webhook.disabled', 'types=webhook selects it')
  expect(await metric('consecutive_failures')).toBe(before + 1)

  // The same state over REST, and nothing more for the disabled endpoint itself.
  const w = (await (await s.request(`/api/v1/webhooks/${bad.id}`, { token: admin })).json()) as Json
  expect(w).toMatchObject({ is_active: false, disabled_reason: env.payload.reason })
  expect(failing.requests).toHaveLength(2)
  // Once the note subscriber has the second note, everything published before the disable was delivered.
  await notes.waitForRequests(2)
  expect(got(notes).map((e) => e.event_type)).toEqual(['note.deleted', 'note.deleted'])
  await publish(memory, 'n-3') // a later event: the tagged stream and the WebSocket have had their chance
  await stream.frame((f) => f.event === 'note.deleted' && dataOf<Json>(f).payload.note_id === 'n-3', 'the later event')
  expect(tagged.events.some((f) => f.event === 'webhook.disabled')).toBe(false)
  expect(ws.frames.some((f) => (f as Json).type === 'WebhookDisabled')).toBe(false)
  ws.close()
})

test('410 Gone: cause gone', async () => {
  const memory = 'wd-gone'
  const gone = await receiver(410)
  const bad = await hook(memory, `${gone.url}/gone`, ['note'])
  const stream = await sse(memory)
  const before = await metric('gone')
  await publish(memory, 'n-1')
  const env = dataOf<Json>(await stream.frame((f) => f.event === 'webhook.disabled', 'webhook.disabled'))
  expect(env.payload).toMatchObject({ webhook_id: bad.id, cause: 'gone' })
  expect(await metric('gone')).toBe(before + 1)
})

test('disabling by hand (PATCH is_active false) announces nothing', async () => {
  const memory = 'wd-manual'
  const r = await receiver()
  const w = await hook(memory, `${r.url}/manual`, ['note'])
  const stream = await sse(memory)
  const res = await s.request(`/api/v1/webhooks/${w.id}`, { token: admin, method: 'PATCH', body: { is_active: false } })
  expect(res.status).toBe(200)
  await publish(memory, 'after')
  await stream.frame((f) => f.event === 'note.deleted', 'the next event')
  expect(stream.events.some((f) => f.event === 'webhook.disabled')).toBe(false)
})

test('webhook.disabled cannot be published from outside (only the outbox says an endpoint is disabled)', async () => {
  const payload = { type: 'WebhookDisabled', webhook_id: 'w', reason: 'forged', cause: 'gone', consecutive_failures: 1 }
  const res = await s.request('/api/v1/events', { token: admin, body: { memory: 'wd-forged', payload } })
  expect(res.status).toBe(422)
})
