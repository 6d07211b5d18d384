/** Time in the job worker is injected: a retry an hour away happens when the test moves the clock, not after a wait. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { TransientError, type JobHandler } from '../../src/modules/jobs/handlers/types.ts'
import { titleGeneration } from '../../src/modules/jobs/handlers/title.ts'
import { FakeClock } from '../helpers/fake-clock.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

let s: TestServer
const clock = new FakeClock()
let calls = 0
const flaky: JobHandler = async (ctx) => {
  if (++calls === 1) throw new TransientError('model busy')
  return titleGeneration(ctx)
}

beforeAll(async () => {
  clock.t = Date.now()
  s = await startServer({ clock, handlers: { title_generation: flaky }, env: { MATRIC_JOB_RETRY_BASE_MS: '3600000', MATRIC_WORKER_POLL_MS: '60000' } })
})
afterAll(() => s.stop())

test('a transient failure is retried after its backoff (≈ 1 h), by the clock', async () => {
  const res = await s.request('/api/v1/notes', { token: await s.token(), body: { content: '# Clockwork\nA note.' } })
  const note = (await res.json()) as { id: string }
  const job = async () => (await s.ctx.jobs.list({ memory: 'default', restriction: null, noteId: note.id, limit: 10 })).jobs.find((j) => j.job_type === 'title_generation')!
  await waitFor(async () => {
    const j = await job()
    return j.status === 'pending' && j.retry_count === 1
  }, 'the first attempt to fail and be rescheduled')
  const settled = () => s.ctx.worker.settled()
  await clock.run(40 * 60_000, settled) // 40 minutes: still inside the jittered 48–72 min backoff
  s.ctx.worker.wake()
  await settled()
  expect((await job()).status).toBe('pending')
  await clock.run(40 * 60_000, settled) // past it: the poll loop's sleep fires and the job runs
  await waitFor(async () => (await job()).status === 'completed', 'the retry to complete')
  expect(calls).toBe(2)
})
