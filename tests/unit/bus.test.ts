import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { Database } from 'bun:sqlite'
import { tagSetKey } from '../../src/auth/principal.ts'
import { EventBus, type PublishedEvent } from '../../src/events/bus.ts'
import { QueueStatusScheduler, type QueueCounts } from '../../src/events/queue-status.ts'
import type { NewEventRow } from '../../src/events/store.ts'
import { openDatabase } from '../../src/store/sqlite/db.ts'
import { SqliteEventStore } from '../../src/store/sqlite/events.ts'
import { createLogger } from '../../src/telemetry/log.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { within } from '../helpers/wait.ts'

class CountingLog extends SqliteEventStore {
  batches: number[] = []
  fail = false
  /** When set, appends wait for it (a store a network away). */
  gate: Promise<void> | undefined
  override async appendBatch(rows: readonly NewEventRow[]): Promise<number[]> {
    if (this.gate) await this.gate
    if (this.fail) throw new Error('disk full')
    this.batches.push(rows.length)
    return super.appendBatch(rows)
  }
}

let db: Database
let log: CountingLog
let metrics: Metrics
let bus: EventBus

beforeEach(async () => {
  db = openDatabase(':memory:')
  log = new CountingLog(db, { count: 100_000, hours: 24 })
  metrics = new Metrics()
  bus = new EventBus({ log, startSeq: await log.lastSeq(), metrics, logger: createLogger('error', () => {}) })
})
afterEach(async () => {
  await metrics.shutdown()
  db.close()
})

const queued = (id: string, memory = 'm') => bus.publish({ memory, entityType: 'job', entityId: id, payload: { type: 'JobQueued', job_id: id, job_type: 'Import' } })
/** The logged seq of an event id, read straight from the table at the moment of the call. */
const loggedSeq = (id: string) => (db.query('SELECT seq FROM events WHERE event_id = ?').get(id) as { seq: number } | null)?.seq

