/**
 * The SSE hub in-process, with the client's reads under the test's control (no sockets, no kernel
 * buffers): shared frame bytes, the replay/live seam, slow-consumer drops, revocation, disconnects.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { Database } from 'bun:sqlite'
import { LOCAL_PRINCIPAL, type Principal } from '../../src/auth/principal.ts'
import { Revocations } from '../../src/auth/revocations.ts'
import { EventBus, type PublishedEvent } from '../../src/events/bus.ts'
import type { EventRow, NewEventRow } from '../../src/events/store.ts'
import { SseHub } from '../../src/modules/realtime/sse-hub.ts'
import type { OpenStream } from '../../src/modules/realtime/sse-stream.ts'
import { CursorCodec } from '../../src/modules/realtime/cursor.ts'
import type { StreamFilter } from '../../src/modules/realtime/sse-filter.ts'
import { openDatabase } from '../../src/store/sqlite/db.ts'
import { SqliteEventStore } from '../../src/store/sqlite/events.ts'
import { SqliteRevocationStore } from '../../src/store/sqlite/small.ts'
import { tagSetKey } from '../../src/auth/principal.ts'
import { createLogger } from '../../src/telemetry/log.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'

/** An event log whose next appends can be made to fail (the bus then delivers with seq 0). */
class FlakyLog extends SqliteEventStore {
  failNext = 0
  /**
   * Runs around a replay read, as if the store were across a network: `before` commits land before the read
   * (the page includes them), `after` ones commit while the answer is in flight (the page misses them).
   */
  aroundRead: { before?: () => Promise<unknown>; after?: () => Promise<unknown> } = {}
  /** While set, replay reads (watermark and pages) wait for it: a store slow to answer, the stream not reading yet. */
  readsWait: Promise<void> | undefined
  override async afterInMemory(memory: string, afterSeq: number, limit?: number): Promise<EventRow[]> {
    if (this.readsWait) await this.readsWait
    const { before, after } = this.aroundRead
    this.aroundRead = {}
    await before?.()
    const rows = await super.afterInMemory(memory, afterSeq, limit)
    await after?.()
    return rows
  }
  override async prunedThrough(memory: string): Promise<number> {
    if (this.readsWait) await this.readsWait
    return super.prunedThrough(memory)
  }
  override async appendBatch(rows: readonly NewEventRow[]): Promise<number[]> {
    if (this.failNext > 0) {
      this.failNext--
      throw new Error('disk full')
    }
    return super.appendBatch(rows)
  }
  /** Holds replay reads until the returned function is called. */
  holdReads(): () => void {
    let release!: () => void
    this.readsWait = new Promise<void>((resolve) => (release = resolve))
    return () => {
      this.readsWait = undefined
      release()
    }
  }
}

const HWM = 16 // STREAM_HIGH_WATER_MARK in sse.ts
const JOB_EVENTS = new Set(['job.queued', 'job.started', 'job.progress', 'job.completed', 'job.failed'] as const)
const QUEUE_LIMIT = 5

let db: Database
let log: FlakyLog
let bus: EventBus
let metrics: Metrics
let revocations: Revocations
let hub: SseHub
let n = 0
let counts = { pending: 0, running: 0 }
let countsAsked: { memory: string; tags: readonly string[] | null }[] = []
const cursors = new CursorCodec(new TextEncoder().encode('unit-test-secret'))

beforeEach(async () => {
  counts = { pending: 0, running: 0 }
  countsAsked = []
  db = openDatabase(':memory:')
  log = new FlakyLog(db, { count: 1_000_000, hours: 24 })
  metrics = new Metrics()
  const logger = createLogger('error', () => {})
  bus = new EventBus({ log, startSeq: await log.lastSeq(), metrics: metrics, logger: logger })
  revocations = await Revocations.load(new SqliteRevocationStore(db))
  hub = new SseHub({
    bus,
    log,
    revocations,
    metrics,
    logger,
    config: { keepaliveMs: 60_000, queueLimit: QUEUE_LIMIT, retryMs: 1000, streamTokenTtlS: 300 },
    cursors,
    queueCounts: async (memory, tags) => {
      countsAsked.push({ memory, tags })
      return counts
    },
    tenantId: 'default',
  })
})
afterEach(async () => {
  hub.shutdown()
  await metrics.shutdown()
  db.close()
})

