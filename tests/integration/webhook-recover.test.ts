/**
 * POST /api/v1/webhooks/{id}/recover: every delivery of the webhook that failed for good, of events in
 * [since, until), is attempted again with a fresh retry budget; nothing else is sent again.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

type Json = Record<string, any>

let s: TestServer
let admin: string
let r: Receiver
/** Note ids whose deliveries the receiver fails. */
const failing = new Set<string>()

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_POLL_MS: '20', MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000' } })
  admin = await s.token({ memory: '*' })
  r = await startReceiver({
    reply: (req) => (failing.has((JSON.parse(req.body) as Json).payload.note_id) ? new Response('broken', { status: 500 }) : new Response('ok')),
  })
})
afterAll(async () => {
  await r.stop()
  await s.stop()
})

async function hook(memory: string): Promise<Json> {
  const res = await s.request('/api/v1/webhooks', { token: admin, body: { url: `${r.url}/${memory}`, events: ['note.deleted'], max_retries: 0 }, headers: { 'x-matric-memory': memory } })
  expect(res.status).toBe(201)
  return (await res.json()) as Json
}

const publish = async (memory: string, noteId: string) =>
  expect((await s.request('/api/v1/events', { token: admin, body: { memory, payload: { type: 'NoteDeleted', note_id: noteId } } })).status).toBe(202)

const log = async (id: string): Promise<Json[]> => (await (await s.request(`/api/v1/webhooks/${id}/deliveries?limit=500`, { token: admin })).json()) as Json[]
const waitLog = (id: string, n: number) => waitFor(async () => ((await log(id)).length >= n ? log(id) : null), `${n} attempts of ${id}`)
const recover = (id: string, body: unknown, token = admin) => s.request(`/api/v1/webhooks/${id}/recover`, { token, body })

test('re-delivers exactly the failed deliveries inside the window, once', async () => {
  const w = await hook('rc-a')
  failing.add('old').add('f1').add('f2')
  await publish('rc-a', 'old')
  await waitLog(w.id, 1)
  const since = new Date(Date.now() + 2).toISOString()
  await Bun.sleep(5) // a clock tick between "old" and the window start (the window is by event time, in ms)
  for (const id of ['f1', 'ok1', 'f2', 'ok2']) await publish('rc-a', id)
  const first = await waitLog(w.id, 5)
  const byNote = new Map<string, Json>()
  for (const q of r.requests) byNote.set((JSON.parse(q.body) as Json).payload.note_id, q)
  const failedInWindow = first.filter((a) => !a.success && a.delivery_id !== byNote.get('old')!.headers['webhook-id']).map((a) => a.delivery_id).sort()
  expect(failedInWindow).toHaveLength(2)

  failing.clear()
  const before = r.requests.length
  const res = await recover(w.id, { since })
  expect(res.status).toBe(202)
  const body = (await res.json()) as Json
  expect(body).toMatchObject({ webhook_id: w.id, since, recovered: 2 })
  expect([...body.delivery_ids].sort()).toEqual(failedInWindow)
  const after = await waitLog(w.id, 7)
  expect(after.slice(0, 2).map((a) => a.delivery_id).sort()).toEqual(failedInWindow)
  expect(after.slice(0, 2).every((a) => a.success && a.attempt === 2)).toBe(true)
  await r.waitForRequests(before + 2)
  expect(r.requests.slice(before).map((q) => q.headers['webhook-id']).sort()).toEqual(failedInWindow)

  // Again: nothing is failed any more, so nothing is sent; the one before the window is still failed.
  const again = (await (await recover(w.id, { since })).json()) as Json
  expect(again.recovered).toBe(0)
  const all = (await (await recover(w.id, { since: '2000-01-01T00:00:00Z' })).json()) as Json
  expect(all).toMatchObject({ recovered: 1, delivery_ids: [byNote.get('old')!.headers['webhook-id']] })
})

test('until bounds the window; bad times are 422', async () => {
  const w = await hook('rc-b')
  failing.add('b1')
  await publish('rc-b', 'b1')
  await waitLog(w.id, 1)
  const past = (await (await recover(w.id, { since: '2000-01-01T00:00:00Z', until: '2001-01-01T00:00:00Z' })).json()) as Json
  expect(past).toMatchObject({ recovered: 0, delivery_ids: [] })
  for (const body of [{ since: 'yesterday' }, { since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' }, {}, { since: '2026-01-01T00:00:00Z', extra: 1 }]) {
    const res = await recover(w.id, body)
    expect(res.status).toBe(422)
  }
  failing.clear()
})

test('disabled → 409; another memory → 404; not admin or tag-restricted → 403; no token → 401', async () => {
  const w = await hook('rc-c')
  const since = { since: '2000-01-01T00:00:00Z' }
  expect((await recover(w.id, since, await s.token({ memory: 'rc-other' }))).status).toBe(404)
  expect((await recover(w.id, since, await s.token({ memory: 'rc-c', scope: 'read write' }))).status).toBe(403)
  expect((await recover(w.id, since, await s.token({ memory: 'rc-c', tags: ['x'] }))).status).toBe(403)
  expect((await s.request(`/api/v1/webhooks/${w.id}/recover`, { body: since })).status).toBe(401)
  expect((await s.request(`/api/v1/webhooks/${w.id}`, { token: admin, method: 'PATCH', body: { is_active: false } })).status).toBe(200)
  const res = await recover(w.id, since)
  expect(res.status).toBe(409)
  expect(((await res.json()) as Json).message).toContain('disabled')
})