describe('EventBus group commit', () => {
  test('events published in one turn are logged in one transaction, then delivered in order with their seqs', async () => {
    const seen: PublishedEvent[] = []
    bus.onDelivered('t', (e) => {
      // Durable before any transport sees it.
      expect(loggedSeq(e.envelope.event_id)).toBe(e.seq)
      seen.push(e)
    })
    const published = ['a', 'b', 'c'].map((id) => queued(id))
    expect(seen).toHaveLength(0)
    expect(bus.pending).toBe(3)
    await within(bus.committed(), 'the commit')
    expect(log.batches).toEqual([3])
    expect(seen.map((e) => e.envelope.entity_id)).toEqual(['a', 'b', 'c'])
    expect(seen).toEqual(published)
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3])
    expect((await log.positionOf(published[2]!.envelope.event_id))?.seq).toBe(3)
  })

  test('flush() delivers what is queued; committed() is already resolved when nothing waits', async () => {
    const seen: string[] = []
    bus.onDelivered('t', (e) => void seen.push(e.envelope.entity_id!))
    queued('x')
    await within(bus.flush(), 'the flush')
    expect(seen).toEqual(['x'])
    expect(bus.pending).toBe(0)
    await within(bus.committed(), 'an idle commit', 100)
  })

  test('one append is in flight at a time: events published meanwhile form the next batch, delivered after it', async () => {
    const seen: string[] = []
    bus.onDelivered('t', (e) => void seen.push(e.envelope.entity_id!))
    let open!: () => void
    log.gate = new Promise<void>((resolve) => (open = resolve))
    queued('a')
    const first = bus.flush()
    queued('b')
    queued('c')
    expect(bus.pending).toBeGreaterThan(0)
    open()
    await within(first, 'the flush') // it drains everything queued, batch by batch
    expect(log.batches).toEqual([1, 2])
    expect(seen).toEqual(['a', 'b', 'c'])
    expect(bus.pending).toBe(0)
  })

  test('committed() waits only for what was published before it, not for the bus to fall idle', async () => {
    const seen: string[] = []
    bus.onDelivered('t', (e) => void seen.push(e.envelope.entity_id!))
    queued('a')
    const mine = bus.committed() // the request that published 'a'
    void bus.flush()
    // A steady load: while 'a' is appended, later events keep arriving, and their append is held.
    let open!: () => void
    log.gate = new Promise<void>((resolve) => (open = resolve))
    queued('b')
    let resolved = false
    void mine.then(() => (resolved = true))
    await within(mine, "the first request's commit")
    expect(resolved).toBe(true)
    expect(seen).toEqual(['a'])
    expect(bus.pending).toBeGreaterThan(0) // 'b' is still waiting for the store
    const later = bus.committed()
    open()
    await within(later, "the second request's commit")
    expect(seen).toEqual(['a', 'b'])
  })

  test('whenIdle waits for a held change of state until its event is delivered (a count never sees one without the other)', async () => {
    const order: string[] = []
    bus.onDelivered('t', (e) => void order.push(`event ${e.envelope.entity_id}`))
    const release = bus.hold() // e.g. a job row written, its JobQueued about to be published
    bus.whenIdle(() => order.push('idle'))
    expect(order).toEqual([]) // nothing is pending on the bus, but a change is under way
    queued('j1')
    release()
    expect(order).toEqual([]) // released, but its event is not delivered yet
    await within(bus.committed(), 'the commit')
    expect(order).toEqual(['event j1', 'idle'])
    release() // a second release changes nothing
    bus.whenIdle(() => order.push('idle again'))
    expect(order.at(-1)).toBe('idle again')
  })

  test('a failing log write still delivers live (seq 0) and counts the error; a failing subscriber does not stop the others', async () => {
    const seen: number[] = []
    bus.onDelivered('broken', () => {
      throw new Error('bug')
    })
    bus.onDelivered('ok', (e) => void seen.push(e.seq))
    log.fail = true
    queued('lost-from-log')
    await bus.flush()
    expect(seen).toEqual([0])
    const text = await metrics.scrape()
    expect(text).toMatch(/matric_event_bus_errors_total\{where="log"\} 1/)
    expect(text).toMatch(/matric_event_bus_errors_total\{where="broken"\} 1/)
  })

  test('an event published by a subscriber during a flush is delivered in the same flush, after the current batch', async () => {
    const seen: string[] = []
    bus.onDelivered('echo', (e) => {
      seen.push(e.envelope.entity_id!)
      if (e.envelope.entity_id === 'first') queued('echoed')
    })
    queued('first')
    queued('second')
    await bus.flush()
    expect(seen).toEqual(['first', 'second', 'echoed'])
  })
})

describe('subscriber kinds', () => {
  test('onCommitted runs for every event before any onDelivered subscriber sees the batch', async () => {
    const order: string[] = []
    bus.onDelivered('transport', (e) => void order.push(`delivered ${e.envelope.entity_id}`))
    bus.onCommitted('outbox', (e) => void order.push(`committed ${e.envelope.entity_id} seq>0=${e.seq > 0}`))
    for (const id of ['a', 'b']) bus.publish({ memory: 'm', entityType: 'job', entityId: id, payload: { type: 'JobQueued', job_id: id, job_type: 'X' } })
    await bus.flush()
    expect(order).toEqual(['committed a seq>0=true', 'committed b seq>0=true', 'delivered a', 'delivered b'])
  })

  test("committed() waits for an onCommitted subscriber's promise; its rejection is counted, not thrown", async () => {
    let settle!: () => void
    let settled = false
    bus.onCommitted('outbox', () => new Promise<void>((resolve) => (settle = resolve)).then(() => void (settled = true)))
    bus.onCommitted('failing', () => Promise.reject(new Error('outbox insert failed')))
    queued('a')
    const done = bus.committed()
    await bus.flush()
    expect(settled).toBe(false)
    expect(bus.pending).toBeGreaterThan(0) // durable work still settling
    settle()
    await within(done, 'the commit with its durable work')
    expect(settled).toBe(true)
    expect(bus.pending).toBe(0)
    expect(await metrics.scrape()).toMatch(/matric_event_bus_errors_total\{where="failing"\} 1/)
  })
})