/** Publishes one event and delivers it at once (the bus otherwise delivers once per event-loop turn). */
const emit = async (memory = 'm') => {
  const e = bus.publish({ memory, entityType: 'job', entityId: `j${++n}`, payload: { type: 'JobQueued', job_id: `j${n}`, job_type: 'Import' } })
  await bus.flush()
  return e
}
/** `count` events, each logged and delivered before the next is published. */
const emitMany = async (count: number, memory = 'm') => {
  const out: PublishedEvent[] = []
  for (let i = 0; i < count; i++) out.push(await emit(memory))
  return out
}

function openStream(over: Partial<Omit<OpenStream, 'filter'>> & { filter?: Partial<StreamFilter>; principal?: Principal } = {}) {
  const ac = new AbortController()
  const body = hub.open({
    principal: LOCAL_PRINCIPAL,
    replayAfter: null,
    lastEventId: null,
    preamble: [': hello\n\n'],
    signal: ac.signal,
    ...over,
    // Job events only unless a test asks: the opening queue.status frame has tests of its own (below).
    filter: { memory: 'm', types: JOB_EVENTS, entityId: null, tags: null, ...over.filter },
  })
  const reader = body.getReader()
  const decoder = new TextDecoder()
  const chunks: Uint8Array[] = []
  /** Reads `count` chunks (frames), or until the stream ends. */
  const read = async (count: number): Promise<string[]> => {
    const out: string[] = []
    while (out.length < count) {
      const { value, done } = await reader.read()
      if (done) break
      chunks.push(value)
      out.push(decoder.decode(value))
    }
    return out
  }
  return { body, reader, read, chunks, abort: () => ac.abort() }
}

const idOf = (frame: string) => /^id: (.*)$/m.exec(frame)?.[1]
const eventOf = (frame: string) => /^event: (.*)$/m.exec(frame)?.[1]
const dataOf = (frame: string) => JSON.parse(/^data: (.*)$/m.exec(frame)![1]!) as Record<string, unknown>
const ids = (events: PublishedEvent[]) => events.map((e) => e.envelope.event_id)

