import { beforeEach, describe, expect, test } from 'bun:test'
import type { NewJob } from '../../src/modules/jobs/store.ts'
import type { Stores } from '../../src/store/ports.ts'
import { harness, isoAt, uid, uniqueMemory, type OpenStores } from './harness.ts'

const T0 = Date.UTC(2026, 0, 1)
const FAR = 8_000_000_000_000 // year 2223: after every lease and run_after a test sets

let clock = 0
/** Increasing creation times, so that "older first" is well defined without waiting. */
const nextIso = () => isoAt(T0 + ++clock)

function newJob(memory: string, o: Partial<NewJob> = {}): NewJob {
  return {
    id: uid(),
    correlation_id: uid(),
    queued_event_id: uid(),
    restriction: null,
    instructions: null,
    memory,
    note_id: null,
    job_type: 'embedding',
    priority: 0,
    max_retries: 3,
    now: nextIso(),
    ...o,
  }
}

/** Empties the queue through the port (claims are global: a job left pending would be claimed by the next test). */
async function drain(s: Stores): Promise<void> {
  for (const scope of await s.pauses.scopes()) await s.pauses.remove(scope)
  await s.jobs.recoverExpired(FAR)
  const lease = { owner: 'janitor', untilMs: FAR }
  for (let c = await s.jobs.claim(isoAt(T0), FAR, lease); c; c = await s.jobs.claim(isoAt(T0), FAR, lease)) {
    await s.jobs.finish(c.job.id, 'janitor', 'cancelled', 'drained by the contract tests', isoAt(T0), null)
  }
}

