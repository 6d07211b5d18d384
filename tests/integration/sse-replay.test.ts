/**
 * docs/sse.md replay against real servers: Last-Event-ID resumes from the durable log with no gap and no
 * duplicate, across a restart on the same data dir, while events keep arriving; unknown and pruned ids
 * get `resync_required`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPLAY_PAGE } from '../../src/modules/realtime/sse.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { dataOf, SseClient, type SseFrame } from '../helpers/sse-client.ts'

let s: TestServer
let admin: string
const open: SseClient[] = []

beforeAll(async () => {
  // The trailing QueueStatus after job events (at most one per memory per interval) is logged: with the default
  // 50 ms it can land after the event a test waits for as the last one, whenever the store is slower. A minute
  // puts it past every test here.
  s = await startServer({ env: { MATRIC_QUEUE_STATUS_INTERVAL_MS: '60000' } })
  admin = await s.token({ memory: '*' })
})
afterEach(() => {
  for (const c of open.splice(0)) c.close()
})
afterAll(() => s.stop())

async function stream(server: TestServer, query: string, opts: { lastEventId?: string; token?: string; read?: boolean } = {}): Promise<SseClient> {
  const c = await SseClient.open(`${server.url}/api/v1/events${query}`, {
    headers: { authorization: `Bearer ${opts.token ?? admin}`, ...(opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {}) },
    read: opts.read,
  })
  open.push(c)
  expect(c.status).toBe(200)
  return c
}

async function publish(server: TestServer, token: string, payload: Record<string, unknown>, memory?: string): Promise<string> {
  const res = await server.request('/api/v1/events', { token, body: { ...(memory ? { memory } : {}), payload } })
  expect(res.status).toBe(202)
  return ((await res.json()) as { event_id: string }).event_id
}

/** A job event that moves no counter (a JobQueued would be followed by a QueueStatus correction, see docs/events.md). */
const queued = (id: string, extra: Record<string, unknown> = {}) => ({ type: 'JobProgress', job_id: id, job_type: 'Import', progress: 1, ...extra })
const ids = (frames: SseFrame[]) => frames.map((f) => f.id)
/** Synthetic frames other than the opening queue.status (which every stream gets: see `opening`). */
const synthetic = (c: SseClient) => c.frames.filter((f) => f.event !== undefined && f.id === undefined && f.event !== 'queue.status')
/** The opening queue.status frames (no id): exactly one per stream, after the replay. */
const opening = (c: SseClient) => c.frames.filter((f) => f.event === 'queue.status' && f.id === undefined)