describe('SseHub', () => {
  test('one encoded frame per event, shared by every stream that receives it', async () => {
    const a = openStream()
    const b = openStream()
    const other = openStream({ filter: { types: new Set(['note.deleted'] as const) } })
    await a.read(1)
    await b.read(1)
    await other.read(1)
    const e = await emit()
    const [fa] = await a.read(1)
    const [fb] = await b.read(1)
    expect(idOf(fa!)).toBe(e.envelope.event_id)
    expect(fa).toBe(`id: ${e.envelope.event_id}\nevent: job.queued\ndata: ${e.json}\n\n`)
    expect(a.chunks[1]).toBe(b.chunks[1]!) // the same Uint8Array object
    expect(fb).toBe(fa!)
    expect(hub.count).toBe(3)
  })

  test('replay → live seam: events published mid-replay (logged or not) arrive exactly once, in order', async () => {
    const start = await emit()
    const backlog = await emitMany(1200) // 3 pages
    const s = openStream({ replayAfter: start.seq, lastEventId: start.envelope.event_id })
    const got: string[] = []
    got.push(...(await s.read(1 + 300))) // preamble + part of the first page
    const during: PublishedEvent[] = []
    during.push(await emit(), await emit())
    log.failNext = 1
    const unlogged = await emit()
    expect(unlogged.seq).toBe(0)
    during.push(await emit())
    got.push(...(await s.read(600)))
    during.push(await emit())
    got.push(...(await s.read(1200 - 900 + during.length + 1)))
    const after = await emit()
    got.push(...(await s.read(1)))
    const frames = got.slice(1)
    expect(frames.map(idOf)).toEqual([...ids(backlog), ...ids(during), unlogged.envelope.event_id, after.envelope.event_id])
  })

  test('the seam is by log position: a page that misses a commit, or one that repeats a live event, still gives each event once', async () => {
    const start = await emit()
    const backlog = await emitMany(2)
    let missed: PublishedEvent | undefined
    let repeated: PublishedEvent | undefined
    // The first read repeats an event that is also delivered live; the read after it misses one that commits meanwhile.
    log.aroundRead = { before: async () => (repeated = await emit()), after: async () => (missed = await emit()) }
    const s = openStream({ replayAfter: start.seq, lastEventId: start.envelope.event_id })
    const frames = (await s.read(1 + backlog.length + 2)).slice(1)
    const later = await emit()
    frames.push(...(await s.read(1)))
    expect(frames.map(idOf)).toEqual([...ids(backlog), repeated!.envelope.event_id, missed!.envelope.event_id, later.envelope.event_id])
  })

  test('more live events during a replay than can be held: the log is read again, nothing is lost or doubled', async () => {
    const start = await emit()
    let burst: PublishedEvent[] = []
    log.aroundRead = { after: async () => (burst = await emitMany(QUEUE_LIMIT + 3)) }
    const s = openStream({ replayAfter: start.seq, lastEventId: start.envelope.event_id })
    const frames = (await s.read(1 + QUEUE_LIMIT + 3)).slice(1) // the burst happens during this read
    expect(frames.map(idOf)).toEqual(ids(burst))
    const next = await emit()
    expect((await s.read(1)).map(idOf)).toEqual([next.envelope.event_id])
  })

  test('unlogged events beyond the queue limit during a replay are reported as lagged after the held ones', async () => {
    const start = await emit()
    const backlog = await emitMany(3)
    // The stream is replaying (its first read not answered yet) while the unlogged events are delivered.
    const release = log.holdReads()
    const s = openStream({ replayAfter: start.seq, lastEventId: start.envelope.event_id })
    log.failNext = QUEUE_LIMIT + 2
    const unlogged = await emitMany(QUEUE_LIMIT + 2)
    expect(unlogged.map((e) => e.seq)).toEqual(Array(QUEUE_LIMIT + 2).fill(0))
    release()
    const frames = (await s.read(1 + backlog.length + QUEUE_LIMIT + 1)).slice(1)
    expect(frames.slice(0, -1).map(idOf)).toEqual([...ids(backlog), ...ids(unlogged.slice(0, QUEUE_LIMIT))])
    expect(frames.at(-1)).toBe('event: events.lagged\ndata: {"dropped_count":2}\n\n')
  })

  test('replay that retention overtakes: resync_required (no id), then it continues from what is left', async () => {
    const start = await emit()
    await emitMany(150)
    const release = log.holdReads()
    const s = openStream({ replayAfter: start.seq, lastEventId: start.envelope.event_id })
    // Read nothing yet; the log moves on and retention prunes it to its newest 100 rows.
    const later = await emitMany(600)
    // What retention does: delete, and record how far this memory was pruned.
    db.query('DELETE FROM events WHERE seq <= ?').run(later.at(-101)!.seq)
    db.query("INSERT INTO event_watermarks (memory, pruned_through) VALUES ('m', ?)").run(later.at(-101)!.seq)
    release()
    const frames = (await s.read(1 + 1 + 100)).slice(1)
    expect(eventOf(frames[0]!)).toBe('resync_required')
    expect(idOf(frames[0]!)).toBeUndefined()
    expect(dataOf(frames[0]!)).toEqual({ reason: 'replay_overtaken', last_known_id: start.envelope.event_id })
    expect(frames.slice(1).map(idOf)).toEqual(ids(later.slice(-100)))
  })

  test('a stream that is not read drops live frames beyond its queue, then reports events.lagged and continues', async () => {
    const before = await lagged()
    const s = openStream()
    const published = await emitMany(60)
    // Nothing was read: the ReadableStream holds HWM chunks (the preamble + HWM-1 frames), the queue QUEUE_LIMIT.
    const kept = HWM - 1 + QUEUE_LIMIT
    expect(await lagged()).toBe(before + published.length - kept)
    const frames = (await s.read(1 + kept + 1)).slice(1)
    expect(frames.slice(0, kept).map(idOf)).toEqual(ids(published.slice(0, kept)))
    expect(frames[kept]).toBe(`event: events.lagged\ndata: {"dropped_count":${published.length - kept}}\n\n`)
    const next = await emit()
    expect((await s.read(1)).map(idOf)).toEqual([next.envelope.event_id])
  })

  test('a slow stream does not hold back a fast one', async () => {
    openStream() // never read
    const fast = openStream()
    await fast.read(1)
    for (let i = 0; i < 100; i++) {
      const e = await emit()
      expect((await fast.read(1)).map(idOf)).toEqual([e.envelope.event_id])
    }
  })

  test('revoking the token ends its streams, and only those', async () => {
    const principal: Principal = { ...LOCAL_PRINCIPAL, sub: 'a', stream: true, jti: 'tok-1' }
    const s = openStream({ principal })
    const other = openStream({ principal: { ...principal, jti: 'tok-2' } })
    await s.read(1)
    await revocations.revoke('tok-1', Math.floor(Date.now() / 1000) + 60)
    expect(await s.read(10)).toEqual([': stream closed: token revoked\n\n'])
    expect(hub.count).toBe(1)
    expect(hub.openTokenIds()).toEqual(['tok-2'])
    other.abort()
  })

  test('client disconnects (abort or cancel) free the stream', async () => {
    const a = openStream()
    const b = openStream()
    expect(hub.count).toBe(2)
    a.abort()
    await b.reader.cancel()
    expect(hub.count).toBe(0)
    await emit() // nobody left: no error
  })

  test('shutdown ends every stream and refuses new ones', async () => {
    const s = openStream()
    await s.read(1)
    hub.shutdown()
    expect(await s.read(10)).toEqual([': stream closed: server shutting down\n\n'])
    expect(() => openStream()).toThrow(/shutting down/)
  })
})

