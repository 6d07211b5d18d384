import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rawWs } from '../helpers/raw-ws.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'
import { WsClient } from '../helpers/ws-client.ts'

let s: TestServer
let admin: string

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_WS_BACKPRESSURE_BYTES: '65536', MATRIC_ALLOWED_ORIGINS: 'https://hotm.example' } })
  admin = await s.token({ memory: '*' })
})
afterAll(() => s.stop())

const wsCount = async () => ((await (await s.request('/health')).json()) as { connections: { ws: number } }).connections.ws
const publish = (payload: Record<string, unknown>, memory?: string) =>
  s.request('/api/v1/events', { token: admin, body: { ...(memory ? { memory } : {}), payload } })

describe('credentials and admission (before the upgrade)', () => {
  test('missing, malformed, badly signed and expired tokens get HTTP 401 with a JSON body, never an upgrade', async () => {
    const expired = await s.token({ ttlS: -60 })
    const forged = admin.slice(0, -4) + (admin.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    for (const [name, query] of [
      ['none', ''],
      ['malformed', '?token=not-a-jwt'],
      ['bad signature', `?token=${forged}`],
      ['expired', `?token=${expired}`],
    ] as const) {
      const raw = await rawWs(s.port, `/api/v1/ws${query}`)
      expect(raw.status, name).toBe(401)
      raw.destroy()
    }
    const res = await fetch(`${s.url}/api/v1/ws?token=${expired}`, {
      headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
    })
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ error: 'unauthorized', message: 'token expired' })
  })

  test('a plain GET without an upgrade gets 426 with the JSON error shape', async () => {
    const res = await s.request('/api/v1/ws', { token: admin })
    expect(res.status).toBe(426)
    expect(res.headers.get('upgrade')).toBe('websocket')
    expect(((await res.json()) as { error: string }).error).toBe('upgrade_required')
  })

  test('a memory the token does not grant is 403; a read scope is enough', async () => {
    const reader = await s.token({ scope: 'read', memory: 'alpha' })
    const denied = await rawWs(s.port, `/api/v1/ws?token=${reader}&memory=beta`)
    expect(denied.status).toBe(403)
    denied.destroy()
    const ok = await WsClient.connect(`${s.wsUrl}?token=${reader}`)
    ok.close()
  })

  test('token by header, cookie, and bearer subprotocol (answered with `bearer`)', async () => {
    const byHeader = await WsClient.connect(s.wsUrl, undefined, { headers: { authorization: `Bearer ${admin}` } })
    const byCookie = await WsClient.connect(s.wsUrl, undefined, { headers: { cookie: `other=1; matric_token=${admin}` } })
    const bySub = await WsClient.connect(s.wsUrl, ['bearer', admin])
    expect(bySub.ws.protocol).toBe('bearer')
    for (const c of [byHeader, byCookie, bySub]) {
      c.send('refresh')
      await c.next((f) => f.type === 'QueueStatus', 'refresh answer')
      c.close()
    }
  })

  test('Origin allow-list: a listed origin connects, another gets 403', async () => {
    const bad = await rawWs(s.port, `/api/v1/ws?token=${admin}`, { headers: { origin: 'https://evil.example' } })
    expect(bad.status).toBe(403)
    bad.destroy()
    const good = await rawWs(s.port, `/api/v1/ws?token=${admin}`, { headers: { origin: 'https://hotm.example' } })
    expect(good.status).toBe(101)
    good.destroy()
  })

  test('connection cap answers 503 before the upgrade', async () => {
    const small = await startServer({ env: { MATRIC_WS_MAX_CONNECTIONS: '2' } })
    try {
      const t = await small.token()
      const a = await WsClient.connect(`${small.wsUrl}?token=${t}`)
      const b = await WsClient.connect(`${small.wsUrl}?token=${t}`)
      const c = await rawWs(small.port, `/api/v1/ws?token=${t}`)
      expect(c.status).toBe(503)
      c.destroy()
      a.close()
      b.close()
      await waitFor(async () => ((await (await small.request('/health')).json()) as { connections: { ws: number } }).connections.ws === 0, 'slots freed')
      const d = await WsClient.connect(`${small.wsUrl}?token=${t}`)
      d.close()
    } finally {
      await small.stop()
    }
  })
})

