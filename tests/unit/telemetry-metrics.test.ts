import { afterEach, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dbCheck } from '../../src/modules/system/index.ts'
import { SqliteProbe } from '../../src/store/sqlite/small.ts'
import { responseStatus, pathOf } from '../../src/telemetry/http.ts'
import { createLogger } from '../../src/telemetry/log.ts'
import { LATENCY_BUCKETS_MS, Metrics } from '../../src/telemetry/metrics.ts'
import { ExpositionError, parseExposition, sampleValue, SPEC_FAMILIES } from '../helpers/prometheus-exposition.ts'

const metrics: Metrics[] = []
const fresh = () => {
  const m = new Metrics()
  metrics.push(m)
  return m
}
afterEach(async () => {
  for (const m of metrics.splice(0)) await m.shutdown()
})


const withGauges = (m: Metrics) => {
  m.gauge('matric_ws_connections_active', 'ws', () => 2)
  m.gauge('matric_sse_connections_active', 'sse', () => 0)
  m.gauge('matric_webhook_queue_depth', 'q', () => 5)
  return m
}

describe('Metrics exposition', () => {
  test('a fresh instance exposes every §8 family, counters at 0 for each known label and empty latency series', async () => {
    const fams = parseExposition(await withGauges(fresh()).scrape())
    for (const [name, type] of SPEC_FAMILIES) expect({ name, type: fams.get(name)?.type }).toEqual({ name, type })
    expect(sampleValue(fams, 'matric_events_published_total', { event_type: 'note.deleted' })).toBe(0)
    expect(sampleValue(fams, 'matric_ws_events_sent_total', { event_type: 'job.queued' })).toBe(0)
    expect(sampleValue(fams, 'matric_ws_events_sent_total', { event_type: 'note.created' })).toBe(0)
    // note.deleted never reaches WebSocket clients, so it has no WS series.
    expect(sampleValue(fams, 'matric_ws_events_sent_total', { event_type: 'note.deleted' })).toBeUndefined()
    for (const status of ['success', 'retry', 'failed']) expect(sampleValue(fams, 'matric_webhook_deliveries_total', { status })).toBe(0)
    for (const transport of ['ws', 'sse', 'webhook']) {
      expect(sampleValue(fams, 'matric_event_latency_ms_count', { transport })).toBe(0)
      expect(sampleValue(fams, 'matric_event_latency_ms_bucket', { transport, le: '+Inf' })).toBe(0)
    }
    expect(sampleValue(fams, 'matric_ws_slow_consumer_disconnects_total')).toBe(0)
    expect(sampleValue(fams, 'matric_sse_events_lagged_total')).toBe(0)
    expect(sampleValue(fams, 'matric_event_bus_errors_total', { where: 'log' })).toBe(0)
    expect(sampleValue(fams, 'matric_ws_connections_active')).toBe(2)
    expect(sampleValue(fams, 'matric_webhook_queue_depth')).toBe(5)
  })

  test('the bucket layout runs from sub-millisecond to a minute', async () => {
    const fams = parseExposition(await fresh().scrape())
    const les = fams
      .get('matric_event_latency_ms')!
      .samples.filter((s) => s.name.endsWith('_bucket') && s.labels.transport === 'ws')
      .map((s) => s.labels.le)
    expect(les).toEqual([...LATENCY_BUCKETS_MS.map(String), '+Inf'])
    expect(LATENCY_BUCKETS_MS[0]).toBeLessThan(1)
    expect(LATENCY_BUCKETS_MS.at(-1)).toBeGreaterThanOrEqual(10_000)
  })

  test('recording moves counters and the histogram; other series stay', async () => {
    const m = fresh()
    m.eventPublished('job.queued')
    m.eventPublished('job.queued')
    m.wsEventsSent('job.queued', 3)
    m.wsEventsSent('job.queued', 0)
    m.eventLatency('ws', 0.3)
    m.eventLatency('ws', 7)
    m.eventLatency('webhook', 120_000)
    m.webhookDelivery('retry')
    m.sseEventsLagged(4)
    m.wsSlowConsumer()
    m.busError('sse')
    const fams = parseExposition(await m.scrape())
    expect(sampleValue(fams, 'matric_events_published_total', { event_type: 'job.queued' })).toBe(2)
    expect(sampleValue(fams, 'matric_ws_events_sent_total', { event_type: 'job.queued' })).toBe(3)
    expect(sampleValue(fams, 'matric_event_latency_ms_count', { transport: 'ws' })).toBe(2)
    expect(sampleValue(fams, 'matric_event_latency_ms_sum', { transport: 'ws' })).toBeCloseTo(7.3)
    expect(sampleValue(fams, 'matric_event_latency_ms_bucket', { transport: 'ws', le: '0.25' })).toBe(0)
    expect(sampleValue(fams, 'matric_event_latency_ms_bucket', { transport: 'ws', le: '0.5' })).toBe(1)
    expect(sampleValue(fams, 'matric_event_latency_ms_bucket', { transport: 'ws', le: '10' })).toBe(2)
    expect(sampleValue(fams, 'matric_event_latency_ms_bucket', { transport: 'webhook', le: '60000' })).toBe(0)
    expect(sampleValue(fams, 'matric_event_latency_ms_bucket', { transport: 'webhook', le: '+Inf' })).toBe(1)
    expect(sampleValue(fams, 'matric_event_latency_ms_count', { transport: 'sse' })).toBe(0)
    expect(sampleValue(fams, 'matric_webhook_deliveries_total', { status: 'retry' })).toBe(1)
    expect(sampleValue(fams, 'matric_webhook_deliveries_total', { status: 'success' })).toBe(0)
    expect(sampleValue(fams, 'matric_sse_events_lagged_total')).toBe(4)
    expect(sampleValue(fams, 'matric_ws_slow_consumer_disconnects_total')).toBe(1)
    expect(sampleValue(fams, 'matric_event_bus_errors_total', { where: 'sse' })).toBe(1)
  })

  test('a gauge registered twice is one series; a failing reader does not break the scrape', async () => {
    const m = fresh()
    m.gauge('matric_webhook_queue_depth', 'q', () => 1)
    m.gauge('matric_webhook_queue_depth', 'q', () => 2)
    m.gauge('matric_sse_connections_active', 'sse', () => {
      throw new Error('store closed')
    })
    const fams = parseExposition(await m.scrape())
    expect(fams.get('matric_webhook_queue_depth')!.samples.map((s) => s.value)).toEqual([1])
    expect(fams.get('matric_sse_connections_active')?.samples ?? []).toEqual([])
  })
})

