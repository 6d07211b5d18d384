import { afterEach, describe, expect, test } from 'bun:test'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { EventBus } from '../../src/events/bus.ts'
import type { EventStore } from '../../src/events/store.ts'
import { createLogger } from '../../src/telemetry/log.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { readTelemetryConfig } from '../../src/telemetry/otel-env.ts'
import { Tracing } from '../../src/telemetry/tracing.ts'

const T = '4bf92f3577b34da6a3ce929d0e0e4736'
const S = '00f067aa0ba902b7'
const REMOTE = `00-${T}-${S}-01`

const quiet = createLogger('error', () => {})
const open: Tracing[] = []
afterEach(async () => {
  for (const t of open.splice(0)) await t.shutdown()
})

function tracing(env: Record<string, string> = {}) {
  const exporter = new InMemorySpanExporter()
  const t = new Tracing(readTelemetryConfig({ OTEL_BSP_SCHEDULE_DELAY: '0', ...env }, []), { logger: quiet, serviceVersion: '9.9.9', exporter })
  open.push(t)
  const spans = async (): Promise<ReadableSpan[]> => {
    await t.flush()
    return exporter.getFinishedSpans()
  }
  return { t, spans }
}

/** Runs `fn` as its own task, as Bun runs each request: enterWith() then affects only that task. */
const inTask = <T>(fn: () => T | Promise<T>) => new Promise<T>((resolve, reject) => setTimeout(() => Promise.resolve().then(fn).then(resolve, reject), 0))

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId ?? ''

describe('Tracing off (no OTLP endpoint)', () => {
  test('is disabled and hands out no-ops', () => {
    const t = new Tracing(readTelemetryConfig({}, []), { logger: quiet, serviceVersion: '1' })
    expect(t.enabled).toBe(false)
    expect(t.startRequest('GET', REMOTE, null)).toBeUndefined()
    const d = t.deliverySpan(REMOTE, { delivery_id: 'd', webhook_id: 'w', url: 'http://x', attempt: 1 })
    expect(d.traceparent).toBeUndefined()
    expect(() => d.end({ status_code: 200 })).not.toThrow()
  })

  test('the bus does no span work: events carry no traceparent', () => {
    const t = new Tracing(readTelemetryConfig({}, []), { logger: quiet, serviceVersion: '1' })
    const log = { appendBatch: async (rows: unknown[]) => rows.map(() => 1), lastSeq: async () => 0 } as unknown as EventStore
    const bus = new EventBus({ log, startSeq: 0, metrics: new Metrics(), logger: quiet, tracing: t })
    const e = bus.publish({ memory: 'm', payload: { type: 'JobProgress', job_id: 'ext-1', progress: 10, progress_percent: 10 } })
    expect(e.traceparent).toBeUndefined()
  })
})

describe('request and publish spans', () => {
  test('SERVER span under the remote parent; event.publish spans are its children', async () => {
    const { t, spans } = tracing()
    await inTask(() => {
      const req = t.startRequest('POST', REMOTE, 'vendor=abc')!
      const a = t.startPublish('e1', 'job.queued', 'default')
      a.end()
      req.close()
      req.end('/api/v1/events', 202)
    })
    const [pub, http] = await spans()
    expect(http).toMatchObject({ name: 'POST /api/v1/events', kind: SpanKind.SERVER })
    expect(http!.spanContext().traceId).toBe(T)
    expect(parentOf(http!)).toBe(S)
    expect(http!.parentSpanContext?.isRemote).toBe(true)
    expect(http!.attributes).toEqual({ 'http.request.method': 'POST', 'http.route': '/api/v1/events', 'http.response.status_code': 202 })
    expect(http!.spanContext().traceState?.get('vendor')).toBe('abc')
    expect(pub).toMatchObject({ name: 'event.publish', kind: SpanKind.PRODUCER })
    expect(parentOf(pub!)).toBe(http!.spanContext().spanId)
    expect(pub!.attributes).toEqual({ 'matric.event_id': 'e1', 'matric.event_type': 'job.queued', 'matric.memory': 'default' })
    expect(http!.resource.attributes).toMatchObject({ 'service.name': 'matric-realtime', 'service.version': '9.9.9' })
  })

  test('no or invalid traceparent: a new root trace; unknown methods are _OTHER; 5xx is an error', async () => {
    const { t, spans } = tracing()
    await inTask(() => t.startRequest('GET', null, null)!.end(undefined, 404))
    await inTask(() => t.startRequest('PURGE', `00-${T}-${'0'.repeat(16)}-01`, null)!.end('/x', 503))
    const [a, b] = await spans()
    expect(a).toMatchObject({ name: 'GET' })
    expect(parentOf(a!)).toBe('')
    expect(b).toMatchObject({ name: '_OTHER /x' })
    expect(parentOf(b!)).toBe('')
    expect(b!.spanContext().traceId).not.toBe(T)
    expect(b!.status.code).toBe(SpanStatusCode.ERROR)
    expect(a!.status.code).toBe(SpanStatusCode.UNSET)
  })

  test('after close() (handler done), spans from timers the request started are roots', async () => {
    const { t, spans } = tracing()
    let later: Promise<void> | undefined
    await inTask(() => {
      const req = t.startRequest('POST', REMOTE, null)!
      later = new Promise<void>((resolve) =>
        setTimeout(() => {
          t.startPublish('late', 'job.completed', 'default').end()
          resolve()
        }, 0),
      )
      req.close()
      req.end('/api/v1/notes', 201)
    })
    await later
    const late = (await spans()).find((s) => s.attributes['matric.event_id'] === 'late')!
    expect(parentOf(late)).toBe('')
    expect(late.spanContext().traceId).not.toBe(T)
  })

  test('concurrent requests each parent their own events across awaits', async () => {
    const { t, spans } = tracing()
    const one = (n: number) =>
      inTask(async () => {
        const req = t.startRequest('POST', null, null)!
        await Bun.sleep(n)
        t.startPublish(`e${n}`, 'note.created', 'default').end()
        await Bun.sleep(1)
        req.end('/r', 201)
        return req.traceId
      })
    const ids = await Promise.all([one(5), one(1), one(3)])
    const all = await spans()
    for (const [i, n] of [5, 1, 3].entries()) {
      const pub = all.find((s) => s.attributes['matric.event_id'] === `e${n}`)!
      expect(pub.spanContext().traceId).toBe(ids[i]!)
    }
    expect(new Set(ids).size).toBe(3)
  })

  test('outside any request, event.publish is a root span', async () => {
    const { t, spans } = tracing()
    await inTask(() => t.startPublish('w1', 'job.started', 'default').end())
    const [s] = await spans()
    expect(parentOf(s!)).toBe('')
  })
})

