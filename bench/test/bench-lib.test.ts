import { describe, expect, test } from 'bun:test'
import { metricSum } from '../lib/drive.ts'
import { benchPayload, envelopeLike, frameOf, parseStamp } from '../lib/frame.ts'
import { parseMachineBusy, parseStatTicks, parseStatusKb, parseStatUserSys } from '../lib/proc.ts'
import { ChunkedDecoder } from '../lib/raw-sse-fleet.ts'
import { clientFrame, parseNumberBytes } from '../lib/raw-ws-fleet.ts'
import { aggregate, rowRatio, verdicts } from '../lib/report.ts'
import { isFlat, rssTrend } from '../lib/soak.ts'
import { emptyResult, type RunResult, type Scenario, type TargetKind } from '../lib/spec.ts'
import { SseParser } from '../lib/sse.ts'
import { percentile, ratio, Samples, summarize } from '../lib/stats.ts'

describe('stats', () => {
  test.each([
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99, 10],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 100, 10],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0, 1],
    [[7], 99, 7],
  ])('nearest-rank percentile of %p at %p = %p', (xs, p, want) => {
    expect(percentile(xs, p)).toBe(want)
  })

  test('percentile of nothing is NaN', () => expect(percentile([], 50)).toBeNaN())

  test('summarize sorts numerically, not as strings', () => {
    const s = summarize(new Float64Array([10, 9, 100, 2, 1]))
    expect(s).toMatchObject({ count: 5, p50: 9, max: 100, mean: 24.4 })
  })

  test('Samples grows past its initial capacity', () => {
    const s = new Samples(2)
    for (let i = 1; i <= 5; i++) s.push(i)
    expect([...s.values()]).toEqual([1, 2, 3, 4, 5])
    s.clear()
    expect(s.length).toBe(0)
  })

  test.each([
    [2, 4, 0.5],
    [1, 0, null],
    [null, 1, null],
    [1, Number.NaN, null],
  ])('ratio(%p, %p) = %p', (a, b, want) => expect(ratio(a, b)).toBe(want))
})

describe('bench frame', () => {
  test('payload pads to the requested size and keeps the HotM shape', () => {
    const p = benchPayload(42, 1234.5678, 256)
    const f = frameOf(p)
    expect(f.length).toBe(256)
    expect(f.startsWith('{"type":"JobProgress","job_id":"bench-42"')).toBe(true)
    expect(p.progress).toBe(p.progress_percent)
  })

  test('a payload never exceeds the catalog limit on message (1000 chars)', () => {
    expect(benchPayload(1, 1, 5000).message.length).toBeLessThanOrEqual(1000)
  })

  test.each([
    ['a HotM frame', frameOf(benchPayload(7, 99.125, 200))],
    ['an SSE envelope', envelopeLike(benchPayload(7, 99.125, 200), 'id', '2026-01-01T00:00:00Z')],
  ])('the stamp round-trips through %s', (_, text) => {
    expect(parseStamp(text)).toEqual({ seq: 7, t: 99.125 })
  })

  test.each([
    ['{"type":"QueueStatus","total_jobs":1}'],
    ['{"message":"no pipes"}'],
    ['{"message":"x|y|"}'],
  ])('no stamp in %s', (text) => expect(parseStamp(text)).toBeNull())

  test('warm-up stamps are negative', () => {
    expect(parseStamp(frameOf(benchPayload(-1000000, 5, 100)))!.seq).toBe(-1000000)
  })
})

describe('raw WebSocket client', () => {
  test.each([
    ['123', 123],
    ['-5', -5],
    ['12.5', 12.5],
    ['0.125', 0.125],
    ['', Number.NaN],
    ['1x', Number.NaN],
  ])('parseNumberBytes(%p) = %p', (text, want) => {
    const b = Buffer.from(`|${text}|`)
    const got = parseNumberBytes(b, 1, b.length - 1)
    if (Number.isNaN(want)) expect(got).toBeNaN()
    else expect(got).toBe(want)
  })

  test.each([
    [5, [0x81, 0x85]],
    [200, [0x81, 0xfe, 0, 200]],
  ])('client frame of %p bytes: FIN, text, masked, length encoding', (len, head) => {
    const f = clientFrame(0x1, Buffer.alloc(len, 97))
    expect([...f.subarray(0, head.length)]).toEqual(head)
    expect([...f.subarray(head.length, head.length + 4)]).toEqual([0, 0, 0, 0])
    expect(f.length).toBe(head.length + 4 + len)
  })
})

describe('SSE parsing', () => {
  test('SseParser splits events across arbitrary chunk boundaries and skips comments', () => {
    const text = 'retry: 3000\n\n: keepalive\n\nid: a\nevent: job.progress\ndata: {"x":1}\n\nevent: events.lagged\ndata: {"dropped_count":2}\n\n'
    for (const cut of [1, 5, 17, 40, text.length]) {
      const p = new SseParser()
      const out = [...p.feed(text.slice(0, cut)), ...p.feed(text.slice(cut))]
      expect(out).toEqual([
        { id: 'a', event: 'job.progress', data: '{"x":1}' },
        { event: 'events.lagged', data: '{"dropped_count":2}' },
      ])
    }
  })

  test('ChunkedDecoder reassembles the body whatever the TCP reads', () => {
    const body = 'data: hello\n\ndata: a longer event body\n\n'
    const wire = Buffer.from(`6\r\ndata: \r\n${(body.length - 6).toString(16)};ext=1\r\n${body.slice(6)}\r\n0\r\n\r\n`)
    for (const step of [1, 2, 3, 7, wire.length]) {
      let out = ''
      const d = new ChunkedDecoder((b) => (out += b.toString()))
      for (let i = 0; i < wire.length; i += step) d.feed(Buffer.from(wire.subarray(i, i + step)))
      expect(out).toBe(body)
      expect(d.done).toBe(true)
    }
  })
})

