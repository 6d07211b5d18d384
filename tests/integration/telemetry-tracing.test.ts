/** docs/operations.md traces end to end: spans reach an OTLP/HTTP receiver with HTTP → event.publish → webhook.deliver links. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SPAN_KIND, startOtlpCollector, type CollectedSpan, type OtlpCollector } from '../doubles/otlp.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor, within } from '../helpers/wait.ts'
import { WsClient } from '../helpers/ws-client.ts'
import { createLogger } from '../../src/telemetry/log.ts'

const REMOTE_TRACE = '0af7651916cd43dd8448eb211c80319c'
const REMOTE_SPAN = 'b7ad6b7169203331'
const traceparent = (traceId = REMOTE_TRACE) => `00-${traceId}-${REMOTE_SPAN}-01`

let col: OtlpCollector
let s: TestServer
let admin: string
const logLines: string[] = []

beforeAll(async () => {
  col = startOtlpCollector()
  s = await startServer({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: col.url,
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_SERVICE_NAME: 'matric-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-otlp-key=collector-key-0123456789',
      MATRIC_LOG_LEVEL: 'info',
    },
    logger: createLogger('info', (l) => logLines.push(l)),
  })
  admin = await s.token()
})
afterAll(async () => {
  await s.stop()
  await col.stop()
})

const spansOf = (traceId: string) => col.spans.filter((x) => x.traceId === traceId)
const waitSpan = (match: (x: CollectedSpan) => boolean, what: string) => waitFor(() => col.spans.find(match), what, 10_000)

describe('OTLP export', () => {
  test('a request carrying traceparent: HTTP span under the remote parent, event.publish under the HTTP span', async () => {
    const res = await s.request('/api/v1/events', {
      token: admin,
      body: { payload: { type: 'JobQueued', job_id: 'ext-1', job_type: 'Import' } },
      headers: { traceparent: traceparent() },
    })
    expect(res.status).toBe(202)
    const { event_id } = (await res.json()) as { event_id: string }

    const http = await waitSpan((x) => x.traceId === REMOTE_TRACE && x.kind === SPAN_KIND.SERVER, 'the HTTP span')
    const pub = await waitSpan((x) => x.name === 'event.publish' && x.attributes['matric.event_id'] === event_id, 'the event.publish span')
    expect(http).toMatchObject({
      name: 'POST /api/v1/events',
      parentSpanId: REMOTE_SPAN,
      attributes: { 'http.request.method': 'POST', 'http.route': '/api/v1/events', 'http.response.status_code': 202 },
    })
    expect(pub).toMatchObject({
      traceId: REMOTE_TRACE,
      parentSpanId: http.spanId,
      kind: SPAN_KIND.PRODUCER,
      attributes: { 'matric.event_id': event_id, 'matric.event_type': 'job.queued', 'matric.memory': 'default' },
    })
    expect(http.resource).toMatchObject({ 'service.name': 'matric-test', 'deployment.environment': 'test' })
    expect(typeof http.resource['service.version']).toBe('string')
  })

  test('every event a note creation causes is a child of its HTTP span', async () => {
    const traceId = 'aa'.repeat(16)
    const res = await s.request('/api/v1/notes', { token: admin, body: { content: 'tracing notes' }, headers: { traceparent: traceparent(traceId) } })
    expect(res.status).toBe(201)
    const http = await waitSpan((x) => x.traceId === traceId && x.kind === SPAN_KIND.SERVER, 'the HTTP span')
    expect(http.name).toBe('POST /api/v1/notes')
    await waitFor(() => spansOf(traceId).some((x) => x.attributes['matric.event_type'] === 'note.created'), 'note.created span')
    await waitFor(() => spansOf(traceId).some((x) => x.attributes['matric.event_type'] === 'job.queued'), 'job.queued span')
    for (const p of spansOf(traceId).filter((x) => x.name === 'event.publish')) expect(p.parentSpanId).toBe(http.spanId)
  })

  test('without traceparent (or with an invalid one) the request starts a new trace', async () => {
    const before = col.spans.length
    await s.request('/api/v1/jobs/stats', { token: admin, headers: { traceparent: `00-${'0'.repeat(32)}-${REMOTE_SPAN}-01` } })
    const http = await waitFor(() => col.spans.slice(before).find((x) => x.name === 'GET /api/v1/jobs/stats'), 'the stats span')
    expect(http.parentSpanId).toBe('')
    expect(http.traceId).not.toBe('0'.repeat(32))
  })

  test('unmatched routes and auth failures are spans with their real status', async () => {
    const before = col.spans.length
    await s.request('/api/v1/nowhere?token=secret-in-query')
    await s.request('/api/v1/notes', { token: 'not-a-jwt' })
    const nf = await waitFor(() => col.spans.slice(before).find((x) => x.attributes['http.response.status_code'] === 404), 'the 404 span')
    expect(nf.name).toBe('GET')
    expect(nf.attributes['http.route']).toBeUndefined()
    const unauth = await waitFor(() => col.spans.slice(before).find((x) => x.attributes['http.response.status_code'] === 401), 'the 401 span')
    expect(unauth.name).toBe('GET /api/v1/notes')
    expect(JSON.stringify(col.spans)).not.toContain('secret-in-query')
  })

  test('a WebSocket upgrade is a span under the client\'s traceparent, status 101, without the query token', async () => {
    const traceId = 'ab'.repeat(16)
    const ws = await WsClient.connect(`${s.wsUrl}?token=${admin}`, undefined, { headers: { traceparent: traceparent(traceId) } })
    const up = await waitSpan((x) => x.traceId === traceId, 'the upgrade span')
    expect(up).toMatchObject({ name: 'GET /api/v1/ws', parentSpanId: REMOTE_SPAN, attributes: { 'http.response.status_code': 101 } })
    expect(JSON.stringify(up)).not.toContain(admin)
    ws.close()
    await ws.waitClose()
  })

  test('an SSE stream still streams with the hooks on, and its request is a span', async () => {
    const traceId = 'ac'.repeat(16)
    const ac = new AbortController()
    const res = await fetch(`${s.url}/api/v1/events?types=job&token=${admin}`, { signal: ac.signal, headers: { traceparent: traceparent(traceId) } })
    expect(res.headers.get('content-type')).toStartWith('text/event-stream')
    const reader = res.body!.getReader()
    let text = ''
    const got = (async () => {
      while (!text.includes('ext-sse-t')) text += new TextDecoder().decode((await reader.read()).value ?? new Uint8Array())
    })()
    await waitFor(() => s.ctx.live.sseConnections() === 1, 'the stream to be registered')
    await s.request('/api/v1/events', { token: admin, body: { payload: { type: 'JobQueued', job_id: 'ext-sse-t', job_type: 'Import' } } })
    await within(got, 'the SSE frame')
    const span = await waitSpan((x) => x.traceId === traceId, 'the SSE request span')
    expect(span).toMatchObject({ name: 'GET /api/v1/events', parentSpanId: REMOTE_SPAN, attributes: { 'http.response.status_code': 200 } })
    ac.abort()
  })

  test('an event published outside any request is a root span', async () => {
    const e = s.ctx.bus.publish({ memory: 'default', payload: { type: 'JobProgress', job_id: 'ext-1', progress: 10, progress_percent: 10 } })
    const pub = await waitSpan((x) => x.attributes['matric.event_id'] === e.envelope.event_id, 'the root publish span')
    expect(pub.parentSpanId).toBe('')
    expect(e.traceparent).toBe(`00-${pub.traceId}-${pub.spanId}-01`)
  })

  test('webhook.deliver continues the event trace from PublishedEvent.traceparent', async () => {
    const res = await s.request('/api/v1/events', {
      token: admin,
      body: { payload: { type: 'NoteDeleted', note_id: 'n-1' } },
      headers: { traceparent: traceparent('bb'.repeat(16)) },
    })
    const { event_id } = (await res.json()) as { event_id: string }
    const pub = await waitSpan((x) => x.attributes['matric.event_id'] === event_id, 'the publish span')
    const published = `00-${pub.traceId}-${pub.spanId}-01`
    const attempt = s.ctx.tracing.deliverySpan(published, { delivery_id: 'dl-1', webhook_id: 'wh-1', event_id, event_type: 'note.deleted', url: 'http://127.0.0.1:9/hook', attempt: 1 })
    expect(attempt.traceparent?.startsWith(`00-${pub.traceId}-`)).toBe(true)
    attempt.end({ status_code: 200 })
    const d = await waitSpan((x) => x.name === 'webhook.deliver' && x.attributes['matric.delivery_id'] === 'dl-1', 'the delivery span')
    expect(d).toMatchObject({ traceId: pub.traceId, parentSpanId: pub.spanId, kind: SPAN_KIND.CLIENT })
    expect(attempt.traceparent).toBe(`00-${d.traceId}-${d.spanId}-01`)
  })

  test('/health and /metrics are not traced', async () => {
    await s.request('/health')
    await s.request('/metrics')
    // A traced request after them: once its span has arrived, anything from the first two would have too.
    await s.request('/api/v1/jobs/stats', { token: admin, headers: { traceparent: traceparent('cc'.repeat(16)) } })
    await waitSpan((x) => x.traceId === 'cc'.repeat(16), 'the marker span')
    expect(col.spans.filter((x) => /\/health|\/metrics/.test(x.name))).toEqual([])
  })

  test('exports use OTLP/HTTP JSON with the configured headers; those never reach the log', async () => {
    expect(col.exports.length).toBeGreaterThan(0)
    for (const e of col.exports) {
      expect(e.contentType).toStartWith('application/json')
      expect(e.headers['x-otlp-key']).toBe('collector-key-0123456789')
    }
    expect(logLines.join('\n')).not.toContain('collector-key-0123456789')
  })

  test('a failing receiver is logged once, and its recovery once', async () => {
    col.fail(1, 400) // 400 is not retried by the exporter: the batch fails
    await s.request('/api/v1/jobs/stats', { token: admin, headers: { traceparent: traceparent('dd'.repeat(16)) } })
    await waitFor(() => logLines.some((l) => l.includes('trace export failed')), 'the export failure log')
    await s.request('/api/v1/jobs/stats', { token: admin, headers: { traceparent: traceparent('ee'.repeat(16)) } })
    await waitSpan((x) => x.traceId === 'ee'.repeat(16), 'a span after recovery')
    await waitFor(() => logLines.some((l) => l.includes('trace export recovered')), 'the recovery log')
    const failed = logLines.filter((l) => l.includes('trace export failed')).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({ level: 'warn', endpoint: `${col.url}/v1/traces` })
  })
})

describe('tracing off', () => {
  test('no endpoint: tracing disabled, events carry no traceparent', async () => {
    const plain = await startServer()
    try {
      expect(plain.ctx.tracing.enabled).toBe(false)
      const e = plain.ctx.bus.publish({ memory: 'default', payload: { type: 'JobProgress', job_id: 'ext-1', progress: 10, progress_percent: 10 } })
      expect(e.traceparent).toBeUndefined()
      expect((await plain.request('/health')).status).toBe(200)
    } finally {
      await plain.stop()
    }
  })
})
