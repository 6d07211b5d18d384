/**
 * docs/cluster.md: a webhook created on one instance receives the events caused on the others; SIGKILL of an
 * instance mid-run loses nothing: its jobs' leases expire and another instance completes each exactly once, and
 * every event reaches the webhook (at-least-once).
 */
import { SQL } from 'bun'
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { revisedOf, startInference, type InferenceDouble } from '../doubles/inference.ts'
import { describePg } from '../helpers/pg.ts'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { dataOf, SseClient } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { adminToken, startCluster, type Cluster } from './lib.ts'

describePg('cluster: webhooks and failover', (db) => {
  let cluster: Cluster
  let llm: InferenceDouble
  let receiver: Receiver
  let tok: string
  let stream: SseClient | undefined

  beforeAll(async () => {
    llm = await startInference()
    receiver = await startReceiver()
    cluster = await startCluster(db.url(), 3, {
      MATRIC_INFERENCE_URL: llm.url,
      MATRIC_JOB_LEASE_MS: '2000',
      MATRIC_WEBHOOK_TIMEOUT_MS: '1000',
      MATRIC_WEBHOOK_LEASE_MARGIN_MS: '1000',
      MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '50,100,200,400,800,1000,1000,1000',
    })
    tok = await adminToken()
  }, 60_000)
  afterAll(async () => {
    stream?.close()
    await cluster?.stop()
    await receiver?.stop()
    await llm?.stop()
  })

  const api = (node: number, path: string, init: { method?: string; body?: unknown } = {}) => cluster.nodes[node]!.request(path, { token: tok, ...init })
  const publish = async (node: number, tag: string) => {
    const res = await api(node, '/api/v1/events', { body: { payload: { type: 'JobCompleted', job_id: tag, job_type: 'Embedding' } } })
    expect(res.status).toBe(202)
    return ((await res.json()) as { event_id: string }).event_id
  }
  const received = () => new Set(receiver.requests.map((q) => (JSON.parse(q.body) as { event_id: string }).event_id))

  test('a webhook created on A receives the events caused on B and C', async () => {
    const created = await api(0, '/api/v1/webhooks', { body: { url: `${receiver.url}/hook`, events: ['*'], max_retries: 8 } })
    expect(created.status).toBe(201)
    // B and C hear of the new webhook by a signal a moment after A answered: wait until each one's events arrive.
    for (const node of [1, 2]) {
      const probes: string[] = []
      await waitFor(
        async () => {
          probes.push(await publish(node, `probe-${node}`))
          const got = received()
          return probes.some((id) => got.has(id))
        },
        `a webhook delivery of an event caused on instance ${node}`,
        10_000,
        50,
      )
    }
    const ids: string[] = []
    for (let i = 0; i < 20; i++) ids.push(await publish(1 + (i % 2), `hook-${i}`))
    await waitFor(() => ids.every((id) => received().has(id)), 'every event of B and C at the receiver', 15_000)
    // Once per event: the delivery rows are written once per cluster, by the instance that committed the event.
    const counts = new Map<string, number>()
    for (const q of receiver.requests) counts.set(q.headers['webhook-id']!, (counts.get(q.headers['webhook-id']!) ?? 0) + 1)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
  }, 40_000)

  test('SIGKILL of an instance mid-run: every job completes exactly once, every event reaches the webhook', async () => {
    stream = await SseClient.open(`${cluster.nodes[1]!.url}/api/v1/events?memory=default`, { headers: { authorization: `Bearer ${tok}` } })
    await stream.frame((f) => f.event === 'queue.status', 'the opening queue.status')
    const beforeJobs = new Set((((await (await api(0, '/api/v1/jobs?limit=500')).json()) as { jobs: { id: string }[] }).jobs).map((j) => j.id))
    // Revisions hang in the model double: every instance is mid-job when A dies.
    llm.setDefault({ hold: true })
    const notes: string[] = []
    for (let i = 0; i < 6; i++) {
      const res = await api(i % 3, '/api/v1/notes', { body: { content: `failover note ${i}`, title: `failover ${i}` } })
      expect(res.status).toBe(201)
      notes.push(((await res.json()) as { id: string }).id)
    }
    for (const [i, id] of notes.entries()) expect((await api(i % 3, '/api/v1/jobs', { body: { job_type: 'ai_revision', note_id: id } })).status).toBe(201)
    await waitFor(() => llm.held() >= 3, 'revisions running on the instances', 15_000)
    // The victim must hold a running job when it dies (which instance claims what is a race): more revisions,
    // queued on it, until it does.
    const victimId = ((await (await api(0, '/health')).json()) as { store: { node_id: string } }).store.node_id
    const sql = new SQL(db.url(), { max: 1 })
    const victimRuns = async () => (await sql<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM jobs WHERE status = 'running' AND owner = ${victimId}`)[0]!.n
    for (let extra = 0; (await victimRuns()) === 0; extra++) {
      if (extra >= 10) throw new Error(`instance ${victimId} never claimed a revision`)
      const res = await api(0, '/api/v1/notes', { body: { content: `failover extra ${extra}`, title: `extra ${extra}` } })
      const id = ((await res.json()) as { id: string }).id
      expect((await api(0, '/api/v1/jobs', { body: { job_type: 'ai_revision', note_id: id } })).status).toBe(201)
      const held = llm.held()
      await waitFor(async () => llm.held() > held || (await victimRuns()) > 0, 'the extra revision to start', 15_000)
    }
    await sql.close()
    // Events caused on every instance just before, and on the survivors after.
    const ids: string[] = []
    for (let i = 0; i < 9; i++) ids.push(await publish(i % 3, `kill-${i}`))
    const victim = cluster.nodes[0]!
    victim.proc.kill('SIGKILL')
    await victim.proc.exited
    llm.setDefault((req) => ({ content: revisedOf(req) }))
    llm.release()
    for (let i = 0; i < 6; i++) ids.push(await publish(1 + (i % 2), `after-${i}`))

    const jobs = await waitFor(async () => {
      const list = (((await (await api(1, '/api/v1/jobs?limit=500')).json()) as { jobs: { id: string; status: string }[] }).jobs).filter((j) => !beforeJobs.has(j.id))
      return list.length > 0 && list.every((j) => j.status === 'completed' || j.status === 'failed') ? list : null
    }, 'every job to finish after the kill (leases expire after 2 s)', 30_000)
    for (const j of jobs) expect(j).toMatchObject({ status: 'completed' })
    const completedOnce = (id: string) => stream!.events.filter((f) => f.event === 'job.completed' && dataOf<{ payload: { job_id: string } }>(f).payload.job_id === id).length
    await stream.until(() => jobs.every((j) => completedOnce(j.id) >= 1), 'every job.completed on the stream', 10_000)
    for (const j of jobs) expect({ id: j.id, completed: completedOnce(j.id) }).toEqual({ id: j.id, completed: 1 })
    // At-least-once: every event published (2xx) reaches the webhook, the victim's included.
    await waitFor(() => ids.every((id) => received().has(id)), 'every event at the receiver after the kill', 20_000)
    expect(cluster.nodes[1]!.lines.concat(cluster.nodes[2]!.lines).some((l) => l.includes('returned jobs whose lease expired to pending'))).toBe(true)
  }, 90_000)
})