describe('/proc parsing', () => {
  test('utime + stime after a command name with spaces and parens', () => {
    const stat = '1234 (bun (worker) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 7 0 100 1000 500'
    expect(parseStatUserSys(stat)).toEqual([250, 75])
    expect(parseStatTicks(stat)).toBe(325)
  })

  test('VmRSS and a missing field', () => {
    const status = 'Name:\tbun\nVmHWM:\t  90000 kB\nVmRSS:\t  81920 kB\n'
    expect(parseStatusKb(status, 'VmRSS')).toBe(81920)
    expect(parseStatusKb(status, 'VmSwap')).toBeNaN()
  })

  test('machine busy ticks leave out idle and iowait', () => {
    expect(parseMachineBusy('cpu  100 1 50 9000 30 2 3 4 0 0\ncpu0 1 2 3\n')).toBe(100 + 1 + 50 + 2 + 3 + 4)
  })
})

describe('metrics text', () => {
  const text = [
    '# HELP matric_ws_events_sent_total x',
    'matric_ws_events_sent_total{event_type="job.progress"} 10',
    'matric_ws_events_sent_total{event_type="queue.status"} 5',
    'matric_ws_events_sent_totally 99',
    'matric_ws_connections_active 0',
  ].join('\n')
  test.each([
    ['matric_ws_events_sent_total', 15],
    ['matric_ws_connections_active', 0],
    ['matric_absent', null],
  ])('sum of %s = %p', (name, want) => expect(metricSum(text, name)).toBe(want))
})

describe('soak RSS trend', () => {
  const series = (mbs: number[]) => mbs.map((mb, t) => ({ t, mb }))
  test('a GC sawtooth after a warm-up ramp is flat', () => {
    const t = rssTrend(series([50, 80, 96, 100, 104, 97, 101, 105, 96, 100, 104, 97, 101, 105]), 2)
    expect(t.first.median).toBe(98.5)
    expect(Math.abs(t.growthPct)).toBeLessThan(10)
    expect(isFlat(t)).toBe(true)
  })
  test('a steady climb is growth, with its slope', () => {
    const t = rssTrend(series([100, 100, 100, 110, 120, 130, 140, 150, 160, 170]), 2)
    expect(t.growthPct).toBeGreaterThan(40)
    expect(t.slopeMbPerMin).toBeCloseTo(600)
    expect(isFlat(t)).toBe(false)
  })
  test('peaks that climb fail even when the level holds', () => {
    const t = rssTrend(series([100, 100, 110, 100, 100, 110, 100, 100, 125, 100]), 0)
    expect(isFlat(t)).toBe(false)
  })
  test('too few samples is not flat', () => expect(isFlat(rssTrend(series([1, 2]), 0))).toBe(false))
})

describe('report', () => {
  const run = (target: TargetKind, scenario: Scenario, repeat: number, patch: Partial<RunResult>): RunResult => ({
    ...emptyResult({ scenario, target: { kind: target, pid: 0, http: '', wsUrl: '' }, client: 'raw', repeat }),
    lossless: true,
    ...patch,
  })
  const fan: Scenario = { kind: 'ws-fanout', clients: 500, events: 100, window: 32, bytes: 256 }

  test('repeated runs collapse to the median run; the ratio is the median of back-to-back pairs', () => {
    const results = [
      run('bun', fan, 1, { deliveriesPerS: 1000 }),
      run('ours', fan, 1, { deliveriesPerS: 900 }),
      run('bun', fan, 2, { deliveriesPerS: 2000 }),
      run('ours', fan, 2, { deliveriesPerS: 1000 }),
      run('bun', fan, 3, { deliveriesPerS: 1000 }),
      run('ours', fan, 3, { deliveriesPerS: 800 }),
    ]
    const rows = aggregate(results)
    expect(rows).toHaveLength(2)
    expect(rows[1]!.rep.deliveriesPerS).toBe(900)
    expect(rowRatio(rows[1]!, rows[0])).toBeCloseTo(0.8)
  })

  test('the fan-out target needs the ratio and zero loss', () => {
    const results = [
      run('bun', { ...fan, clients: 500 }, 1, { deliveriesPerS: 1000, clients: 500 }),
      run('ours', { ...fan, clients: 500 }, 1, { deliveriesPerS: 850, clients: 500 }),
    ]
    expect(verdicts(results)[0]!.status).toBe('met')
    results[1]!.lossless = false
    expect(verdicts(results)[0]!.status).toBe('missed')
  })

  test('targets without a run say so', () => {
    expect(verdicts([]).every((v) => v.status === 'not run')).toBe(true)
  })
})