describe('the exposition validator rejects what Prometheus would', () => {
  const ok = '# HELP a_total A\n# TYPE a_total counter\na_total{x="1"} 3\n'
  const hist = (lines: string[]) => `# TYPE h histogram\n${lines.join('\n')}\n`
  const cases: [string, string][] = [
    ['no trailing newline', ok.trimEnd()],
    ['sample without TYPE', 'b 1\n'],
    ['bad metric name', '# TYPE 1a gauge\n1a 1\n'],
    ['bad label name', '# TYPE a gauge\na{1x="v"} 1\n'],
    ['reserved label name', '# TYPE a gauge\na{__x="v"} 1\n'],
    ['unquoted label value', '# TYPE a gauge\na{x=v} 1\n'],
    ['bad escape in label', '# TYPE a gauge\na{x="\\t"} 1\n'],
    ['unterminated label value', '# TYPE a gauge\na{x="v} 1\n'],
    ['non-numeric value', '# TYPE a gauge\na 1,5\n'],
    ['negative counter', '# TYPE a_total counter\na_total -1\n'],
    ['duplicate series', '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n'],
    ['interleaved families', '# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\n'],
    ['TYPE after samples', '# TYPE a gauge\na 1\n# TYPE a gauge\n'],
    ['unknown type', '# TYPE a meter\na 1\n'],
    ['histogram without +Inf', hist(['h_bucket{le="1"} 1', 'h_sum 1', 'h_count 1'])],
    ['histogram +Inf != count', hist(['h_bucket{le="1"} 1', 'h_bucket{le="+Inf"} 2', 'h_sum 1', 'h_count 3'])],
    ['histogram not cumulative', hist(['h_bucket{le="1"} 2', 'h_bucket{le="2"} 1', 'h_bucket{le="+Inf"} 2', 'h_sum 1', 'h_count 2'])],
    ['histogram le not ascending', hist(['h_bucket{le="2"} 1', 'h_bucket{le="1"} 1', 'h_bucket{le="+Inf"} 1', 'h_sum 1', 'h_count 1'])],
    ['histogram without _sum', hist(['h_bucket{le="+Inf"} 1', 'h_count 1'])],
    ['histogram bucket without le', hist(['h_bucket 1', 'h_sum 1', 'h_count 1'])],
  ]
  test('a valid exposition passes', () => {
    expect(parseExposition(ok).get('a_total')!.samples[0]!.value).toBe(3)
    expect(() => parseExposition(hist(['h_bucket{le="1"} 1', 'h_bucket{le="+Inf"} 2', 'h_sum 1.5', 'h_count 2']))).not.toThrow()
  })
  for (const [name, text] of cases) test(name, () => expect(() => parseExposition(text)).toThrow(ExpositionError))
})

