/**
 * docs/cluster.md: three instances share one job queue (each job runs once, the counts are the same everywhere),
 * and state kept in memory follows changes made on another instance (stream-token revocation, jobs resume).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startInference, type InferenceDouble } from '../doubles/inference.ts'
import { describePg } from '../helpers/pg.ts'
import { dataOf, SseClient } from '../helpers/sse-client.ts'
import { waitFor, within } from '../helpers/wait.ts'
import { adminToken, startCluster, type Cluster } from './lib.ts'

interface Job {
  id: string
  status: string
}

describePg('cluster: jobs and signals', (db) => {
  let cluster: Cluster
  let llm: InferenceDouble
  let tok: string
  let stream: SseClient

  beforeAll(async () => {
    llm = await startInference()
    cluster = await startCluster(db.url(), 3, { MATRIC_INFERENCE_URL: llm.url })
    tok = await adminToken()
  }, 60_000)
  afterAll(async () => {
    stream?.close()
    await cluster?.stop()
    await llm?.stop()
  })

  const api = (node: number, path: string, init: { method?: string; body?: unknown } = {}) => cluster.nodes[node]!.request(path, { token: tok, ...init })
  const stats = async (node: number) => (await (await api(node, '/api/v1/jobs/stats')).json()) as Record<string, unknown> & { pending: number; running: number }
  const drained = () =>
    waitFor(async () => {
      const all = await Promise.all([0, 1, 2].map(stats))
      return all.every((s) => s.pending + s.running === 0) ? all : null
    }, 'the queue to drain on every instance', 30_000)

  test('each job runs exactly once across three instances; /jobs/stats is identical on every instance', async () => {
    stream = await SseClient.open(`${cluster.nodes[2]!.url}/api/v1/events?memory=default`, { headers: { authorization: `Bearer ${tok}` } })
    expect(stream.status).toBe(200)
    await stream.frame((f) => f.event === 'queue.status', 'the opening queue.status')
    // Notes written through every instance queue their jobs (title, embedding, linking); more queued explicitly.
    const notes = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const res = await api(i % 3, '/api/v1/notes', { body: { content: `note ${i} about distributed queues and leases ${i}` } })
        expect(res.status).toBe(201)
        return ((await res.json()) as { id: string }).id
      }),
    )
    for (const [i, id] of notes.entries()) expect((await api((i + 1) % 3, '/api/v1/jobs', { body: { job_type: 'ai_revision', note_id: id } })).status).toBe(201)
    const final = await drained()
    const jobs = ((await (await api(0, '/api/v1/jobs?limit=100')).json()) as { jobs: Job[] }).jobs
    expect(jobs.length).toBeGreaterThanOrEqual(24)
    const ids = new Set(jobs.map((j) => j.id))
    // Every job's completion reached the stream on C (from whichever instance ran it).
    await stream.until(() => {
      const done = new Set(stream.events.filter((f) => f.event === 'job.completed' || f.event === 'job.failed').map((f) => dataOf<{ payload: { job_id: string } }>(f).payload.job_id))
      return [...ids].every((id) => done.has(id))
    }, 'every job finished on the stream', 20_000)
    const started = new Map<string, number>()
    for (const f of stream.events.filter((f) => f.event === 'job.started')) {
      const id = dataOf<{ payload: { job_id: string } }>(f).payload.job_id
      started.set(id, (started.get(id) ?? 0) + 1)
    }
    for (const id of ids) expect({ id, started: started.get(id) }).toEqual({ id, started: 1 })
    for (const j of jobs) expect(j.status).toBe('completed')
    expect(final[1]).toEqual(final[0]!)
    expect(final[2]).toEqual(final[0]!)
  }, 60_000)

  test('a stream token revoked on A closes its stream on B and is refused on C', async () => {
    const minted = await api(0, '/api/v1/events/tokens', { body: {} })
    expect(minted.status).toBe(201)
    const { token, token_id } = (await minted.json()) as { token: string; token_id: string }
    const onB = await SseClient.open(`${cluster.nodes[1]!.url}/api/v1/events?memory=default&token=${token}`)
    expect(onB.status).toBe(200)
    await onB.frame((f) => f.event === 'queue.status', 'the opening queue.status on B')
    expect((await api(0, `/api/v1/events/tokens/${token_id}`, { method: 'DELETE' })).status).toBe(204)
    await within(onB.ended, 'the stream on B to end after the revocation on A', 10_000)
    await waitFor(async () => {
      const res = await fetch(`${cluster.nodes[2]!.url}/api/v1/events?memory=default&token=${token}`)
      await res.body?.cancel()
      return res.status === 401
    }, 'the revoked token refused on C', 10_000)
  }, 30_000)

  test('jobs paused on A stay paused everywhere; resumed on A, every instance picks them up', async () => {
    expect((await api(0, '/api/v1/jobs/pause', { method: 'POST' })).status).toBe(200)
    const res = await api(1, '/api/v1/notes', { body: { content: 'written on B while the queue is paused' } })
    expect(res.status).toBe(201)
    const s = await stats(2)
    expect(s.pending).toBeGreaterThan(0)
    expect(s.running).toBe(0)
    expect((await api(0, '/api/v1/jobs/resume', { method: 'POST' })).status).toBe(200)
    await drained()
  }, 40_000)
})