describe('QueueStatus group counts', () => {
  test('publish(draft, { groupCounts }) carries them to every subscriber; they are not logged', async () => {
    const got: (ReadonlyMap<string, QueueCounts> | undefined)[] = []
    bus.onCommitted('c', (e) => void got.push(e.groupCounts))
    bus.onDelivered('d', (e) => void got.push(e.groupCounts))
    const groupCounts = new Map([[tagSetKey(['a']), { pending: 1, running: 0 }]])
    const e = bus.publish({ memory: 'm', entityType: 'queue', payload: { type: 'QueueStatus', total_jobs: 3, running: 1, pending: 2 } }, { groupCounts })
    const plain = queued('j')
    await bus.flush()
    expect(got).toEqual([groupCounts, undefined, groupCounts, undefined])
    expect(e.groupCounts).toBe(groupCounts)
    expect(plain.groupCounts).toBeUndefined()
    const [row] = await log.afterInMemory('m', 0, 1)
    expect(row!.envelope).toBe(e.json)
    expect(row!.envelope).not.toContain('groupCounts')
  })

  test('sendNow counts the memory and each distinct restriction given, before publishing; the event carries those counts', async () => {
    const state: Record<string, QueueCounts> = { all: { pending: 4, running: 2 }, [tagSetKey(['a'])]: { pending: 1, running: 1 }, [tagSetKey(['b', 'c'])]: { pending: 2, running: 0 } }
    const asked: string[] = []
    const counts = async (memory: string, r: readonly string[] | null) => {
      const key = r === null ? 'all' : tagSetKey(r)
      asked.push(`${memory} ${key}`)
      return { ...state[key]! }
    }
    // ['c','b'] and ['b','c','b'] are the same restriction as ['b','c']: counted once.
    const restrictions: (readonly string[])[] = [['a'], ['c', 'b'], ['b', 'c', 'b']]
    const scheduler = new QueueStatusScheduler(bus, counts, 1000, (m) => (m === 'mem' ? restrictions : []))
    const seen: PublishedEvent[] = []
    bus.onDelivered('sse', (e) => void seen.push(e))
    const id = await scheduler.sendNow('mem')
    // Counts change after the event was counted but before it is delivered: the event keeps its instant.
    state.all = { pending: 0, running: 0 }
    state[tagSetKey(['a'])] = { pending: 0, running: 0 }
    await bus.flush()
    scheduler.stop()
    expect(asked.sort()).toEqual([`mem ${tagSetKey(['a'])}`, `mem ${tagSetKey(['b', 'c'])}`, 'mem all'].sort())
    expect(seen).toHaveLength(1)
    const e = seen[0]!
    expect(e.envelope.event_id).toBe(id)
    expect(e.envelope.payload).toEqual({ type: 'QueueStatus', total_jobs: 6, running: 2, pending: 4 })
    expect(e.groupCounts).toEqual(
      new Map([
        [tagSetKey(['a']), { pending: 1, running: 1 }],
        [tagSetKey(['b', 'c']), { pending: 2, running: 0 }],
      ]),
    )
    // A memory without restricted listeners: the memory-wide counts and an empty map.
    await scheduler.sendNow('other')
    await bus.flush()
    expect(seen[1]!.groupCounts).toEqual(new Map())
  })
})

describe('deliveredThrough', () => {
  test('starts at the end of the log and follows every delivered batch', async () => {
    const before = bus.deliveredThrough
    expect(before).toBe(await log.lastSeq())
    const e = bus.publish({ memory: 'm', entityType: 'job', entityId: 'd1', payload: { type: 'JobQueued', job_id: 'd1', job_type: 'X' } })
    expect(bus.deliveredThrough).toBe(before) // published, not delivered yet
    await bus.flush()
    expect(bus.deliveredThrough).toBe(e.seq)
    const again = new EventBus({ log, startSeq: await log.lastSeq(), metrics, logger: createLogger('error', () => {}) })
    expect(again.deliveredThrough).toBe(e.seq) // a new process starts where the log ends
  })
})