describe('http telemetry helpers', () => {
  const statuses: [string, unknown, unknown, unknown, number][] = [
    ['a returned Response', new Response(null, { status: 202 }), 200, undefined, 202],
    ['set.status number', { ok: true }, 201, undefined, 201],
    ['set.status name', 'x', 'Created', undefined, 201],
    ['unmatched route (error 404 beside set.status 200)', undefined, 200, { status: 404 }, 404],
    ['error without a status', undefined, 200, new Error('x'), 500],
    ['error after set.status was mapped', undefined, 422, { status: 422 }, 422],
    ['nothing set', undefined, undefined, undefined, 200],
  ]
  for (const [name, value, set, error, want] of statuses) test(`responseStatus: ${name}`, () => expect(responseStatus(value, set, error)).toBe(want))

  const paths: [string, string][] = [
    ['http://h/api/v1/ws?token=abc', '/api/v1/ws'],
    ['http://h/api/v1/notes/1#x', '/api/v1/notes/1'],
    ['http://h?x=/y', '/'],
    ['not a url', '/'],
  ]
  for (const [url, want] of paths) test(`pathOf ${url}`, () => expect(pathOf(url)).toBe(want))
})

describe('dbCheck (GET /health `db`)', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })
  const file = () => {
    const d = mkdtempSync(join(tmpdir(), 'matric-health-'))
    dirs.push(d)
    const path = join(d, 'db.sqlite')
    const db = new Database(path, { create: true })
    db.exec('CREATE TABLE events (seq INTEGER PRIMARY KEY, x TEXT)')
    return { db, path }
  }

  test('ok on a working store, error once closed, logged once per transition', async () => {
    const lines: string[] = []
    const { db } = file()
    const check = dbCheck(new SqliteProbe(db), createLogger('info', (l) => lines.push(l)))
    expect(await check()).toBe('ok')
    db.close()
    expect(await check()).toBe('error')
    expect(await check()).toBe('error')
    expect(lines.filter((l) => l.includes('database health check failed'))).toHaveLength(1)
  })

  test('error on a read-only store (writes would fail)', async () => {
    const { db, path } = file()
    db.close()
    const ro = new Database(path, { readonly: true })
    expect(await dbCheck(new SqliteProbe(ro), createLogger('error', () => {}))()).toBe('error')
    ro.close()
  })

  test('error when the schema is gone', async () => {
    const db = new Database(':memory:')
    expect(await dbCheck(new SqliteProbe(db), createLogger('error', () => {}))()).toBe('error')
    db.close()
  })

  test('inside an open transaction the read alone decides', async () => {
    const { db } = file()
    db.exec('BEGIN')
    expect(await dbCheck(new SqliteProbe(db), createLogger('error', () => {}))()).toBe('ok')
    db.exec('ROLLBACK')
    db.close()
  })
})