describe('isolation', () => {
  test('clients of two memories and a tag-restricted client see exactly their own events', async () => {
    const alpha = await WsClient.connect(`${s.wsUrl}?token=${await s.token({ memory: 'alpha' })}`)
    const beta = await WsClient.connect(`${s.wsUrl}?token=${await s.token({ memory: 'beta' })}`)
    const workOnly = await WsClient.connect(`${s.wsUrl}?token=${await s.token({ memory: 'alpha', scope: 'read write', tags: ['work'] })}`)

    const create = async (memory: string, tags: string[]) => {
      const res = await s.request('/api/v1/notes', { token: admin, body: { content: `note in ${memory} ${tags.join(' ')}`, tags }, headers: { 'x-matric-memory': memory } })
      expect(res.status).toBe(201)
      return ((await res.json()) as { id: string }).id
    }
    const workNote = await create('alpha', ['work'])
    const homeNote = await create('alpha', ['home'])
    const betaNote = await create('beta', ['work'])

    // Each client sees its notes' pipelines complete.
    const done = (c: WsClient, id: string) => c.next((f) => f.type === 'JobCompleted' && f.job_type === 'Linking' && f.note_id === id, `linking of ${id}`)
    await Promise.all([done(alpha, workNote), done(alpha, homeNote), done(beta, betaNote), done(workOnly, workNote)])
    // Memory-wide markers, one per memory, then a final note-scoped marker for the work client.
    const fromAlpha = alpha.frames.length
    const fromBeta = beta.frames.length
    const fromWork = workOnly.frames.length
    await publish({ type: 'JobQueued', job_id: 'marker-alpha', job_type: 'Import' }, 'alpha')
    await publish({ type: 'JobQueued', job_id: 'marker-beta', job_type: 'Import' }, 'beta')
    await publish({ type: 'NoteUpdated', note_id: workNote, tags: ['work'], has_ai_content: false, has_links: false }, 'alpha')
    await alpha.after(fromAlpha, (f) => f.job_id === 'marker-alpha', 'alpha marker')
    await beta.after(fromBeta, (f) => f.job_id === 'marker-beta', 'beta marker')
    await alpha.after(fromAlpha, (f) => f.type === 'NoteUpdated' && f.note_id === workNote, 'alpha sees the final work note update')
    await workOnly.after(fromWork, (f) => f.type === 'NoteUpdated' && f.note_id === workNote && !('title' in f), 'work marker')

    const ids = (c: WsClient) => new Set(c.frames.map((f) => f.note_id).filter(Boolean))
    expect([...ids(alpha)].sort()).toEqual([workNote, homeNote].sort())
    expect([...ids(beta)]).toEqual([betaNote])
    expect([...ids(workOnly)]).toEqual([workNote])
    expect(alpha.frames.some((f) => f.job_id === 'marker-beta')).toBe(false)
    expect(beta.frames.some((f) => f.job_id === 'marker-alpha')).toBe(false)
    // Memory-wide frames without a note are not the tag-restricted client's business.
    expect(workOnly.frames.some((f) => f.job_id === 'marker-alpha')).toBe(false)

    // Its QueueStatus counts only jobs of notes it can see.
    await s.request('/api/v1/jobs', { token: admin, body: { job_type: 'embedding', note_id: homeNote }, headers: { 'x-matric-memory': 'alpha' } })
    workOnly.send('refresh')
    const qs = await workOnly.after(workOnly.frames.length, (f) => f.type === 'QueueStatus' && f.event_id === undefined, 'restricted refresh')
    const restricted = (await (await s.request('/api/v1/jobs/stats', { token: await s.token({ memory: 'alpha', tags: ['work'] }) })).json()) as {
      total_jobs: number
    }
    expect(qs.total_jobs).toBe(restricted.total_jobs)
    for (const c of [alpha, beta, workOnly]) c.close()
  }, 30_000)
})

