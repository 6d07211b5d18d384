import { describe, expect, test } from 'bun:test'
import type { NewEventRow } from '../../src/events/store.ts'
import { harness, uid, uniqueMemory, type OpenStores } from './harness.ts'

const row = (memory: string, createdMs = Date.now(), extra: Partial<NewEventRow> = {}): NewEventRow => {
  const event_id = uid()
  return {
    event_id,
    memory,
    event_type: 'NoteUpdated',
    entity_id: uid(),
    tags: JSON.stringify(['a', 'b c']),
    envelope: JSON.stringify({ id: event_id, memory }),
    created_ms: createdMs,
    ...extra,
  }
}

const rows = (memory: string, n: number, createdMs = Date.now()) => Array.from({ length: n }, () => row(memory, createdMs))

/** EventStore contract (src/events/store.ts). */
export function eventStoreContract(openStores: OpenStores): void {
  describe('EventStore', () => {
    const { open } = harness(openStores)

    test('appendBatch: positions dense, increasing, in row order, after every earlier one; lastSeq follows', async () => {
      const s = await open()
      const m = uniqueMemory()
      const before = await s.events.lastSeq()
      const a = await s.events.appendBatch(rows(m, 3))
      const b = await s.events.appendBatch(rows(m, 1))
      expect(a).toEqual([before + 1, before + 2, before + 3])
      expect(b).toEqual([before + 4])
      expect(await s.events.lastSeq()).toBe(before + 4)
      expect(await s.events.appendBatch([])).toEqual([])
      expect(await s.events.lastSeq()).toBe(before + 4)
    })

    test('rows come back exactly as written, per memory, in position order, paged by afterSeq and limit', async () => {
      const s = await open()
      const m = uniqueMemory()
      const other = uniqueMemory()
      const tricky = JSON.stringify({ text: 'quotes " commas , {braces} \\ backslash \n ünï ✓ 😀' })
      const written = [
        row(m, 1_700_000_000_123),
        row(m, 1_700_000_000_124, { tags: null, entity_id: null }),
        row(m, 1_700_000_000_125, { entity_id: 'NULL', tags: '["{a,b}","NULL"]', envelope: tricky, event_type: '' }),
      ]
      const seqs: number[] = []
      for (const r of written) {
        seqs.push(...(await s.events.appendBatch([r])))
        await s.events.appendBatch([row(other)]) // interleaved: the other memory's rows are not returned
      }
      const got = await s.events.afterInMemory(m, 0)
      expect(got).toEqual(written.map((r, i) => ({ ...r, seq: seqs[i]! })))
      expect(typeof got[0]!.seq).toBe('number')
      expect(typeof got[0]!.created_ms).toBe('number')
      expect((await s.events.afterInMemory(m, seqs[0]!, 1)).map((r) => r.seq)).toEqual([seqs[1]!])
      expect(await s.events.afterInMemory(m, seqs[2]!)).toEqual([])
      expect(await s.events.afterInMemory(uniqueMemory(), 0)).toEqual([])
    })

    test('positionOf and oldestInMemory', async () => {
      const s = await open()
      const m = uniqueMemory()
      expect(await s.events.oldestInMemory(m)).toBeNull()
      const r1 = row(m, 1_700_000_000_000)
      const r2 = row(m, 1_700_000_000_500, { tags: null })
      const [p1, p2] = await s.events.appendBatch([r1, r2])
      expect(await s.events.positionOf(r1.event_id)).toEqual({ seq: p1!, memory: m, tags: r1.tags })
      expect(await s.events.positionOf(r2.event_id)).toEqual({ seq: p2!, memory: m, tags: null })
      expect(await s.events.positionOf(uid())).toBeNull()
      expect(await s.events.oldestInMemory(m)).toEqual({ seq: p1!, created_ms: 1_700_000_000_000 })
    })

    test('a batch with a duplicate event id is refused whole: no position taken', async () => {
      const s = await open()
      const m = uniqueMemory()
      const dup = row(m)
      await s.events.appendBatch([dup])
      const before = await s.events.lastSeq()
      await expect(s.events.appendBatch([row(m), dup])).rejects.toThrow()
      expect(await s.events.lastSeq()).toBe(before)
      expect((await s.events.afterInMemory(m, 0)).length).toBe(1)
      // Positions stay dense after a failed batch.
      expect(await s.events.appendBatch([row(m)])).toEqual([before + 1])
    })

    test('concurrent appenders on two instances: distinct dense positions, and a tailing reader misses none', async () => {
      const a = await open()
      const b = await open()
      const m = uniqueMemory()
      const start = await a.events.lastSeq()
      let done = false
      const seen: number[] = []
      // The reader follows the log by position only, as a replaying stream does: read after the last seen.
      const reader = (async () => {
        let cursor = start
        for (;;) {
          const finished = done
          const page = await b.events.afterInMemory(m, cursor, 1000)
          for (const r of page) seen.push(r.seq)
          if (page.length) cursor = page[page.length - 1]!.seq
          if (finished && page.length === 0) return
          await Promise.resolve()
        }
      })()
      const appends = Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).events.appendBatch(rows(m, 5)))
      const positions = (await Promise.all(appends)).flat()
      done = true
      await reader
      const sorted = [...positions].sort((x, y) => x - y)
      expect(new Set(positions).size).toBe(200)
      expect(sorted[0]).toBe(start + 1)
      expect(sorted[199]).toBe(start + 200)
      expect(seen).toEqual(sorted)
    })

    test('readAfter: every memory, in position order, paged by afterSeq and limit', async () => {
      const s = await open()
      const [m1, m2] = [uniqueMemory(), uniqueMemory()]
      const start = await s.events.lastSeq()
      const written = [row(m1), row(m2), row(m1, 1_700_000_000_000, { tags: null, entity_id: null })]
      const seqs = await s.events.appendBatch(written)
      expect(await s.events.readAfter(start, 10)).toEqual(written.map((r, i) => ({ ...r, seq: seqs[i]! })))
      expect((await s.events.readAfter(start, 2)).map((r) => r.seq)).toEqual([start + 1, start + 2])
      expect((await s.events.readAfter(start + 2, 2)).map((r) => r.memory)).toEqual([m1])
      expect(await s.events.readAfter(start + 3, 10)).toEqual([])
    })

    test('readAfter on another instance while two append: a committed prefix, no position skipped or repeated', async () => {
      const a = await open()
      const b = await open()
      const reader = await open()
      const m = uniqueMemory()
      const start = await a.events.lastSeq()
      let done = false
      const seen: number[] = []
      // What a cluster node's catch-up does: read the whole log after the last position it delivered.
      const tail = (async () => {
        let cursor = start
        for (;;) {
          const finished = done
          const page = await reader.events.readAfter(cursor, 7)
          for (const r of page) {
            expect(r.seq).toBe(cursor + 1)
            cursor = r.seq
            seen.push(r.seq)
          }
          if (finished && page.length === 0) return
          await Promise.resolve()
        }
      })()
      const appends = Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).events.appendBatch(rows(m, 3)))
      const positions = (await Promise.all(appends)).flat().sort((x, y) => x - y)
      done = true
      await tail
      expect(seen).toEqual(positions)
    })

    test('perSecond counts one memory per unix second from fromMs', async () => {
      const s = await open()
      const m = uniqueMemory()
      const base = 1_600_000_000_000
      await s.events.appendBatch([row(m, base - 1), row(m, base), row(m, base + 999), row(m, base + 1000), row(m, base + 2500), row(uniqueMemory(), base)])
      // The port promises no order: the console places each second itself (perSecondSeries).
      expect((await s.events.perSecond(m, base)).sort((x, y) => x.s - y.s)).toEqual([
        { s: base / 1000, n: 2 },
        { s: base / 1000 + 1, n: 1 },
        { s: base / 1000 + 2, n: 1 },
      ])
    })

    test('prune: each memory appended to keeps its newest `count`; watermarks say how far', async () => {
      const s = await open({ retention: { count: 3, hours: 24 * 365 * 100 } })
      const busy = uniqueMemory('busy')
      const quiet = uniqueMemory('quiet')
      const p = await s.events.appendBatch(rows(busy, 5))
      const q = await s.events.appendBatch(rows(quiet, 2))
      expect(await s.events.prunedThrough(busy)).toBeLessThan(p[0]!)
      expect(await s.events.prune()).toBe(2)
      expect((await s.events.afterInMemory(busy, 0)).map((r) => r.seq)).toEqual(p.slice(2))
      expect(await s.events.prunedThrough(busy)).toBe(p[1]!)
      expect((await s.events.afterInMemory(quiet, 0)).map((r) => r.seq)).toEqual(q)
      expect(await s.events.prunedThrough(quiet)).toBeLessThan(q[0]!)
      expect(await s.events.positionOf((await s.events.afterInMemory(busy, 0))[0]!.event_id)).not.toBeNull()
      // Nothing more to cut: the watermark stays where it was.
      expect(await s.events.prune()).toBe(0)
      expect(await s.events.prunedThrough(busy)).toBe(p[1]!)
    })

    test('retention runs inside appendBatch once some hundreds of events were appended', async () => {
      const s = await open({ retention: { count: 5, hours: 24 * 365 * 100 } })
      const m = uniqueMemory()
      const positions: number[] = []
      for (let i = 0; i < 20; i++) positions.push(...(await s.events.appendBatch(rows(m, 50))))
      const kept = await s.events.afterInMemory(m, 0, 5000)
      expect(kept.length).toBeLessThan(500)
      expect(kept.map((r) => r.seq)).toEqual(positions.slice(positions.length - kept.length))
      expect(await s.events.prunedThrough(m)).toBe(positions[positions.length - kept.length - 1]!)
    })

    test('prune by age cuts the oldest positions of every memory and raises the shared watermark', async () => {
      const s = await open({ retention: { count: 10_000, hours: 1 } })
      // Far in the future, so that every row other tests wrote is older than the cut too (the cut is a prefix).
      const now = Date.now() + 100 * 3600_000
      const m = uniqueMemory()
      const old = await s.events.appendBatch(rows(m, 3, now - 2 * 3600_000))
      const young = await s.events.appendBatch(rows(m, 2, now - 30 * 60_000))
      const removed = await s.events.prune(now)
      expect(removed).toBeGreaterThanOrEqual(3)
      expect((await s.events.afterInMemory(m, 0)).map((r) => r.seq)).toEqual(young)
      expect(await s.events.oldestInMemory(m)).toEqual({ seq: young[0]!, created_ms: now - 30 * 60_000 })
      expect(await s.events.prunedThrough(m)).toBe(old[2]!)
      // The age cut applies to every memory: one never written to reports it too.
      expect(await s.events.prunedThrough(uniqueMemory())).toBe(old[2]!)
      // Positions are never reused.
      expect(await s.events.lastSeq()).toBe(young[1]!)
      expect(await s.events.appendBatch(rows(m, 1, now))).toEqual([young[1]! + 1])
    })

    test('maxTotal keeps the newest positions of the whole log', async () => {
      const s = await open({ retention: { count: 10_000, hours: 24 * 365 * 100, maxTotal: 10 } })
      const a = uniqueMemory()
      const b = uniqueMemory()
      const pa = await s.events.appendBatch(rows(a, 8))
      const pb = await s.events.appendBatch(rows(b, 7))
      await s.events.prune()
      const all = [...pa, ...pb]
      expect((await s.events.afterInMemory(a, 0)).map((r) => r.seq)).toEqual(all.slice(5, 8))
      expect((await s.events.afterInMemory(b, 0)).map((r) => r.seq)).toEqual(pb)
      expect(await s.events.prunedThrough(a)).toBe(all[4]!)
      expect(await s.events.prunedThrough(b)).toBe(all[4]!)
    })
  })
}