async function lagged(): Promise<number> {
  const m = /^matric_sse_events_lagged_total(?:\{[^}]*\})? (\d+)/m.exec(await metrics.scrape())
  return m ? Number(m[1]) : 0
}

describe('the opening queue.status frame', () => {
  const everything = { types: null }

  test('a live stream starts with the counts it may see, no id line, a resumable cursor as event_id', async () => {
    await emit()
    await emit()
    counts = { pending: 3, running: 2 }
    const s = openStream({ filter: { ...everything, tags: ['x'] } })
    const [hello, opening] = await s.read(2)
    expect(hello).toBe(': hello\n\n')
    expect(idOf(opening!)).toBeUndefined()
    expect(eventOf(opening!)).toBe('queue.status')
    const env = dataOf(opening!)
    expect(env).toMatchObject({ event_type: 'queue.status', memory: 'm', tenant_id: 'default', entity_type: 'queue', payload_version: 1 })
    expect(env.payload).toEqual({ type: 'QueueStatus', total_jobs: 5, running: 2, pending: 3 })
    expect(countsAsked).toEqual([{ memory: 'm', tags: ['x'] }])
    expect(cursors.decode('m', env.event_id as string)).toBe(await log.lastSeq())
    expect(bus.deliveredThrough).toBe(await log.lastSeq())
    // Resuming from the cursor replays exactly what came after it.
    const later = await emit()
    expect(await hub.resumePosition('m', null, env.event_id as string)).toBe(later.seq - 1)
  })

  test('after a replay it follows the replayed events', async () => {
    const first = await emit()
    const rest = await emitMany(2)
    const s = openStream({ filter: everything, replayAfter: first.seq, lastEventId: first.envelope.event_id })
    const frames = await s.read(4)
    expect(frames.slice(1, 3).map(idOf)).toEqual(ids(rest))
    expect(eventOf(frames[3]!)).toBe('queue.status')
  })

  test('events published but not yet delivered when the stream opens come first, then the counts', async () => {
    const pending = bus.publish({ memory: 'm', entityType: 'job', entityId: 'jp', payload: { type: 'JobQueued', job_id: 'jp', job_type: 'Import' } })
    const s = openStream({ filter: everything })
    expect(countsAsked).toEqual([]) // not yet: the pending event is not delivered
    await bus.flush()
    const frames = await s.read(3)
    expect(idOf(frames[1]!)).toBe(pending.envelope.event_id)
    expect(eventOf(frames[2]!)).toBe('queue.status')
    expect(countsAsked.length).toBe(1)
  })

  test("a memory-wide QueueStatus is followed, on a tag-restricted stream, by the counts it carries for that stream's tags", async () => {
    const restricted = openStream({ filter: { ...everything, tags: ['x'] } })
    const uncounted = openStream({ filter: { ...everything, tags: ['y'] } })
    await restricted.read(2) // hello + opening counts
    await uncounted.read(2)
    expect([...hub.restrictions('m')]).toEqual([['x'], ['y']]) // what the scheduler counts along with the memory
    countsAsked = []
    counts = { pending: 9, running: 9 }
    // Counted by its source with the memory's, for ['x'] only.
    const status = bus.publish(
      { memory: 'm', entityType: 'queue', payload: { type: 'QueueStatus', total_jobs: 10, running: 4, pending: 6 } },
      { groupCounts: new Map([[tagSetKey(['x']), { pending: 1, running: 2 }]]) },
    )
    await bus.flush()
    const [x] = await restricted.read(1)
    expect(idOf(x!)).toBeUndefined() // synthetic, not the memory-wide event (which it may not see)
    const env = dataOf(x!)
    expect(env.payload).toEqual({ type: 'QueueStatus', total_jobs: 3, running: 2, pending: 1 })
    expect(cursors.decode('m', env.event_id as string)).toBe(status.seq) // resumes right after it
    // No counts for ['y'] on the event: that stream's counts are queried on delivery instead.
    const [y] = await uncounted.read(1)
    expect(dataOf(y!).payload).toEqual({ type: 'QueueStatus', total_jobs: 18, running: 9, pending: 9 })
    expect(countsAsked).toEqual([{ memory: 'm', tags: ['y'] }])
  })

  test('not sent to streams that filter it out (types without queue, or one entity)', async () => {
    const a = openStream({ filter: { types: new Set(['note.updated'] as const) } })
    const b = openStream({ filter: { types: null, entityId: 'j1' } })
    await a.read(1)
    await b.read(1)
    expect(countsAsked).toEqual([])
  })
})

describe('resume positions', () => {
  test('an event of this memory, visible to the principal', async () => {
    const e = await emit('m')
    expect(await hub.resumePosition('m', null, e.envelope.event_id)).toBe(e.seq)
  })
  test('an event of another memory is unknown here', async () => {
    const e = await emit('other')
    expect(await hub.resumePosition('m', null, e.envelope.event_id)).toBeNull()
  })
  test("a hidden note's event is unknown to a tag-restricted principal", async () => {
    const e = bus.publish({ memory: 'm', entityType: 'note', entityId: 'n1', tags: ['secret'], payload: { type: 'NoteDeleted', note_id: 'n1' } })
    await bus.flush()
    expect(await hub.resumePosition('m', ['public'], e.envelope.event_id)).toBeNull()
    expect(await hub.resumePosition('m', ['secret'], e.envelope.event_id)).toBe(e.seq)
  })
  test("another memory's cursor is unknown here", async () => {
    expect(await hub.resumePosition('m', null, cursors.encode('other', 3))).toBeNull()
    expect(await hub.resumePosition('m', null, cursors.encode('m', 3))).toBe(3)
  })
})
