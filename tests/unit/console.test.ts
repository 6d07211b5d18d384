import { describe, expect, test } from 'bun:test'
import { SseParser, type SseFrame } from '../../src/modules/console/ui/sse.ts'
import { perSecondSeries } from '../../src/modules/console/summary.ts'
import { LatencyWindow, percentiles } from '../../src/telemetry/latency-window.ts'
import { compileEventFilter } from '../../src/modules/webhooks/filter.ts'
import { parseTypes } from '../../src/modules/realtime/sse-filter.ts'

describe('SseParser (the console reads SSE over fetch)', () => {
  const cases: [string, string[], SseFrame[]][] = [
    ['one frame', ['id: 1\nevent: note.created\ndata: {"a":1}\n\n'], [{ id: '1', event: 'note.created', data: '{"a":1}' }]],
    ['split anywhere', ['id: 1\nev', 'ent: x\nda', 'ta: y\n', '\n'], [{ id: '1', event: 'x', data: 'y' }]],
    ['CRLF, and CR split from LF across chunks', ['data: a\r', '\n\r\n'], [{ id: null, event: 'message', data: 'a' }]],
    ['comments and retry are skipped', ['retry: 1000\n\n: keepalive\n\ndata: z\n\n'], [{ id: null, event: 'message', data: 'z' }]],
    ['multi-line data joined with \\n', ['data: a\ndata: b\n\n'], [{ id: null, event: 'message', data: 'a\nb' }]],
    ['no space after the colon', ['event:queue.status\ndata:{}\n\n'], [{ id: null, event: 'queue.status', data: '{}' }]],
    ['a frame without data is dropped', ['event: x\n\n'], []],
    ['an unfinished frame waits', ['data: partial\n'], []],
    ['fields reset between frames', ['id: 1\nevent: a\ndata: 1\n\ndata: 2\n\n'], [{ id: '1', event: 'a', data: '1' }, { id: null, event: 'message', data: '2' }]],
  ]
  for (const [name, chunks, want] of cases)
    test(name, () => {
      const p = new SseParser()
      expect(chunks.flatMap((c) => p.push(c))).toEqual(want)
    })
})

describe('latency percentiles', () => {
  const cases: [number[], { count: number; p50: number | null; p95: number | null; p99: number | null }][] = [
    [[], { count: 0, p50: null, p95: null, p99: null }],
    [[5], { count: 1, p50: 5, p95: 5, p99: 5 }],
    [[1, 2, 3, 4], { count: 4, p50: 2, p95: 4, p99: 4 }],
    [Array.from({ length: 100 }, (_, i) => 100 - i), { count: 100, p50: 50, p95: 95, p99: 99 }],
    [[0.123456, 0.2], { count: 2, p50: 0.12, p95: 0.2, p99: 0.2 }],
  ]
  for (const [values, want] of cases) test(`${values.length} values`, () => expect(percentiles(values)).toEqual(want))

  test('the window keeps the last minute and the last `capacity` observations', () => {
    const w = new LatencyWindow(3, 1000)
    w.record(1, 0)
    w.record(2, 500)
    w.record(3, 900)
    expect(w.recent(1000).sort()).toEqual([1, 2, 3])
    expect(w.recent(1600).sort()).toEqual([3]) // 0 and 500 are older than a second
    w.record(4, 1600) // overwrites the oldest slot
    expect(w.recent(1600).sort()).toEqual([3, 4])
  })
})

describe('perSecondSeries', () => {
  test('dense, oldest first, ending with the current second; outside the window ignored', () => {
    const now = 100_500
    expect(perSecondSeries([{ s: 100, n: 3 }, { s: 98, n: 1 }, { s: 40, n: 9 }, { s: 101, n: 7 }], now, 4)).toEqual([0, 1, 0, 3])
    expect(perSecondSeries([], now, 2)).toEqual([0, 0])
  })
})

describe('webhook.disabled in the filters', () => {
  test('webhook filters: *, the prefix, dotted and legacy names select it; note does not', () => {
    for (const names of [['*'], ['webhook'], ['webhook.disabled'], ['WebhookDisabled']]) expect(compileEventFilter(names).types.has('webhook.disabled')).toBe(true)
    expect(compileEventFilter(['note']).types.has('webhook.disabled')).toBe(false)
  })
  test('SSE types: webhook selects it', () => {
    expect([...parseTypes('webhook')!]).toEqual(['webhook.disabled'])
    expect([...parseTypes('WebhookDisabled')!]).toEqual(['webhook.disabled'])
  })
})
