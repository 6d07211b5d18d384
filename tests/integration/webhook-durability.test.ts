/** docs/webhooks.md: deliveries are stored before the first attempt and survive a crash (SIGKILL) of the server. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signToken } from '../../src/auth/sign.ts'
import { spawnServer, type ServerProcess } from '../helpers/process.ts'
import { freePort, startReceiver, type Receiver } from '../helpers/receiver.ts'
import { backendEnv, dropBackend, onPostgres, TEST_SECRET } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

type Json = Record<string, any>

let tok: string
const procs: ServerProcess[] = []
const receivers: Receiver[] = []
const dirs: string[] = []

beforeAll(async () => {
  tok = await signToken(new TextEncoder().encode(TEST_SECRET), { sub: 'tester', scope: 'admin', memory: 'default', ttlS: 3600 })
})
afterAll(async () => {
  for (const p of procs) if (p.proc.exitCode === null && !p.proc.killed) await p.kill('SIGKILL')
  for (const r of receivers) await r.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  for (const d of dirs) await dropBackend(d)
})

async function start(dataDir: string): Promise<ServerProcess> {
  const p = await spawnServer({
    ...(await backendEnv(dataDir)),
    MATRIC_DATA_DIR: dataDir,
    MATRIC_JWT_SECRET: TEST_SECRET,
    MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true',
    // Short, but long enough in total (≈ 7 s of retries) to outlast a restart.
    MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '50,100,200,400,800,1000',
    MATRIC_WEBHOOK_POLL_MS: '50',
    // On PostgreSQL a killed instance's delivery leases are not voided by the next start (the database is shared):
    // they expire after the attempt deadline + the margin, kept short here so the restart takes them over in time.
    ...(onPostgres ? { MATRIC_WEBHOOK_TIMEOUT_MS: '2000', MATRIC_WEBHOOK_LEASE_MARGIN_MS: '500' } : {}),
  })
  procs.push(p)
  return p
}

function api(p: ServerProcess, path: string, body?: unknown): Promise<Response> {
  return p.request(path, { token: tok, body })
}

async function publishMany(p: ServerProcess, n: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await api(p, '/api/v1/events', { payload: { type: 'JobCompleted', job_id: `job-${i}`, job_type: 'Embedding' } })
    expect(res.status).toBe(202)
    ids.push(((await res.json()) as Json).event_id)
  }
  return ids
}

const eventIdsOf = (r: Receiver) => new Set(r.requests.map((q) => JSON.parse(q.body).event_id as string))

describe('durability', () => {
  test('SIGKILL while the receiver is down: after a restart on the same data dir every event arrives', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'matric-webhook-durable-'))
    dirs.push(dataDir)
    const port = await freePort() // the receiver is down: nothing listens here yet
    const first = await start(dataDir)
    const created = await api(first, '/api/v1/webhooks', { url: `http://127.0.0.1:${port}/hook`, events: ['*'], max_retries: 10 })
    expect(created.status).toBe(201)
    const hook = (await created.json()) as Json
    const published = await publishMany(first, 6)
    // Every delivery has failed at least once (connection refused) and waits for a retry.
    await waitFor(async () => {
      const log = (await (await api(first, `/api/v1/webhooks/${hook.id}/deliveries?limit=500`)).json()) as Json[]
      return new Set(log.map((a) => a.event_id)).size === published.length
    }, 'a failed attempt for every event')
    await first.kill('SIGKILL')

    const second = await start(dataDir)
    const r = await startReceiver({ port })
    receivers.push(r)
    await waitFor(() => published.every((id) => eventIdsOf(r).has(id)), 'every event at the receiver after the restart', 15_000)
    expect([...eventIdsOf(r)].sort()).toEqual([...published].sort())
    // The server records a success once it has read the receiver's answer: a moment after the receiver saw the event.
    const successes = async () =>
      ((await (await api(second, `/api/v1/webhooks/${hook.id}/deliveries?limit=500`)).json()) as Json[]).filter((a) => a.success).map((a) => a.event_id)
    await waitFor(async () => (await successes()).length >= published.length, 'a successful attempt logged for every event')
    expect((await successes()).sort()).toEqual([...published].sort())
    await second.kill('SIGTERM')
  })

  // The embedded store belongs to one process, so a restart voids the killed process's delivery leases at once; on
  // PostgreSQL (shared by instances) the restart takes them over when they expire (deadline + margin, short here).
  test('SIGKILL with attempts in flight: they are attempted again after the restart, with the same delivery id', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'matric-webhook-inflight-'))
    dirs.push(dataDir)
    const r = await startReceiver()
    receivers.push(r)
    r.reply = () => r.hold() // accepts every request and never answers
    const first = await start(dataDir)
    const created = await api(first, '/api/v1/webhooks', { url: r.url + '/hook', events: ['*'] })
    const hook = (await created.json()) as Json
    const published = await publishMany(first, 3)
    const held = await r.waitForRequests(3, 'three held requests')
    const heldIds = new Set(held.map((q) => q.headers['webhook-id']))
    await first.kill('SIGKILL')

    r.reply = () => new Response('ok')
    const second = await start(dataDir)
    await waitFor(() => published.every((id) => r.requests.slice(3).some((q) => JSON.parse(q.body).event_id === id)), 'every event again after the restart')
    const again = r.requests.slice(3)
    expect(new Set(again.map((q) => q.headers['webhook-id']))).toEqual(heldIds)
    expect(second.lines.some((l) => l.includes('webhook deliveries whose lease expired are due again'))).toBe(true)
    const logged = async () => (await (await api(second, `/api/v1/webhooks/${hook.id}/deliveries`)).json()) as Json[]
    await waitFor(async () => (await logged()).length >= published.length, 'an attempt logged for every event')
    const log = await logged()
    expect(log.map((a) => a.event_id).sort()).toEqual([...published].sort())
    expect(log.every((a) => a.success)).toBe(true)
    await second.kill('SIGTERM')
  })
})
