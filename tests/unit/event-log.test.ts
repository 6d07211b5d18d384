import { describe, expect, test } from 'bun:test'
import { EventLog, type EventRow } from '../../src/events/log.ts'
import { openDatabase } from '../../src/store/db.ts'

const row = (memory: string, i: number, createdMs = Date.now()): Omit<EventRow, 'seq'> => ({
  event_id: `${memory}-${i}-${Math.random()}`,
  memory,
  event_type: 'note.deleted',
  entity_id: null,
  tags: null,
  envelope: '{}',
  created_ms: createdMs,
})
const count = (log: EventLog, memory: string) => log.afterInMemory(memory, 0, 1_000_000).length

describe('EventLog retention', () => {
  test('the count limit is per memory: a busy memory keeps its newest N, a quiet one keeps everything', () => {
    const log = new EventLog(openDatabase(':memory:'), { count: 10, hours: 24 })
    log.appendBatch(Array.from({ length: 3 }, (_, i) => row('quiet', i)))
    log.appendBatch(Array.from({ length: 40 }, (_, i) => row('busy', i)))
    log.prune()
    expect(count(log, 'quiet')).toBe(3)
    expect(count(log, 'busy')).toBe(10)
    expect(log.prunedThrough('quiet')).toBe(0)
    expect(log.prunedThrough('busy')).toBe(log.afterInMemory('busy', 0, 100)[0]!.seq - 1)
  })

  test('the age limit applies to every memory and raises every watermark', () => {
    const log = new EventLog(openDatabase(':memory:'), { count: 1000, hours: 1 })
    const old = Date.now() - 2 * 3600_000
    log.appendBatch([row('a', 0, old), row('b', 0, old)])
    const young = log.appendBatch([row('a', 1), row('b', 1)])
    log.prune()
    expect(count(log, 'a') + count(log, 'b')).toBe(2)
    expect(log.prunedThrough('a')).toBe(young[0]! - 1)
    expect(log.prunedThrough('never-written')).toBe(young[0]! - 1)
  })

  test('a total backstop bounds the log however many memories there are', () => {
    const log = new EventLog(openDatabase(':memory:'), { count: 1000, hours: 24, maxTotal: 50 })
    for (let m = 0; m < 30; m++) log.appendBatch(Array.from({ length: 5 }, (_, i) => row(`m${m}`, i)))
    log.prune()
    let total = 0
    for (let m = 0; m < 30; m++) total += count(log, `m${m}`)
    expect(total).toBe(50)
    expect(log.prunedThrough('m0')).toBe(log.lastSeq() - 50)
  })
})
