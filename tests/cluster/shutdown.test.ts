/**
 * docs/cluster.md: a graceful shutdown (SIGTERM) of one instance hands its WebSocket clients a 1012 and ends its SSE
 * streams; they reconnect to another instance and lose nothing (SSE resumes by Last-Event-ID), while the events
 * published elsewhere meanwhile keep flowing.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { describePg } from '../helpers/pg.ts'
import { SseClient } from '../helpers/sse-client.ts'
import { waitFor, within } from '../helpers/wait.ts'
import { WsClient } from '../helpers/ws-client.ts'
import { adminToken, startCluster, type Cluster } from './lib.ts'

describePg('cluster: graceful shutdown of one instance', (db) => {
  let cluster: Cluster
  let tok: string

  beforeAll(async () => {
    cluster = await startCluster(db.url(), 2)
    tok = await adminToken()
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  const publish = async (node: number, tag: string) => {
    const res = await cluster.nodes[node]!.request('/api/v1/events', { token: tok, body: { payload: { type: 'JobCompleted', job_id: tag, job_type: 'Embedding' } } })
    expect(res.status).toBe(202)
    return ((await res.json()) as { event_id: string }).event_id
  }
  const jobIds = (c: SseClient) => c.events.filter((f) => f.event === 'job.completed').map((f) => (JSON.parse(f.data!) as { payload: { job_id: string } }).payload.job_id)

  test('SIGTERM: WebSocket clients get 1012, the SSE stream resumes on the other instance without a gap or a duplicate', async () => {
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]]
    const ws = await WsClient.connect(`${a.url.replace('http', 'ws')}/api/v1/ws?token=${tok}`)
    const sse = await SseClient.open(`${a.url}/api/v1/events?memory=default&types=job.completed`, { headers: { authorization: `Bearer ${tok}` } })
    expect(sse.status).toBe(200)
    const before: string[] = []
    for (let i = 0; i < 10; i++) before.push(`before-${i}`) // published on B, delivered by A
    for (const tag of before) await publish(1, tag)
    await waitFor(() => jobIds(sse).length === before.length, 'the first events on A')

    // A stops while B keeps publishing.
    const stopping = a.kill('SIGTERM')
    const during: string[] = []
    for (let i = 0; i < 10; i++) {
      during.push(`during-${i}`)
      await publish(1, `during-${i}`)
    }
    expect(await ws.waitClose(15_000)).toMatchObject({ code: 1012 })
    await within(sse.ended, "the SSE stream's end", 15_000)
    expect(await within(stopping, 'the instance to exit', 15_000)).toBe(0)

    // The client reconnects to B with the last id it was sent.
    const last = sse.events.at(-1)!.id!
    const resumed = await SseClient.open(`${b.url}/api/v1/events?memory=default&types=job.completed`, {
      headers: { authorization: `Bearer ${tok}`, 'last-event-id': last },
    })
    expect(resumed.status).toBe(200)
    for (let i = 0; i < 5; i++) await publish(1, `after-${i}`)
    const all = [...before, ...during, ...Array.from({ length: 5 }, (_, i) => `after-${i}`)]
    await waitFor(() => jobIds(sse).length + jobIds(resumed).length >= all.length, 'every event across the two streams', 15_000)
    const got = [...jobIds(sse), ...jobIds(resumed)]
    expect(got).toEqual(all) // nothing lost, nothing twice, in order
    resumed.close()
    ws.close()
  }, 60_000)
})