/** JobStore contract (src/modules/jobs/store.ts). */
export function jobStoreContract(openStores: OpenStores): void {
  describe('JobStore', () => {
    const { open } = harness(openStores)
    beforeEach(async () => {
      const s = await open()
      await drain(s)
    })

    test('insert returns the API shape; get finds it', async () => {
      const s = await open()
      const m = uniqueMemory()
      const j = newJob(m, { note_id: uid(), priority: 7, job_type: 'linking' })
      const job = await s.jobs.insert(j)
      expect(job).toEqual({
        id: j.id,
        memory: m,
        note_id: j.note_id,
        job_type: 'linking',
        status: 'pending',
        priority: 7,
        progress_percent: 0,
        progress_message: null,
        retry_count: 0,
        max_retries: 3,
        error: null,
        created_at: j.now,
        started_at: null,
        completed_at: null,
        duration_ms: null,
      })
      expect(await s.jobs.get(j.id)).toEqual(job)
      expect(await s.jobs.get(uid())).toBeNull()
    })

    test('claim takes the highest priority, then the oldest, and carries the trace', async () => {
      const s = await open()
      const m = uniqueMemory()
      const low = await s.jobs.insert(newJob(m, { priority: 0 }))
      const high1 = newJob(m, { priority: 5, restriction: ['t1', 't2'], instructions: 'shorter' })
      await s.jobs.insert(high1)
      const high2 = await s.jobs.insert(newJob(m, { priority: 5 }))
      const lease = { owner: 'w1', untilMs: T0 + 60_000 }
      const c1 = (await s.jobs.claim(isoAt(T0 + 100), T0, lease))!
      expect(c1.job).toMatchObject({ id: high1.id, status: 'running', started_at: isoAt(T0 + 100), progress_percent: 0 })
      expect(c1.trace).toEqual({ correlationId: high1.correlation_id, queuedEventId: high1.queued_event_id, restriction: ['t1', 't2'], instructions: 'shorter' })
      const c2 = (await s.jobs.claim(isoAt(T0 + 100), T0, lease))!
      expect(c2.job.id).toBe(high2.id)
      expect(c2.trace.restriction).toBeNull()
      expect(c2.trace.instructions).toBeUndefined()
      expect((await s.jobs.claim(isoAt(T0 + 100), T0, lease))!.job.id).toBe(low.id)
      expect(await s.jobs.claim(isoAt(T0 + 100), T0, lease)).toBeNull()
      expect((await s.jobs.get(high1.id))!.status).toBe('running')
    })

    test('4 instances racing to claim 200 jobs: each job claimed exactly once', async () => {
      const stores = await Promise.all([open(), open(), open(), open()])
      const m = uniqueMemory()
      const ids = new Set<string>()
      for (let i = 0; i < 200; i++) ids.add((await stores[i % 4]!.jobs.insert(newJob(m, { priority: i % 3 }))).id)
      const claimed: string[][] = [[], [], [], []]
      await Promise.all(
        stores.flatMap((s, w) =>
          // Two concurrent loops per instance: claims race inside an instance too.
          [0, 1].map(async (k) => {
            const lease = { owner: `worker-${w}-${k}`, untilMs: T0 + 60_000 }
            for (let c = await s.jobs.claim(isoAt(T0), T0, lease); c; c = await s.jobs.claim(isoAt(T0), T0, lease)) claimed[w]!.push(c.job.id)
          }),
        ),
      )
      const all = claimed.flat()
      expect(all.length).toBe(200)
      expect(new Set(all)).toEqual(ids)
      // Work was actually shared (not one instance draining while the others were locked out).
      expect(claimed.filter((c) => c.length > 0).length).toBeGreaterThan(1)
      expect((await stores[0]!.jobs.counts(m)).running).toBe(200)
    })

    test('run_after: a retried job is claimable only once due; nextDue says when', async () => {
      const s = await open()
      const m = uniqueMemory()
      const j = await s.jobs.insert(newJob(m))
      expect(await s.jobs.nextDue()).toBe(0)
      const lease = { owner: 'w', untilMs: T0 + 60_000 }
      await s.jobs.claim(isoAt(T0), T0, lease)
      expect(await s.jobs.nextDue()).toBeNull()
      const r = (await s.jobs.retry(j.id, 'w', 'boom', T0 + 5000))!
      expect(r).toMatchObject({ status: 'pending', retry_count: 1, error: 'boom', started_at: null })
      expect(await s.jobs.nextDue()).toBe(T0 + 5000)
      expect(await s.jobs.claim(isoAt(T0 + 4999), T0 + 4999, lease)).toBeNull()
      expect((await s.jobs.claim(isoAt(T0 + 5000), T0 + 5000, lease))!.job).toMatchObject({ id: j.id, retry_count: 1, status: 'running' })
    })

    test('transitions of a running job are guarded by its owner', async () => {
      const s = await open()
      const m = uniqueMemory()
      const j = await s.jobs.insert(newJob(m))
      await s.jobs.claim(isoAt(T0), T0, { owner: 'a', untilMs: T0 + 60_000 })
      await s.jobs.progress(j.id, 'b', 50, 'not mine')
      expect(await s.jobs.get(j.id)).toMatchObject({ progress_percent: 0, progress_message: null })
      await s.jobs.progress(j.id, 'a', 40, 'halfway')
      expect(await s.jobs.get(j.id)).toMatchObject({ progress_percent: 40, progress_message: 'halfway' })
      expect(await s.jobs.complete(j.id, 'b', isoAt(T0 + 10), 10)).toBeNull()
      expect(await s.jobs.retry(j.id, 'b', 'x', 0)).toBeNull()
      expect(await s.jobs.finish(j.id, 'b', 'failed', 'x', isoAt(T0 + 10), 10)).toBeNull()
      expect(await s.jobs.finish(j.id, null, 'cancelled', 'x', isoAt(T0 + 10), null)).toBeNull()
      expect((await s.jobs.get(j.id))!.status).toBe('running')
      const done = (await s.jobs.complete(j.id, 'a', isoAt(T0 + 20), 20))!
      expect(done).toMatchObject({ status: 'completed', progress_percent: 100, completed_at: isoAt(T0 + 20), duration_ms: 20, error: null })
      // Settled: no second transition.
      expect(await s.jobs.complete(j.id, 'a', isoAt(T0 + 30), 30)).toBeNull()
      expect(await s.jobs.finish(j.id, 'a', 'failed', 'late', isoAt(T0 + 30), 30)).toBeNull()
    })

    test('finish: a pending job by anyone (owner null), a running one only by its owner', async () => {
      const s = await open()
      const m = uniqueMemory()
      const p = await s.jobs.insert(newJob(m))
      expect(await s.jobs.finish(p.id, null, 'cancelled', 'user cancelled', isoAt(T0 + 1), null)).toMatchObject({
        status: 'cancelled',
        error: 'user cancelled',
        completed_at: isoAt(T0 + 1),
        duration_ms: null,
      })
      const r = await s.jobs.insert(newJob(m))
      await s.jobs.claim(isoAt(T0), T0, { owner: 'a', untilMs: T0 + 60_000 })
      expect(await s.jobs.finish(r.id, 'a', 'failed', 'gave up', isoAt(T0 + 5), 5)).toMatchObject({ status: 'failed', error: 'gave up', duration_ms: 5 })
    })

    test('heartbeat renews only the leases the owner holds; a live owner is never recovered', async () => {
      const s = await open()
      const m = uniqueMemory()
      const mine = await s.jobs.insert(newJob(m))
      const theirs = await s.jobs.insert(newJob(m))
      await s.jobs.claim(isoAt(T0), T0, { owner: 'alive', untilMs: T0 + 1000 })
      await s.jobs.claim(isoAt(T0), T0, { owner: 'other', untilMs: T0 + 1000 })
      const pending = await s.jobs.insert(newJob(m))
      // The owner renews every 500 ms for 10 s of simulated time; recovery runs in between, after the first lease ended.
      const recovered: string[] = []
      for (let t = T0 + 500; t <= T0 + 10_000; t += 500) {
        expect(await s.jobs.heartbeat([mine.id, theirs.id, pending.id, uid()], { owner: 'alive', untilMs: t + 1000 })).toEqual([mine.id])
        recovered.push(...(await s.jobs.recoverExpired(t + 999)))
        expect((await s.jobs.get(mine.id))!.status).toBe('running')
      }
      expect(recovered).toEqual([m]) // the other owner, who stopped renewing, once
      expect((await s.jobs.get(theirs.id))!.status).toBe('pending')
      expect(await s.jobs.heartbeat([], { owner: 'alive', untilMs: T0 })).toEqual([])
    })

    test('recoverExpired returns only jobs whose lease ended, to pending and due at once', async () => {
      const s = await open()
      const m1 = uniqueMemory()
      const m2 = uniqueMemory()
      const early = await s.jobs.insert(newJob(m1))
      await s.jobs.claim(isoAt(T0), T0, { owner: 'a', untilMs: T0 + 1000 })
      const late = await s.jobs.insert(newJob(m2))
      await s.jobs.claim(isoAt(T0), T0, { owner: 'b', untilMs: T0 + 5000 })
      expect(await s.jobs.recoverExpired(T0 + 1000)).toEqual([]) // "ended before nowMs": at its last ms it still holds
      expect(await s.jobs.recoverExpired(T0 + 1001)).toEqual([m1])
      expect(await s.jobs.get(early.id)).toMatchObject({ status: 'pending', started_at: null })
      expect((await s.jobs.get(late.id))!.status).toBe('running')
      expect(await s.jobs.nextDue()).toBe(0)
      expect((await s.jobs.claim(isoAt(T0 + 2000), T0 + 2000, { owner: 'c', untilMs: T0 + 9000 }))!.job.id).toBe(early.id)
      expect(await s.jobs.recoverExpired(T0 + 6000)).toEqual([m2])
    })

    test('a stale owner cannot complete, retry, fail or renew after another instance took the job over', async () => {
      const a = await open()
      const b = await open()
      const m = uniqueMemory()
      const j = await a.jobs.insert(newJob(m))
      expect((await a.jobs.claim(isoAt(T0), T0, { owner: 'A', untilMs: T0 + 1000 }))!.job.id).toBe(j.id)
      // A stalls; B's recovery sweep finds the lease ended and B claims the job.
      expect(await b.jobs.recoverExpired(T0 + 2000)).toEqual([m])
      expect((await b.jobs.claim(isoAt(T0 + 2000), T0 + 2000, { owner: 'B', untilMs: T0 + 3000 }))!.job.id).toBe(j.id)
      expect(await a.jobs.heartbeat([j.id], { owner: 'A', untilMs: T0 + 4000 })).toEqual([])
      expect(await a.jobs.complete(j.id, 'A', isoAt(T0 + 2100), 2100)).toBeNull()
      expect(await a.jobs.retry(j.id, 'A', 'x', 0)).toBeNull()
      expect(await a.jobs.finish(j.id, 'A', 'failed', 'x', isoAt(T0 + 2100), 1)).toBeNull()
      expect((await b.jobs.complete(j.id, 'B', isoAt(T0 + 2500), 500))!).toMatchObject({ status: 'completed', duration_ms: 500 })
    })

    test('paused scopes are not claimed (a memory, or every memory)', async () => {
      const s = await open()
      const m1 = uniqueMemory()
      const m2 = uniqueMemory()
      const j1 = await s.jobs.insert(newJob(m1, { priority: 9 }))
      const j2 = await s.jobs.insert(newJob(m2))
      expect(await s.pauses.add(m1, isoAt(T0), 'tester')).toBe(true)
      const lease = { owner: 'w', untilMs: T0 + 60_000 }
      expect((await s.jobs.claim(isoAt(T0), T0, lease))!.job.id).toBe(j2.id)
      expect(await s.jobs.claim(isoAt(T0), T0, lease)).toBeNull()
      expect(await s.jobs.nextDue()).toBeNull()
      expect(await s.pauses.add('*', isoAt(T0), 'tester')).toBe(true)
      expect(await s.pauses.remove(m1)).toBe(true)
      expect(await s.jobs.claim(isoAt(T0), T0, lease)).toBeNull() // the global pause still holds
      expect(await s.pauses.remove('*')).toBe(true)
      expect(await s.jobs.nextDue()).toBe(0)
      expect((await s.jobs.claim(isoAt(T0), T0, lease))!.job.id).toBe(j1.id)
    })

    test('counts, list and finishedSince are exact within a tag restriction (jobs of notes with any of its tags)', async () => {
      const s = await open()
      const m = uniqueMemory()
      const red = await s.notes.insert({ id: uid(), memory: m, title: null, content: 'r', tags: ['red'], now: nextIso() })
      const blue = await s.notes.insert({ id: uid(), memory: m, title: null, content: 'b', tags: ['blue', 'x'], now: nextIso() })
      const jr1 = await s.jobs.insert(newJob(m, { note_id: red.id }))
      const jb = await s.jobs.insert(newJob(m, { note_id: blue.id, job_type: 'title_generation' }))
      const jn = await s.jobs.insert(newJob(m, { note_id: null }))
      const jr2 = await s.jobs.insert(newJob(m, { note_id: red.id, priority: -1 }))
      await s.jobs.insert(newJob(uniqueMemory(), { note_id: red.id }))
      const lease = { owner: 'w', untilMs: T0 + 60_000 }
      // Claim order: jr1, jb, jn (priority 0, by age) — complete jr1, fail jb, leave jn running; jr2 pending.
      expect((await s.jobs.claim(isoAt(T0), T0, lease))!.job.id).toBe(jr1.id)
      expect((await s.jobs.claim(isoAt(T0), T0, lease))!.job.id).toBe(jb.id)
      expect((await s.jobs.claim(isoAt(T0), T0, lease))!.job.id).toBe(jn.id)
      await s.jobs.complete(jr1.id, 'w', isoAt(T0 + 100), 100)
      await s.jobs.finish(jb.id, 'w', 'failed', 'no', isoAt(T0 + 200), 200)
      // Leftovers of the drain in other memories don't matter: everything here is scoped to m.
      const zero = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 }
      expect(await s.jobs.counts(m)).toEqual({ ...zero, pending: 1, running: 1, completed: 1, failed: 1 })
      expect(await s.jobs.counts(m, ['red'])).toEqual({ ...zero, pending: 1, completed: 1 })
      expect(await s.jobs.counts(m, ['x', 'nothing'])).toEqual({ ...zero, failed: 1 })
      expect(await s.jobs.counts(m, [])).toEqual(zero)
      expect(await s.jobs.finishedSince(m, null, isoAt(T0 + 100))).toEqual({ completed: 1, failed: 1 })
      expect(await s.jobs.finishedSince(m, null, isoAt(T0 + 101))).toEqual({ completed: 0, failed: 1 })
      expect(await s.jobs.finishedSince(m, ['red'], isoAt(T0))).toEqual({ completed: 1, failed: 0 })

      const page = await s.jobs.list({ memory: m, restriction: null, limit: 2 })
      expect(page.total).toBe(4)
      expect(page.jobs.map((j) => j.id)).toEqual([jr2.id, jn.id]) // newest first
      expect((await s.jobs.list({ memory: m, restriction: null, limit: 2, offset: 2 })).jobs.map((j) => j.id)).toEqual([jb.id, jr1.id])
      expect(await s.jobs.list({ memory: m, restriction: ['red'], limit: 10 })).toEqual({ jobs: [(await s.jobs.get(jr2.id))!, (await s.jobs.get(jr1.id))!], total: 2 })
      expect((await s.jobs.list({ memory: m, restriction: null, status: 'failed', limit: 10 })).jobs.map((j) => j.id)).toEqual([jb.id])
      expect((await s.jobs.list({ memory: m, restriction: null, noteId: red.id, limit: 10 })).total).toBe(2)

      // Retagging a note moves its jobs between restrictions (after invalidateCounts, for a caching store).
      await s.notes.update(red.id, { tags: ['blue'] }, nextIso())
      s.jobs.invalidateCounts()
      expect(await s.jobs.counts(m, ['red'])).toEqual(zero)
      expect(await s.jobs.counts(m, ['blue'])).toEqual({ ...zero, pending: 1, completed: 1, failed: 1 })
    })

    test('completeWith completes and queues the follow-ups in one step, skipping one already waiting; a stale owner queues nothing', async () => {
      const s = await open()
      const m = uniqueMemory()
      const noteId = uid()
      const j = await s.jobs.insert(newJob(m, { note_id: noteId, job_type: 'embedding' }))
      const waiting = await s.jobs.insert(newJob(m, { note_id: noteId, job_type: 'title_generation' }))
      const claimed = await s.jobs.claim(isoAt(T0), T0, { owner: 'a', untilMs: T0 + 60_000 })
      expect(claimed?.job.id).toBe(j.id)
      const linking = newJob(m, { note_id: noteId, job_type: 'linking', now: isoAt(T0 + 50) })
      const title = newJob(m, { note_id: noteId, job_type: 'title_generation', now: isoAt(T0 + 50) })
      expect(await s.jobs.completeWith(j.id, 'b', isoAt(T0 + 50), 50, [linking, title])).toBeNull()
      expect(await s.jobs.get(linking.id)).toBeNull() // nothing queued under a lost lease
      const r = (await s.jobs.completeWith(j.id, 'a', isoAt(T0 + 50), 50, [linking, title]))!
      expect(r.job).toMatchObject({ id: j.id, status: 'completed', completed_at: isoAt(T0 + 50) })
      // title_generation already waits for the note: only linking is new.
      expect(r.queued.map((q) => [q.id, q.job_type, q.status, q.created_at])).toEqual([[linking.id, 'linking', 'pending', isoAt(T0 + 50)]])
      expect(await s.jobs.get(title.id)).toBeNull()
      expect((await s.jobs.get(waiting.id))!.status).toBe('pending')
      // Never a moment with nothing open for the note: the counts saw the completion and the new job together.
      expect(await s.jobs.counts(m)).toMatchObject({ pending: 2, running: 0, completed: 1 })
    })

    test('hasOpen and cancelPendingForNote concern pending jobs only', async () => {
      const s = await open()
      const m = uniqueMemory()
      const noteId = uid()
      const running = await s.jobs.insert(newJob(m, { note_id: noteId, job_type: 'embedding' }))
      await s.jobs.claim(isoAt(T0), T0, { owner: 'w', untilMs: T0 + 60_000 })
      expect(await s.jobs.hasOpen(noteId, 'embedding')).toBe(false) // a running one does not count
      const p1 = await s.jobs.insert(newJob(m, { note_id: noteId, job_type: 'embedding' }))
      const p2 = await s.jobs.insert(newJob(m, { note_id: noteId, job_type: 'linking' }))
      await s.jobs.insert(newJob(m, { note_id: uid(), job_type: 'embedding' }))
      expect(await s.jobs.hasOpen(noteId, 'embedding')).toBe(true)
      expect(await s.jobs.hasOpen(noteId, 'title_generation')).toBe(false)
      expect(await s.jobs.cancelPendingForNote(noteId, isoAt(T0 + 1))).toBe(2)
      expect(await s.jobs.get(p1.id)).toMatchObject({ status: 'cancelled', error: 'note deleted', completed_at: isoAt(T0 + 1) })
      expect((await s.jobs.get(p2.id))!.status).toBe('cancelled')
      expect((await s.jobs.get(running.id))!.status).toBe('running')
      expect(await s.jobs.hasOpen(noteId, 'embedding')).toBe(false)
    })
  })
}