describe('ugly cases', () => {
  test('an oversized frame closes the socket with 1009; the server keeps serving', async () => {
    const c = await WsClient.connect(`${s.wsUrl}?token=${admin}`)
    c.send('x'.repeat(5000))
    const closed = await c.waitClose()
    expect(closed.code).toBe(1009)
    expect((await s.request('/health')).status).toBe(200)
  })

  test('a client that never reads is closed with 1013 "slow consumer" while the others keep receiving', async () => {
    const good = await WsClient.connect(`${s.wsUrl}?token=${admin}`)
    const slow = await rawWs(s.port, `/api/v1/ws?token=${admin}`)
    expect(slow.status).toBe(101)
    slow.pause()
    const before = await wsCount()
    const message = 'y'.repeat(900)
    let i = 0
    // Publish until the server has dropped the slow client (kernel buffers absorb a few MB first).
    await waitFor(
      async () => {
        for (let k = 0; k < 200; k++)
          s.ctx.bus.publish({ memory: 'default', payload: { type: 'JobProgress', job_id: `flood-${i++}`, job_type: 'Import', progress: 1, progress_percent: 1, message } })
        return (await wsCount()) === before - 1
      },
      'the slow consumer to be closed',
      30_000,
      0,
    )
    const last = `flood-${i - 1}`
    await good.next((f) => f.job_id === last, 'the good client to receive the last event', 20_000)
    expect(good.closed).toBeNull()
    slow.resume()
    await slow.ended
    expect(slow.close).toEqual({ code: 1013, reason: 'slow consumer' })
    expect(await (await s.request('/metrics')).text()).toMatch(/matric_ws_slow_consumer_disconnects_total [1-9]/)
    good.close()
  }, 60_000)

  test('abrupt disconnects without a close frame bring the active count back to zero', async () => {
    await waitFor(async () => (await wsCount()) === 0, 'no connections left from earlier tests')
    const raws = await Promise.all(Array.from({ length: 25 }, () => rawWs(s.port, `/api/v1/ws?token=${admin}`)))
    expect(raws.every((r) => r.status === 101)).toBe(true)
    expect(await wsCount()).toBe(25)
    for (const r of raws) r.destroy()
    await waitFor(async () => (await wsCount()) === 0, 'the active count to return to zero')
    expect(await (await s.request('/metrics')).text()).toMatch(/matric_ws_connections_active 0\b/)
  })

  test('1,000 concurrent clients all receive an event', async () => {
    const clients: WsClient[] = []
    for (let batch = 0; batch < 10; batch++)
      clients.push(...(await Promise.all(Array.from({ length: 100 }, () => WsClient.connect(`${s.wsUrl}?token=${admin}`)))))
    expect(await wsCount()).toBeGreaterThanOrEqual(1000)
    await publish({ type: 'JobQueued', job_id: 'fanout-1000', job_type: 'Import' })
    await Promise.all(clients.map((c) => c.next((f) => f.job_id === 'fanout-1000', 'fan-out event', 20_000)))
    for (const c of clients) c.close()
    await waitFor(async () => (await wsCount()) === 0, 'all 1,000 to disconnect', 20_000)
  }, 60_000)

  test('a socket whose token expires is closed with 1008 "token expired"', async () => {
    const short = await s.token({ ttlS: 2 })
    const c = await WsClient.connect(`${s.wsUrl}?token=${short}`)
    const closed = await c.waitClose(10_000)
    expect(closed).toEqual({ code: 1008, reason: 'token expired' })
  })

  test('server shutdown closes every socket with 1012', async () => {
    const other = await startServer()
    const c = await WsClient.connect(`${other.wsUrl}?token=${await other.token()}`)
    await other.stop()
    expect(await c.waitClose()).toEqual({ code: 1012, reason: 'server shutdown' })
  })
})

describe('keepalive', () => {
  test('live idle clients are kept; a peer that never answers pings is dropped', async () => {
    const k = await startServer({ env: { MATRIC_WS_IDLE_TIMEOUT_S: '5' } })
    try {
      const t = await k.token()
      const live = await WsClient.connect(`${k.wsUrl}?token=${t}`)
      const dead = await rawWs(k.port, `/api/v1/ws?token=${t}`, { respondToPings: false })
      expect(dead.status).toBe(101)
      await dead.ended // dropped after missing its pings (≈ 2 × idle timeout at most)
      expect(live.closed).toBeNull()
      live.send('refresh')
      await live.next((f) => f.type === 'QueueStatus', 'live client still served')
      live.close()
    } finally {
      await k.stop()
    }
  }, 30_000)
})
