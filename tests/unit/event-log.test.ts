import { describe, expect, test } from 'bun:test'
import type { NewEventRow } from '../../src/events/store.ts'
import { openDatabase } from '../../src/store/sqlite/db.ts'
import { SqliteEventStore } from '../../src/store/sqlite/events.ts'

const row = (memory: string, i: number, createdMs = Date.now()): NewEventRow => ({
  event_id: `${memory}-${i}-${Math.random()}`,
  memory,
  event_type: 'note.deleted',
  entity_id: null,
  tags: null,
  envelope: '{}',
  created_ms: createdMs,
})
const count = async (log: SqliteEventStore, memory: string) => (await log.afterInMemory(memory, 0, 1_000_000)).length

describe('EventLog retention', () => {
  test('the count limit is per memory: a busy memory keeps its newest N, a quiet one keeps everything', async () => {
    const log = new SqliteEventStore(openDatabase(':memory:'), { count: 10, hours: 24 })
    await log.appendBatch(Array.from({ length: 3 }, (_, i) => row('quiet', i)))
    await log.appendBatch(Array.from({ length: 40 }, (_, i) => row('busy', i)))
    await log.prune()
    expect(await count(log, 'quiet')).toBe(3)
    expect(await count(log, 'busy')).toBe(10)
    expect(await log.prunedThrough('quiet')).toBe(0)
    expect(await log.prunedThrough('busy')).toBe((await log.afterInMemory('busy', 0, 100))[0]!.seq - 1)
  })

  test('the age limit applies to every memory and raises every watermark', async () => {
    const log = new SqliteEventStore(openDatabase(':memory:'), { count: 1000, hours: 1 })
    const old = Date.now() - 2 * 3600_000
    await log.appendBatch([row('a', 0, old), row('b', 0, old)])
    const young = await log.appendBatch([row('a', 1), row('b', 1)])
    await log.prune()
    expect((await count(log, 'a')) + (await count(log, 'b'))).toBe(2)
    expect(await log.prunedThrough('a')).toBe(young[0]! - 1)
    expect(await log.prunedThrough('never-written')).toBe(young[0]! - 1)
  })

  test('a total backstop bounds the log however many memories there are', async () => {
    const log = new SqliteEventStore(openDatabase(':memory:'), { count: 1000, hours: 24, maxTotal: 50 })
    for (let m = 0; m < 30; m++) await log.appendBatch(Array.from({ length: 5 }, (_, i) => row(`m${m}`, i)))
    await log.prune()
    let total = 0
    for (let m = 0; m < 30; m++) total += await count(log, `m${m}`)
    expect(total).toBe(50)
    expect(await log.prunedThrough('m0')).toBe((await log.lastSeq()) - 50)
  })
})
