/**
 * docs/cluster.md: an event committed on one instance reaches the WebSocket and SSE clients of every instance, in
 * log order, none lost, none twice; an SSE stream resumed on another instance continues without a gap.
 */
import { SQL } from 'bun'
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { describePg } from '../helpers/pg.ts'
import { SseClient, type SseFrame } from '../helpers/sse-client.ts'
import { WsClient, type Frame } from '../helpers/ws-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { adminToken, startCluster, type Cluster } from './lib.ts'

describePg('cluster: cross-instance delivery', (db) => {
  let cluster: Cluster
  let tok: string
  const sse: SseClient[] = []
  const ws: WsClient[] = []

  beforeAll(async () => {
    cluster = await startCluster(db.url(), 3)
    tok = await adminToken()
  }, 60_000)
  afterAll(async () => {
    for (const c of sse) c.close()
    for (const c of ws) c.close()
    await cluster?.stop()
  })

  const publish = async (node: number, tag: string) => {
    const res = await cluster.nodes[node]!.request('/api/v1/events', { token: tok, body: { payload: { type: 'JobCompleted', job_id: tag, job_type: 'Embedding' } } })
    expect(res.status).toBe(202)
    return ((await res.json()) as { event_id: string }).event_id
  }
  const jobIdOfSse = (f: SseFrame) => (JSON.parse(f.data!) as { payload: { job_id: string } }).payload.job_id
  const wsEvents = (c: WsClient) => c.frames.filter((f: Frame) => f.type === 'JobCompleted' && typeof f.event_id === 'string')

  test('events caused on A (and, interleaved, on B and C) reach WS and SSE clients on A, B and C in one order, none lost or twice', async () => {
    for (const n of cluster.nodes) {
      const s = await SseClient.open(`${n.url}/api/v1/events?memory=default`, { headers: { authorization: `Bearer ${tok}` } })
      expect(s.status).toBe(200)
      await s.frame((f) => f.event === 'queue.status', 'the opening queue.status')
      sse.push(s)
      ws.push(await WsClient.connect(`ws://127.0.0.1:${n.port}/api/v1/ws?token=${tok}&memory=default`))
    }
    // Three publishers, each sequential (its own order is the emission order), concurrently: batches interleave.
    const ids: string[][] = [[], [], []]
    await Promise.all(
      [0, 0, 1, 2].map(async (node, p) => {
        for (let i = 0; i < 25; i++) ids[Math.min(p, 2)]!.push(await publish(node, `p${p}-${i}`))
      }),
    )
    const all = ids.flat()
    expect(new Set(all).size).toBe(100)
    for (const s of sse) await s.until(() => s.events.filter((f) => f.event === 'job.completed').length >= 100, '100 events on SSE', 20_000)
    for (const c of ws) await waitFor(() => wsEvents(c).length >= 100, '100 events on the WebSocket', 20_000)

    const orders = sse.map((s) => s.events.filter((f) => f.event === 'job.completed').map((f) => f.id!))
    for (const o of orders) {
      expect(new Set(o).size).toBe(o.length) // none twice
      expect([...o].sort()).toEqual([...all].sort()) // none lost, nothing else
      expect(o).toEqual(orders[0]!) // one order everywhere (the log's)
    }
    // Each publisher's events in the order it emitted them.
    for (let p = 0; p < 4; p++) {
      const mine = sse[1]!.events.filter((f) => f.event === 'job.completed').map(jobIdOfSse).filter((j) => j.startsWith(`p${p}-`))
      expect(mine).toEqual(Array.from({ length: 25 }, (_, i) => `p${p}-${i}`))
    }
    for (const c of ws) expect(wsEvents(c).map((f) => f.event_id)).toEqual(orders[0]!)
  }, 60_000)

  test('listener connections cut (wake-ups lost): every instance catches up by position, nothing lost or twice', async () => {
    const admin = new SQL(db.url(), { max: 1 })
    try {
      // The LISTEN sessions of every instance (Bun's dedicated listener connection) die; Bun reconnects them.
      const cut = await admin<{ n: number }[]>`
        SELECT COUNT(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`
      expect(cut[0]!.n).toBeGreaterThanOrEqual(3)
    } finally {
      await admin.close()
    }
    const ids: string[] = []
    for (let i = 0; i < 20; i++) ids.push(await publish(0, `cut-${i}`))
    for (const s of sse.slice(0, 3)) {
      const got = await s.until(() => {
        const o = s.events.filter((f) => f.event === 'job.completed' && jobIdOfSse(f).startsWith('cut-')).map((f) => f.id!)
        return o.length >= ids.length && o
      }, 'the events committed while listeners were down', 15_000)
      expect(got).toEqual(ids)
    }
    await waitFor(() => cluster.nodes.every((n) => n.lines.some((l) => l.includes('cluster listener reconnected'))), 'every instance to re-LISTEN', 15_000)
  }, 40_000)

  test("SSE resumed on B with Last-Event-ID right after A's last id: no gap, no duplicate", async () => {
    const a = cluster.nodes[0]!
    const b = cluster.nodes[1]!
    const before: string[] = []
    for (let i = 0; i < 5; i++) before.push(await publish(0, `r-${i}`))
    await sse[0]!.until(() => sse[0]!.events.some((f) => f.id === before[4]), "A's last event on A")
    // The client had everything through A's last id; it reconnects to B while A keeps publishing.
    const more = (async () => {
      const out: string[] = []
      for (let i = 5; i < 25; i++) out.push(await publish(0, `r-${i}`))
      return out
    })()
    const resumed = await SseClient.open(`${b.url}/api/v1/events?memory=default`, { headers: { authorization: `Bearer ${tok}`, 'last-event-id': before[4]! } })
    sse.push(resumed)
    expect(resumed.status).toBe(200)
    const after = await more
    const got = await resumed.until(() => {
      const ids = resumed.events.filter((f) => f.event === 'job.completed').map((f) => f.id!)
      return ids.includes(after[after.length - 1]!) && ids
    }, 'every later event on the resumed stream', 20_000)
    expect(got).toEqual(after)
    expect(a.url).not.toBe(b.url)
  }, 60_000)
})
