/**
 * docs/sse.md slow consumers against a real server: a client that stops reading loses frames once its queue
 * (MATRIC_SSE_QUEUE_LIMIT) overflows, gets `events.lagged` {dropped_count} when it catches up, can resume
 * the gap from its last id, and never slows the bus or other streams.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { PublishedEvent } from '../../src/events/bus.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'
import { dataOf, SseClient } from '../helpers/sse-client.ts'

let s: TestServer
let token: string

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_SSE_QUEUE_LIMIT: '20', MATRIC_EVENT_RETENTION_COUNT: '100000' } })
  token = await s.token()
})
afterAll(() => s.stop())

async function laggedTotal(): Promise<number> {
  const text = await (await s.request('/metrics')).text()
  const m = /^matric_sse_events_lagged_total(?:\{[^}]*\})? (\d+)/m.exec(text)
  return m ? Number(m[1]) : 0
}

describe('slow consumers', () => {
  test('a client that stops reading gets events.lagged with the dropped count, then continues; peers are unaffected', async () => {
    const url = `${s.url}/api/v1/events?token=${token}`
    const slow = await SseClient.open(url, { read: false })
    const fast = await SseClient.open(url)
    expect(slow.status).toBe(200)
    await fast.frame((f) => f.retry !== undefined, 'the fast client to be connected')

    // ~1.3 KB frames, published in-process in batches until the slow stream's queue has overflowed
    // (socket and client buffers absorb several MB first).
    const published: PublishedEvent[] = []
    const message = 'x'.repeat(1000)
    const emit = () => {
      const n = published.length
      published.push(
        s.ctx.bus.publish({ memory: 'default', entityType: 'job', entityId: `lag-${n}`, payload: { type: 'JobProgress', job_id: `lag-${n}`, job_type: 'Import', progress: n % 101, progress_percent: n % 101, message } }),
      )
    }
    const before = await laggedTotal()
    await waitFor(
      async () => {
        // Small bursts with a turn of the event loop between them: a reading client keeps up with that
        // (a burst larger than the queue in one synchronous step would overflow any client's queue).
        for (let i = 0; i < 50; i++) {
          for (let j = 0; j < 10; j++) emit()
          await new Promise((r) => setImmediate(r))
        }
        return (await laggedTotal()) > before
      },
      'the slow stream to drop frames',
      20_000,
    )
    // The fast client got every event, in order, while the slow one was stuck.
    await fast.until(() => fast.events.length === published.length, 'the fast client to receive everything', 20_000)
    expect(fast.events.map((f) => f.id)).toEqual(published.map((e) => e.envelope.event_id))

    // The slow client reads again: a contiguous prefix, then events.lagged, then live events.
    slow.startReading()
    const lagged = await slow.frame((f) => f.event === 'events.lagged', 'the events.lagged frame', 20_000)
    const after = s.ctx.bus.publish({ memory: 'default', entityType: 'job', entityId: 'after-lag', payload: { type: 'JobQueued', job_id: 'after-lag', job_type: 'Import' } })
    await slow.frame((f) => f.id === after.envelope.event_id, 'a live event after the lag notice', 20_000)

    const i = slow.frames.indexOf(lagged)
    const beforeLag = slow.frames.slice(0, i).filter((f) => f.id !== undefined)
    const afterLag = slow.frames.slice(i + 1).filter((f) => f.id !== undefined)
    expect(lagged.id).toBeUndefined()
    const { dropped_count } = dataOf<{ dropped_count: number }>(lagged)
    expect(beforeLag.map((f) => f.id)).toEqual(published.slice(0, beforeLag.length).map((e) => e.envelope.event_id))
    expect(dropped_count).toBe(published.length - beforeLag.length)
    expect(dropped_count).toBeGreaterThan(0)
    expect(afterLag.map((f) => f.id)).toEqual([after.envelope.event_id])
    expect(await laggedTotal()).toBe(before + dropped_count)

    // The gap is recoverable: resume from the last id received before the notice.
    const resumed = await SseClient.open(url, { headers: { 'last-event-id': beforeLag.at(-1)!.id! } })
    const want = [...published.slice(beforeLag.length), after].map((e) => e.envelope.event_id)
    await resumed.until(() => resumed.events.length >= want.length, 'the resumed stream to replay the gap', 20_000)
    expect(resumed.events.map((f) => f.id)).toEqual(want)
    for (const c of [slow, fast, resumed]) c.close()
  }, 60_000)
})
