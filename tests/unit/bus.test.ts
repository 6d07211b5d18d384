import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { Database } from 'bun:sqlite'
import { EventBus, type PublishedEvent } from '../../src/events/bus.ts'
import { EventLog, type EventRow } from '../../src/events/log.ts'
import { openDatabase } from '../../src/store/db.ts'
import { createLogger } from '../../src/telemetry/log.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { within } from '../helpers/wait.ts'

class CountingLog extends EventLog {
  batches: number[] = []
  fail = false
  override appendBatch(rows: readonly Omit<EventRow, 'seq'>[]): number[] {
    if (this.fail) throw new Error('disk full')
    this.batches.push(rows.length)
    return super.appendBatch(rows)
  }
}

let db: Database
let log: CountingLog
let metrics: Metrics
let bus: EventBus

beforeEach(() => {
  db = openDatabase(':memory:')
  log = new CountingLog(db, { count: 100_000, hours: 24 })
  metrics = new Metrics()
  bus = new EventBus({ log, metrics, logger: createLogger('error', () => {}) })
})
afterEach(async () => {
  await metrics.shutdown()
  db.close()
})

const queued = (id: string, memory = 'm') => bus.publish({ memory, entityType: 'job', entityId: id, payload: { type: 'JobQueued', job_id: id, job_type: 'Import' } })

describe('EventBus group commit', () => {
  test('events published in one turn are logged in one transaction, then delivered in order with their seqs', async () => {
    const seen: PublishedEvent[] = []
    bus.onDelivered('t', (e) => {
      // Durable before any transport sees it.
      expect(log.seqOf(e.envelope.event_id)).toBe(e.seq)
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
  })

  test('flush() delivers at once; committed() is already resolved when nothing waits', async () => {
    const seen: string[] = []
    bus.onDelivered('t', (e) => seen.push(e.envelope.entity_id!))
    queued('x')
    bus.flush()
    expect(seen).toEqual(['x'])
    expect(bus.pending).toBe(0)
    await within(bus.committed(), 'an idle commit', 100)
  })

  test('prepare hooks run at publish time, before the event is queued', () => {
    const order: string[] = []
    bus.prepare('p', (e) => order.push(`prepare ${e.envelope.entity_id} pending=${bus.pending}`))
    bus.onDelivered('s', (e) => order.push(`deliver ${e.envelope.entity_id}`))
    queued('a')
    queued('b')
    order.push('flush')
    bus.flush()
    expect(order).toEqual(['prepare a pending=0', 'prepare b pending=1', 'flush', 'deliver a', 'deliver b'])
  })

  test('a failing log write still delivers live (seq 0) and counts the error; a failing subscriber does not stop the others', async () => {
    const seen: number[] = []
    bus.onDelivered('broken', () => {
      throw new Error('bug')
    })
    bus.onDelivered('ok', (e) => seen.push(e.seq))
    log.fail = true
    queued('lost-from-log')
    bus.flush()
    expect(seen).toEqual([0])
    const text = await metrics.scrape()
    expect(text).toMatch(/matric_event_bus_errors_total\{where="log"\} 1/)
    expect(text).toMatch(/matric_event_bus_errors_total\{where="broken"\} 1/)
  })

  test('an event published by a subscriber during a flush is delivered in the same flush, after the current batch', () => {
    const seen: string[] = []
    bus.onDelivered('echo', (e) => {
      seen.push(e.envelope.entity_id!)
      if (e.envelope.entity_id === 'first') queued('echoed')
    })
    queued('first')
    queued('second')
    bus.flush()
    expect(seen).toEqual(['first', 'second', 'echoed'])
  })
})

describe('subscriber kinds', () => {
  test('onCommitted runs for every event before any onDelivered subscriber sees the batch', () => {
    const order: string[] = []
    bus.onDelivered('transport', (e) => order.push(`delivered ${e.envelope.entity_id}`))
    bus.onCommitted('outbox', (e) => order.push(`committed ${e.envelope.entity_id} seq>0=${e.seq > 0}`))
    for (const id of ['a', 'b']) bus.publish({ memory: 'm', entityType: 'job', entityId: id, payload: { type: 'JobQueued', job_id: id, job_type: 'X' } })
    bus.flush()
    expect(order).toEqual(['committed a seq>0=true', 'committed b seq>0=true', 'delivered a', 'delivered b'])
  })
})

describe('deliveredThrough', () => {
  test('starts at the end of the log and follows every delivered batch', () => {
    const before = bus.deliveredThrough
    expect(before).toBe(log.lastSeq())
    const e = bus.publish({ memory: 'm', entityType: 'job', entityId: 'd1', payload: { type: 'JobQueued', job_id: 'd1', job_type: 'X' } })
    expect(bus.deliveredThrough).toBe(before) // published, not delivered yet
    bus.flush()
    expect(bus.deliveredThrough).toBe(e.seq)
    const again = new EventBus({ log, metrics, logger: createLogger('error', () => {}) })
    expect(again.deliveredThrough).toBe(e.seq) // a new process starts where the log ends
  })
})