/** PauseStore contract (src/modules/jobs/store.ts). */
export function pauseStoreContract(openStores: OpenStores): void {
  describe('PauseStore', () => {
    const { open } = harness(openStores)

    test('add and remove report whether they changed anything; scopes are sorted', async () => {
      const s = await open()
      const a = uniqueMemory('a')
      const b = uniqueMemory('b')
      expect(await s.pauses.add(b, isoAt(T0), 'x')).toBe(true)
      expect(await s.pauses.add(b, isoAt(T0), 'y')).toBe(false)
      expect(await s.pauses.add(a, isoAt(T0), 'x')).toBe(true)
      expect(await s.pauses.add('*', isoAt(T0), 'x')).toBe(true)
      expect(await s.pauses.scopes()).toEqual(['*', a, b])
      expect(await s.pauses.remove(a)).toBe(true)
      expect(await s.pauses.remove(a)).toBe(false)
      expect(await s.pauses.remove('*')).toBe(true)
      expect(await s.pauses.remove(b)).toBe(true)
      expect(await s.pauses.scopes()).toEqual([])
    })

    test('memoriesWithData: every memory holding notes, jobs or webhooks, once, sorted', async () => {
      const s = await open()
      const [n, j, w] = [uniqueMemory('n'), uniqueMemory('j'), uniqueMemory('w')]
      await s.notes.insert({ id: uid(), memory: n, title: null, content: 'c', tags: [], now: isoAt(T0) })
      await s.notes.insert({ id: uid(), memory: n, title: null, content: 'c', tags: [], now: isoAt(T0) })
      await s.jobs.insert(newJob(j))
      await s.jobs.insert(newJob(n))
      await s.webhooks.insert({ id: uid(), memory: w, url: 'https://example.com/h', events: ['*'], description: null, secret: 'whsec_x', max_retries: 3, created_by: 't', now: isoAt(T0) }, 100)
      const all = await s.pauses.memoriesWithData()
      expect(all).toEqual([...all].sort())
      expect(new Set(all).size).toBe(all.length)
      for (const m of [n, j, w]) expect(all).toContain(m)
      await drain(s)
    })
  })
}