describe('Last-Event-ID replay', () => {
  test('reconnecting with the last id yields exactly the missed events, in order, then live ones', async () => {
    const first = await stream(s, '?memory=r1')
    const seen = [await publish(s, admin, queued('a'), 'r1'), await publish(s, admin, queued('b'), 'r1')]
    await first.eventCount(2, 'events before the disconnect')
    expect(ids(first.events)).toEqual(seen)
    first.close()

    const missed: string[] = []
    for (const j of ['c', 'd', 'e']) missed.push(await publish(s, admin, queued(j), 'r1'))
    await publish(s, admin, queued('elsewhere'), 'r2') // another memory: never replayed here

    const again = await stream(s, '?memory=r1', { lastEventId: seen[1] })
    await again.eventCount(3, 'replayed events')
    const live = await publish(s, admin, queued('f'), 'r1')
    await again.eventCount(4, 'replayed + live events')
    expect(ids(again.events)).toEqual([...missed, live])
    expect(synthetic(again)).toEqual([])
    // One opening queue.status, right after the replayed events and before the live one.
    expect(opening(again).length).toBe(1)
    const order = again.frames.filter((f) => f.event !== undefined).map((f) => f.id ?? f.event)
    expect(order).toEqual([...missed, 'queue.status', live])
    expect(dataOf(again.events[0]!)).toMatchObject({ event_id: missed[0], payload: { job_id: 'c' } })
  })

  test('?last_event_id= works like the header, and the header wins when both are given', async () => {
    const a = await publish(s, admin, queued('q1'), 'r3')
    const b = await publish(s, admin, queued('q2'), 'r3')
    const c = await publish(s, admin, queued('q3'), 'r3')
    const byQuery = await stream(s, `?memory=r3&last_event_id=${a}`)
    await byQuery.eventCount(2, 'events after a')
    expect(ids(byQuery.events)).toEqual([b, c])
    const both = await stream(s, `?memory=r3&last_event_id=${a}`, { lastEventId: b })
    await both.eventCount(1, 'events after b')
    expect(ids(both.events)).toEqual([c])
  })

  test('replay applies the stream filters: types, entity and tag restriction', async () => {
    const note = async (tags: string[]) => {
      const res = await s.request('/api/v1/notes', { token: admin, headers: { 'x-matric-memory': 'r4' }, body: { title: 't', content: 'c', tags } })
      expect(res.status).toBe(201)
      return ((await res.json()) as { id: string }).id
    }
    const alpha = await note(['alpha'])
    // A resume point the restricted principal may see (an event of one of its notes).
    const mark = await publish(s, admin, queued('mark', { note_id: alpha }), 'r4')
    const beta = await note(['beta'])
    // JobFailed: the note pipeline running in the background never emits it, so these are the only ones.
    const fail = (jobId: string, noteId?: string) => ({ type: 'JobFailed', job_id: jobId, job_type: 'Import', error: 'x', ...(noteId ? { note_id: noteId } : {}) })
    const done1 = await publish(s, admin, fail('j-alpha', alpha), 'r4')
    await publish(s, admin, fail('j-beta', beta), 'r4')
    await publish(s, admin, fail('j-loose'), 'r4')
    await s.ctx.queueStatus.sendNow('r4') // memory-wide: never visible to a tag-restricted principal
    const done2 = await publish(s, admin, fail('j-alpha-2', alpha), 'r4')

    const restricted = await s.token({ memory: 'r4', scope: 'read', tags: ['alpha'] })
    const c = await stream(s, '?memory=r4&types=JobFailed', { lastEventId: mark, token: restricted })
    await c.eventCount(2, 'replayed alpha failures')
    expect(ids(c.events)).toEqual([done1, done2])

    const byEntity = await stream(s, '?memory=r4&entity_id=j-alpha-2', { lastEventId: mark })
    await byEntity.eventCount(1, 'the replayed event of one entity')
    expect(ids(byEntity.events)).toEqual([done2])
  })

  test('the same after a restart on the same data dir', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'matric-sse-restart-'))
    try {
      const run1 = await startServer({ dataDir, keepDataDir: true })
      const t1 = await run1.token()
      const resumeFrom = await publish(run1, t1, queued('r1-a'))
      const beforeStop = [await publish(run1, t1, queued('r1-b')), await publish(run1, t1, queued('r1-c'))]
      await run1.stop()

      const run2 = await startServer({ dataDir }) // drops the store (the PostgreSQL database) on stop
      try {
        const t2 = await run2.token()
        const afterStart = await publish(run2, t2, queued('r2-a'))
        const c = await stream(run2, '', { lastEventId: resumeFrom, token: t2 })
        await c.eventCount(3, 'events replayed across the restart')
        const live = await publish(run2, t2, queued('r2-b'))
        await c.eventCount(4, 'replayed + live events')
        expect(ids(c.events)).toEqual([...beforeStop, afterStart, live])
        expect(synthetic(c)).toEqual([])
      } finally {
        await run2.stop()
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })

  test('events published while a multi-page replay is in flight arrive exactly once, in log order', async () => {
    const memory = 'big'
    const bus = s.ctx.bus
    // ~1.3 KB per frame so the replay outgrows the socket buffers and has to wait for the client.
    const message = 'm'.repeat(1000)
    const emit = (n: number) =>
      bus.publish({ memory, entityType: 'job', entityId: `big-${n}`, payload: { type: 'JobProgress', job_id: `big-${n}`, job_type: 'Import', progress: n % 101, progress_percent: n % 101, message } })
    const start = emit(0)
    // 16 pages of ~1.3 KB frames (~10 MB) is more than the socket buffers and the fetch client absorb
    // (~6 MB here), so while the client does not read, the server-side replay cannot have finished.
    const backlog = 16 * REPLAY_PAGE
    for (let i = 1; i <= backlog; i++) emit(i)
    // The resume id must be in the log before the stream asks for it (publish returns before the commit; on a
    // store over the network the batch is still being written when the request arrives).
    await bus.committed()

    const c = await stream(s, `?memory=${memory}`, { lastEventId: start.envelope.event_id, read: false })
    let n = backlog
    for (let i = 0; i < 200; i++) emit(++n)
    c.startReading()
    // Keep publishing (HTTP and in-process) while the client drains the replay.
    for (let i = 0; i < 100; i++) {
      emit(++n)
      if (i % 10 === 0) await publish(s, admin, { type: 'JobQueued', job_id: `http-${i}`, job_type: 'Import' }, memory)
    }
    const last = await publish(s, admin, queued('the-end'), memory)
    await c.until(() => c.events.at(-1)?.id === last, 'the last event', 20_000)

    const expected = (await s.ctx.stores.events.afterInMemory(memory, start.seq, 100_000)).map((r) => r.event_id)
    const got = ids(c.events)
    expect(new Set(got).size).toBe(got.length)
    expect(got.length).toBe(expected.length)
    expect(got).toEqual(expected)
    expect(synthetic(c)).toEqual([])
  }, 30_000)
})

