/** a job left `running` by a crash returns to `pending` on the next start and completes. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signToken } from '../../src/auth/sign.ts'
import { revisedOf, startInference, type InferenceDouble } from '../doubles/inference.ts'
import { spawnServer, type ServerProcess } from '../helpers/process.ts'
import { backendEnv, dropBackend, onPostgres, TEST_SECRET } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

interface Job {
  id: string
  status: string
  retry_count: number
}

let llm: InferenceDouble
let dataDir: string
let tok: string
const procs: ServerProcess[] = []

beforeAll(async () => {
  llm = await startInference()
  dataDir = mkdtempSync(join(tmpdir(), 'matric-crash-'))
  tok = await signToken(new TextEncoder().encode(TEST_SECRET), { sub: 'tester', scope: 'admin', memory: 'default', ttlS: 3600 })
})
afterAll(async () => {
  for (const p of procs) if (p.proc.exitCode === null && !p.proc.killed) await p.kill('SIGKILL')
  await llm.stop()
  rmSync(dataDir, { recursive: true, force: true })
  await dropBackend(dataDir)
})

async function start(): Promise<ServerProcess> {
  const p = await spawnServer({
    ...(await backendEnv(dataDir)),
    // The SQLite store belongs to one process, so a restart voids the leases the killed one held; on PostgreSQL
    // (shared by instances) the job returns when its lease expires: a short lease keeps the wait short.
    ...(onPostgres ? { MATRIC_JOB_LEASE_MS: '1000' } : {}),
    MATRIC_DATA_DIR: dataDir,
    MATRIC_JWT_SECRET: TEST_SECRET,
    MATRIC_INFERENCE_URL: llm.url,
    MATRIC_JOB_RETRY_BASE_MS: '20',
    MATRIC_WORKER_POLL_MS: '50',
  })
  procs.push(p)
  return p
}

function api(p: ServerProcess, path: string, body?: unknown): Promise<Response> {
  return p.request(path, { token: tok, body })
}

describe('crash recovery', () => {
  test('SIGKILL while ai_revision runs; the restarted server completes the job', async () => {
    llm.setDefault({ hold: true })
    const first = await start()

    const noteRes = await api(first, '/api/v1/notes', { content: 'draft that needs a revision' })
    expect(noteRes.status).toBe(201)
    const note = (await noteRes.json()) as { id: string }
    const jobRes = await api(first, '/api/v1/jobs', { job_type: 'ai_revision', note_id: note.id })
    expect(jobRes.status).toBe(201)
    const job = (await jobRes.json()) as Job

    await waitFor(async () => ((await (await api(first, `/api/v1/jobs/${job.id}`)).json()) as Job).status === 'running', 'the ai_revision job to run')
    await waitFor(() => llm.held() === 1, 'the revision request to be held by the model double')

    await first.kill('SIGKILL')
    expect(first.proc.signalCode).toBe('SIGKILL')
    llm.setDefault((req) => ({ content: revisedOf(req) }))

    const second = await start()
    const done = await waitFor(async () => {
      const j = (await (await api(second, `/api/v1/jobs/${job.id}`)).json()) as Job
      return j.status === 'completed' || j.status === 'failed' ? j : null
    }, 'the recovered job to finish')
    // A crash is not a failed attempt: the job simply runs again.
    expect(done).toMatchObject({ status: 'completed', retry_count: 0 })
    expect(second.lines.some((l) => l.includes('returned jobs whose lease expired to pending'))).toBe(true)

    const after = (await (await api(second, `/api/v1/notes/${note.id}`)).json()) as { content: string; has_ai_content: boolean }
    expect(after.has_ai_content).toBe(true)
    expect(after.content).toContain('draft that needs a revision')
    expect(after.content).toContain('(revised by the test double)')

    // Graceful stop exits 0.
    expect(await second.kill('SIGTERM')).toBe(0)
  })
})