describe('EventBus with tracing', () => {
  test('PublishedEvent.traceparent is the event.publish span; a failing subscriber marks it', async () => {
    const { t, spans } = tracing()
    const log = { appendBatch: async (rows: unknown[]) => rows.map(() => 7), lastSeq: async () => 0 } as unknown as EventStore
    const bus = new EventBus({ log, startSeq: 0, metrics: new Metrics(), logger: quiet, tracing: t })
    bus.onDelivered('broken', () => {
      throw new Error('subscriber bug')
    })
    const e = await inTask(() => bus.publish({ memory: 'm1', payload: { type: 'NoteDeleted', note_id: 'n1' } }))
    await bus.flush() // the span ends once the event is delivered
    const [s] = await spans()
    expect(e.traceparent).toBe(`00-${s!.spanContext().traceId}-${s!.spanContext().spanId}-01`)
    expect(s!.attributes).toEqual({ 'matric.event_id': e.envelope.event_id, 'matric.event_type': 'note.deleted', 'matric.memory': 'm1' })
    expect(s!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'broken failed' })
  })
})

describe('deliverySpan (webhook.deliver)', () => {
  const attrs = { delivery_id: 'd1', webhook_id: 'w1', event_id: 'e1', event_type: 'job.failed', url: 'https://user:pw@hooks.example:8443/p/SECRET?token=x', attempt: 2 }

  test('a CLIENT child of the event span; its traceparent is for the outgoing request; no URL recorded', async () => {
    const { t, spans } = tracing()
    const d = t.deliverySpan(REMOTE, attrs)
    expect(d.traceparent).toMatch(new RegExp(`^00-${T}-[0-9a-f]{16}-01$`))
    d.end({ status_code: 204 })
    d.end({ status_code: 500 }) // idempotent
    const [s] = await spans()
    expect(s).toMatchObject({ name: 'webhook.deliver', kind: SpanKind.CLIENT })
    expect(parentOf(s!)).toBe(S)
    expect(d.traceparent).toContain(s!.spanContext().spanId)
    expect(s!.attributes).toEqual({
      'matric.delivery_id': 'd1',
      'matric.webhook_id': 'w1',
      'matric.event_id': 'e1',
      'matric.event_type': 'job.failed',
      'matric.attempt': 2,
      'http.request.method': 'POST',
      'server.address': 'hooks.example',
      'server.port': 8443,
      'http.response.status_code': 204,
    })
    expect(JSON.stringify(s!.attributes)).not.toContain('SECRET')
    expect(s!.status.code).toBe(SpanStatusCode.UNSET)
  })

  const failures: [string, Parameters<ReturnType<Tracing['deliverySpan']>['end']>[0], string][] = [
    ['a 5xx answer', { status_code: 503, error: 'HTTP 503' }, '503'],
    ['a non-2xx without error text', { status_code: 410 }, '410'],
    ['a network error', { error: 'connect ECONNREFUSED', attempt: 3 }, 'network'],
  ]
  for (const [name, result, type] of failures)
    test(`status ERROR for ${name}`, async () => {
      const { t, spans } = tracing()
      t.deliverySpan(undefined, attrs).end(result)
      const [s] = await spans()
      expect(parentOf(s!)).toBe('')
      expect(s!.status.code).toBe(SpanStatusCode.ERROR)
      expect(s!.attributes['error.type']).toBe(type)
      if (result.attempt) expect(s!.attributes['matric.attempt']).toBe(result.attempt)
    })
})

describe('sampling', () => {
  test('always_off: nothing exported, but the traceparent still propagates (unsampled)', async () => {
    const { t, spans } = tracing({ OTEL_TRACES_SAMPLER: 'always_off' })
    const d = t.deliverySpan(REMOTE, { delivery_id: 'd', webhook_id: 'w', url: 'http://x', attempt: 1 })
    expect(d.traceparent).toMatch(new RegExp(`^00-${T}-[0-9a-f]{16}-00$`))
    d.end({ status_code: 200 })
    expect(await spans()).toEqual([])
  })

  test('parent-based (default): an unsampled remote parent is respected', async () => {
    const { t, spans } = tracing()
    await inTask(() => t.startRequest('GET', `00-${T}-${S}-00`, null)!.end('/x', 200))
    expect(await spans()).toEqual([])
  })
})