describe('resync_required', () => {
  test('an unknown id yields one resync_required frame without id, then live events', async () => {
    const c = await stream(s, '?memory=rs', { lastEventId: 'no-such-event' })
    const f = await c.frame((x) => x.event === 'resync_required', 'the resync frame')
    expect(f.id).toBeUndefined()
    expect(dataOf(f)).toEqual({ reason: 'unknown_event_id', last_known_id: 'no-such-event' })
    const live = await publish(s, admin, queued('after-resync'), 'rs')
    await c.eventCount(1, 'a live event after the resync frame')
    expect(ids(c.events)).toEqual([live])
    expect(c.frames.filter((x) => x.event === 'resync_required')).toHaveLength(1)
    expect(c.frames.findIndex((x) => x.event === 'resync_required')).toBeLessThan(c.frames.findIndex((x) => x.id === live))
  })

  test("another memory's event id, or a hidden note's, is unknown (no existence oracle)", async () => {
    const elsewhere = await publish(s, admin, queued('other-memory'), 'rs-other')
    const res = await s.request('/api/v1/notes', { token: admin, headers: { 'x-matric-memory': 'rs2' }, body: { content: 'secret', tags: ['hidden'] } })
    const hiddenNote = ((await res.json()) as { id: string }).id
    const hidden = await publish(s, admin, queued('hidden-job', { note_id: hiddenNote }), 'rs2')
    const after = await publish(s, admin, queued('after'), 'rs2')
    const restricted = await s.token({ memory: 'rs2', scope: 'read', tags: ['visible'] })
    for (const [id, token] of [
      [elsewhere, admin],
      [hidden, restricted],
    ] as const) {
      const c = await stream(s, '?memory=rs2', { lastEventId: id, token })
      const f = await c.frame((x) => x.event === 'resync_required', 'the resync frame')
      // Answered exactly like a made-up id with the same timestamp: nothing tells that the event exists.
      const madeUp = id.slice(0, -6) + (id.endsWith('000000') ? '111111' : '000000')
      const d = await stream(s, '?memory=rs2', { lastEventId: madeUp, token })
      const g = await d.frame((x) => x.event === 'resync_required', 'the resync frame for a made-up id')
      expect(dataOf(f)).toEqual({ reason: (dataOf(g) as { reason: string }).reason, last_known_id: id })
      await c.frame((x) => x.event === 'queue.status', 'the opening counts')
      expect(c.events.map((e) => e.id)).not.toContain(after) // nothing replayed
    }
  })

  test('the opening queue.status cursor resumes exactly after it, also on a new connection', async () => {
    const first = await stream(s, '?memory=rc')
    const openingFrame = await first.frame((x) => x.event === 'queue.status', 'the opening counts')
    const cursor = dataOf(openingFrame).event_id as string
    expect(cursor).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    first.close()
    const missed = [await publish(s, admin, queued('c1'), 'rc'), await publish(s, admin, queued('c2'), 'rc')]
    const again = await stream(s, '?memory=rc', { lastEventId: cursor })
    await again.eventCount(2, 'events after the cursor')
    expect(ids(again.events)).toEqual(missed)
    expect(synthetic(again)).toEqual([])
    // A cursor is bound to its memory.
    const wrong = await stream(s, '?memory=rc-other', { lastEventId: cursor })
    expect(dataOf(await wrong.frame((x) => x.event === 'resync_required', 'resync on another memory'))).toMatchObject({ reason: 'unknown_event_id' })
  })

  test("retention is per memory: another memory's burst does not push this memory's resume point out", async () => {
    const small = await startServer({ env: { MATRIC_EVENT_RETENTION_COUNT: '100' } })
    try {
      const token = await small.token({ memory: '*' })
      const mine = small.ctx.bus.publish({ memory: 'quiet', payload: { type: 'NoteDeleted', note_id: 'q1' } })
      const next = small.ctx.bus.publish({ memory: 'quiet', payload: { type: 'NoteDeleted', note_id: 'q2' } })
      // A busy memory: 1,200 events, several prunes (every 500 appends).
      for (let i = 0; i < 1200; i++) small.ctx.bus.publish({ memory: 'busy', payload: { type: 'NoteDeleted', note_id: `b${i}` } })
      await small.ctx.bus.flush()
      expect((await small.ctx.stores.events.afterInMemory('busy', 0, 10_000)).length).toBeLessThanOrEqual(100 + 500)
      const c = await stream(small, '?memory=quiet', { lastEventId: mine.envelope.event_id, token })
      await c.eventCount(1, 'the quiet memory replays from its resume point')
      expect(ids(c.events)).toEqual([next.envelope.event_id])
      expect(synthetic(c)).toEqual([])
    } finally {
      await small.stop()
    }
  })

  test('an id pruned by retention yields resync_required with reason expired_event_id', async () => {
    const small = await startServer({ env: { MATRIC_EVENT_RETENTION_COUNT: '100' } })
    try {
      const first = small.ctx.bus.publish({ memory: 'default', payload: { type: 'NoteDeleted', note_id: 'old' } })
      // The log prunes every 500 appends, down to the newest 100.
      for (let i = 0; i < 600; i++) small.ctx.bus.publish({ memory: 'default', payload: { type: 'NoteDeleted', note_id: `n${i}` } })
      await small.ctx.bus.flush()
      expect(await small.ctx.stores.events.positionOf(first.envelope.event_id)).toBeNull()
      const c = await stream(small, '', { lastEventId: first.envelope.event_id, token: await small.token() })
      const f = await c.frame((x) => x.event === 'resync_required', 'the resync frame')
      expect(dataOf(f)).toEqual({ reason: 'expired_event_id', last_known_id: first.envelope.event_id })
      expect(c.events).toEqual([])
    } finally {
      await small.stop()
    }
  })
})
