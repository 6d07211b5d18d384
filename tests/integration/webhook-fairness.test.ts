/**
 * Fair delivery (docs/webhooks.md#fairness-between-memories-and-endpoints): a receiver that never answers
 * must not hold every delivery slot, and an endpoint that keeps timing out is disabled.
 * Ordering is asserted with events (what had happened when a request arrived), not wall-clock thresholds.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor, within } from '../helpers/wait.ts'

type Json = Record<string, any>

const receivers: Receiver[] = []
async function receiver(): Promise<Receiver> {
  const r = await startReceiver()
  receivers.push(r)
  return r
}
afterAll(async () => {
  for (const r of receivers) await r.stop()
})

async function createHook(s: TestServer, token: string, memory: string, body: Json): Promise<Json> {
  const res = await s.request('/api/v1/webhooks', { token, body: { events: ['*'], ...body, memory } })
  expect(res.status).toBe(201)
  return (await res.json()) as Json
}

async function publish(s: TestServer, token: string, memory: string, noteId: string): Promise<string> {
  const res = await s.request('/api/v1/events', { token, body: { memory, payload: { type: 'NoteDeleted', note_id: noteId } } })
  expect(res.status).toBe(202)
  return ((await res.json()) as Json).event_id
}

const attemptsOf = (s: TestServer, ids: string[]) =>
  (s.db.query(`SELECT COUNT(*) AS n FROM webhook_attempts WHERE webhook_id IN (SELECT value FROM json_each(?))`).get(JSON.stringify(ids)) as { n: number }).n

describe('a memory whose receiver never answers does not starve another memory', () => {
  let s: TestServer
  let admin: string
  beforeAll(async () => {
    s = await startServer({
      env: {
        MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true',
        MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000',
        MATRIC_WEBHOOK_TIMEOUT_MS: '4000',
        MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '60000',
        // defaults otherwise: 16 slots in total, 4 per webhook, 8 per memory
      },
    })
    admin = await s.token({ memory: '*' })
  })
  afterAll(() => s.stop())

  test("memory B's delivery arrives while memory A's requests are all still hanging", async () => {
    const hanging = await receiver()
    hanging.reply = () => hanging.hold()
    const healthy = await receiver()
    const hooksA: string[] = []
    for (let i = 0; i < 4; i++) hooksA.push((await createHook(s, admin, 'noisy-a', { url: hanging.url + `/a${i}` })).id)
    await createHook(s, admin, 'quiet-b', { url: healthy.url + '/b' })

    // 4 webhooks × 4 events = 16 deliveries of A: without a per-memory cap they take all 16 slots.
    for (let i = 0; i < 4; i++) await publish(s, admin, 'noisy-a', `a${i}`)
    await hanging.waitForRequests(8, "memory A's requests hanging")

    // What had happened to A when B's request arrived (recorded synchronously on arrival).
    let atArrival: { attemptsA: number; hangingA: number } | undefined
    healthy.reply = () => {
      atArrival ??= { attemptsA: attemptsOf(s, hooksA), hangingA: hanging.requests.length }
      return new Response('ok')
    }
    const eventB = await publish(s, admin, 'quiet-b', 'b1')
    const [req] = await healthy.waitForRequests(1, "memory B's delivery", 10_000)
    expect(JSON.parse(req!.body).event_id).toBe(eventB)
    // No attempt of A had finished (none timed out): B did not wait for A's slots.
    expect(atArrival).toEqual({ attemptsA: 0, hangingA: 8 })
    // A still holds no more than its share while B is served.
    expect(hanging.requests.length).toBe(8)
  })
})

describe('slots are served round-robin across webhooks', () => {
  let s: TestServer
  let admin: string
  beforeAll(async () => {
    s = await startServer({
      env: {
        MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true',
        MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000',
        MATRIC_WEBHOOK_CONCURRENCY: '2',
        MATRIC_WEBHOOK_ENDPOINT_CONCURRENCY: '2',
        MATRIC_WEBHOOK_MEMORY_CONCURRENCY: '2',
      },
    })
    admin = await s.token({ memory: '*' })
  })
  afterAll(() => s.stop())

  test('a freed slot goes to the webhook with fewer attempts in flight, not to older rows of a busy one', async () => {
    // X never answers; Y answers, but holds its first request until every event is queued.
    const x = await receiver()
    x.reply = () => x.hold()
    const y = await receiver()
    let queued!: () => void
    const allQueued = new Promise<void>((resolve) => (queued = resolve))
    const xAtArrival: number[] = []
    y.reply = async (_req, n) => {
      xAtArrival.push(x.requests.length)
      if (n === 0) await allQueued
      return new Response('ok')
    }
    await createHook(s, admin, 'rr', { url: x.url + '/x' })
    await createHook(s, admin, 'rr', { url: y.url + '/y' })
    // Each event queues X's row before Y's: X's rows are always the older ones.
    await publish(s, admin, 'rr', 'n0')
    await x.waitForRequests(1, "X's first request")
    await y.waitForRequests(1, "Y's first request")
    for (let i = 1; i < 5; i++) await publish(s, admin, 'rr', `n${i}`)
    queued()
    // Every slot Y frees goes back to Y (0 in flight) rather than to X (1 in flight), although X's rows are older.
    await waitFor(() => y.requests.length >= 5 || x.requests.length >= 2, "Y's backlog or X's second slot")
    expect(y.requests.map((r) => JSON.parse(r.body).payload.note_id)).toEqual(['n0', 'n1', 'n2', 'n3', 'n4'])
    expect(xAtArrival).toEqual([1, 1, 1, 1, 1])
    // With Y done, X may use its second slot.
    await x.waitForRequests(2, "X's second request once Y has nothing due")
  })
})

describe('an endpoint that keeps timing out', () => {
  let s: TestServer
  let admin: string
  beforeAll(async () => {
    s = await startServer({
      env: {
        MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true',
        MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000',
        MATRIC_WEBHOOK_TIMEOUT_MS: '150',
        MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '10',
        MATRIC_WEBHOOK_DISABLE_AFTER: '3',
      },
    })
    admin = await s.token({ memory: '*' })
  })
  afterAll(() => s.stop())

  test('is disabled after MATRIC_WEBHOOK_DISABLE_AFTER consecutive timed-out attempts, even with retries left', async () => {
    const r = await receiver()
    r.reply = () => r.hold()
    const w = await createHook(s, admin, 'timeouts', { url: r.url, max_retries: 10 })
    await publish(s, admin, 'timeouts', 't1')
    const disabled = await waitFor(
      async () => {
        const x = (await (await s.request(`/api/v1/webhooks/${w.id}`, { token: admin })).json()) as Json
        return x.is_active ? null : x
      },
      'webhook disabled by timeouts',
      8000,
    )
    expect(disabled.consecutive_failures).toBe(3)
    expect(disabled.disabled_reason).toBe('3 consecutive failed deliveries or timed-out attempts (last: timed out after 150 ms)')
    const log = (await (await s.request(`/api/v1/webhooks/${w.id}/deliveries`, { token: admin })).json()) as Json[]
    expect(log.map((a) => a.error)).toEqual(['timed out after 150 ms', 'timed out after 150 ms', 'timed out after 150 ms'])
    // The delivery is paused (retries left), not dropped: it resumes when the webhook is re-enabled.
    const row = s.db.query('SELECT status FROM webhook_deliveries WHERE webhook_id = ?').get(w.id) as { status: string }
    expect(row.status).toBe('retrying')
    r.reply = () => new Response('ok')
    const res = await s.request(`/api/v1/webhooks/${w.id}`, { token: admin, method: 'PATCH', body: { is_active: true } })
    expect(res.status).toBe(200)
    await within(
      waitFor(() => (s.db.query('SELECT status FROM webhook_deliveries WHERE webhook_id = ?').get(w.id) as { status: string }).status === 'succeeded', 'resumed'),
      'the paused delivery succeeds after re-enabling',
    )
  })

  test('a success in between resets the count: the timeouts must be consecutive', async () => {
    const r = await receiver()
    r.script([() => r.hold(), () => r.hold(), 200, () => r.hold(), () => r.hold()], 200)
    const w = await createHook(s, admin, 'timeouts-reset', { url: r.url, max_retries: 10 })
    await publish(s, admin, 'timeouts-reset', 't1')
    await r.waitForRequests(3, 'first delivery: two timeouts, then delivered')
    await publish(s, admin, 'timeouts-reset', 't2')
    const log = await waitFor(async () => {
      const l = (await (await s.request(`/api/v1/webhooks/${w.id}/deliveries`, { token: admin })).json()) as Json[]
      return l.filter((a) => a.success).length === 2 ? l : null
    }, 'both delivered on their third attempt')
    expect(log).toHaveLength(6) // 4 timeouts in all, never 3 in a row
    const hook = (await (await s.request(`/api/v1/webhooks/${w.id}`, { token: admin })).json()) as Json
    expect(hook).toMatchObject({ is_active: true, consecutive_failures: 0 })
  })
})
