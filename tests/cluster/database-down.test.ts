/**
 * docs/cluster.md, "Failure modes": the database goes away and comes back. A private PostgreSQL server of this
 * test's own (the shared one cannot be stopped), run with the machine's PostgreSQL binaries as user postgres.
 * While it is down: /health says degraded (503), requests that need the store get 503 with Retry-After (not 500),
 * open streams stay open. Once it is back: everything works again without a restart, and the open SSE stream gets
 * the events published after the recovery.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { signToken } from '../../src/auth/sign.ts'
import { spawnServer, type ServerProcess } from '../helpers/process.ts'
import { freePort } from '../helpers/receiver.ts'
import { TEST_SECRET } from '../helpers/server.ts'
import { SseClient } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'

const PG_ROOT = '/usr/lib/postgresql'
const bin = existsSync(PG_ROOT) ? readdirSync(PG_ROOT).map((v) => join(PG_ROOT, v, 'bin')).find((d) => existsSync(join(d, 'pg_ctl'))) : undefined
// PostgreSQL refuses to run as root: as root the server runs as user postgres (runuser), else as ourselves.
const asPostgres = (cmd: string[]) => (userInfo().uid === 0 ? ['runuser', '-u', 'postgres', '--', ...cmd] : cmd)
const why = !bin ? `no PostgreSQL binaries under ${PG_ROOT}` : null

function run(cmd: string[]): void {
  const r = Bun.spawnSync(asPostgres(cmd), { stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')}: exit ${r.exitCode}\n${r.stderr.toString()}${r.stdout.toString()}`)
}

const suite = why && process.env.CI !== 'true' ? describe.skip : describe
if (why && process.env.CI !== 'true') console.warn(`database-down test skipped: ${why}`)

suite('cluster: the database goes away and comes back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'matric-pgdown-'))
  const data = join(dir, 'data')
  let port = 0
  const pgStart = () => run([join(bin!, 'pg_ctl'), '-D', data, '-w', '-l', join(dir, 'pg.log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start'])
  const pgStop = () => run([join(bin!, 'pg_ctl'), '-D', data, '-w', '-m', 'fast', 'stop'])
  let server: ServerProcess
  let tok: string

  beforeAll(async () => {
    if (why) throw new Error(`CI=true: ${why}`)
    port = await freePort()
    if (userInfo().uid === 0) chownSync(dir, Number(Bun.spawnSync(['id', '-u', 'postgres']).stdout.toString().trim()), 0)
    run([join(bin!, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres'])
    pgStart()
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`
    server = await spawnServer({ MATRIC_DATABASE_URL: url, MATRIC_DATA_DIR: join(dir, 'app'), MATRIC_JWT_SECRET: TEST_SECRET, MATRIC_WORKER_POLL_MS: '50' })
    tok = await signToken(new TextEncoder().encode(TEST_SECRET), { sub: 'tester', scope: 'admin', memory: '*', ttlS: 3600 })
  }, 60_000)
  afterAll(async () => {
    if (server && server.proc.exitCode === null) await server.kill('SIGKILL')
    try {
      pgStop()
    } catch {
      // already stopped (or never started)
    }
    rmSync(dir, { recursive: true, force: true })
  })

  const publish = (tag: string) => server.request('/api/v1/events', { token: tok, body: { payload: { type: 'JobCompleted', job_id: tag, job_type: 'Embedding' } } })
  const jobIds = (c: SseClient) => c.events.map((f) => (JSON.parse(f.data!) as { payload: { job_id: string } }).payload.job_id)

  test('down: /health 503 degraded, store-backed requests 503 with Retry-After; back: all works again, the open stream continues', async () => {
    const sse = await SseClient.open(`${server.url}/api/v1/events?memory=default&types=job.completed`, { headers: { authorization: `Bearer ${tok}` } })
    expect(sse.status).toBe(200)
    expect((await publish('before')).status).toBe(202)
    await waitFor(() => jobIds(sse).includes('before'), 'the first event')

    pgStop()
    const health = await server.request('/health')
    expect(health.status).toBe(503)
    expect(await health.json()).toMatchObject({ status: 'degraded', db: 'error', store: { kind: 'postgres' } })
    for (const [path, body] of [['/api/v1/notes', { content: 'while the database is down' }], ['/api/v1/jobs/stats', undefined]] as const) {
      const res = await server.request(path, { token: tok, body })
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('5')
      expect(((await res.json()) as { error: string }).error).toBe('service_unavailable')
    }
    // The stream stays open: the client need not reconnect.
    expect(await Promise.race([sse.ended.then(() => 'ended'), Promise.resolve('open')])).toBe('open')

    pgStart()
    await waitFor(async () => (await server.request('/health')).status === 200, '/health to recover', 20_000)
    const note = await server.request('/api/v1/notes', { token: tok, body: { content: 'after the recovery' } })
    expect(note.status).toBe(201)
    expect((await publish('after')).status).toBe(202)
    await waitFor(() => jobIds(sse).includes('after'), 'an event published after the recovery on the open stream', 15_000)
    sse.close()
  }, 60_000)
})
