/** docs/operations.md /metrics and /health against a real server: valid exposition, every series, movement on WebSocket delivery. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor, within } from '../helpers/wait.ts'
import { WsClient } from '../helpers/ws-client.ts'
import { parseExposition, sampleValue, SPEC_FAMILIES, type Family } from '../helpers/prometheus-exposition.ts'

let s: TestServer
let admin: string

let receiver: ReturnType<typeof Bun.serve>
const received: string[] = []

beforeAll(async () => {
  // A webhook receiver that answers 204 to everything and records the bodies.
  receiver = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      received.push(await req.text())
      return new Response(null, { status: 204 })
    },
  })
  s = await startServer({ env: { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_POLL_MS: '20' } })
  admin = await s.token()
})
afterAll(async () => {
  await s.stop()
  await receiver.stop(true)
})

/** Reads an SSE response until a frame containing `needle` arrives. */
async function readUntil(res: Response, needle: string): Promise<void> {
  const reader = res.body!.getReader()
  let text = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) throw new Error('stream ended before ' + needle)
    text += new TextDecoder().decode(value)
    if (text.includes(needle)) {
      reader.releaseLock()
      return
    }
  }
}

async function scrape(): Promise<Map<string, Family>> {
  const res = await s.request('/metrics')
  expect(res.status).toBe(200)
  return parseExposition(await res.text())
}

const value = async (name: string, labels: Record<string, string> = {}) => sampleValue(await scrape(), name, labels)

interface Health {
  status: string
  version: string
  uptime_s: number
  db: string
  store: { kind: string; node_id: string }
  connections: { ws: number; sse: number }
  webhooks: { queue_depth: number }
}
const health = async (): Promise<Health> => (await (await s.request('/health')).json()) as Health

describe('GET /metrics', () => {
  test('Prometheus text format 0.0.4 that a strict parser accepts, with every §8 series from the start', async () => {
    const res = await s.request('/metrics')
    expect(res.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    const fams = parseExposition(await res.text())
    for (const [name, type] of SPEC_FAMILIES) expect({ name, type: fams.get(name)?.type }).toEqual({ name, type })
    // Series exist before anything moved them.
    for (const status of ['success', 'retry', 'failed']) expect(sampleValue(fams, 'matric_webhook_deliveries_total', { status })).toBeNumber()
    for (const transport of ['ws', 'sse', 'webhook']) expect(sampleValue(fams, 'matric_event_latency_ms_count', { transport })).toBeNumber()
    expect(sampleValue(fams, 'matric_sse_events_lagged_total')).toBeNumber()
    expect(sampleValue(fams, 'matric_ws_slow_consumer_disconnects_total')).toBe(0)
    expect(sampleValue(fams, 'matric_sse_connections_active')).toBeNumber()
    expect(sampleValue(fams, 'matric_webhook_queue_depth')).toBeNumber()
    // Every bus subscriber has its error series.
    expect(sampleValue(fams, 'matric_event_bus_errors_total', { where: 'ws' })).toBe(0)
    expect(sampleValue(fams, 'matric_event_bus_errors_total', { where: 'log' })).toBe(0)
  })

  test('WebSocket delivery moves the counters and the ws latency histogram; the gauge follows the connections', async () => {
    const sentBefore = (await value('matric_ws_events_sent_total', { event_type: 'job.queued' }))!
    const latencyBefore = (await value('matric_event_latency_ms_count', { transport: 'ws' }))!
    const publishedBefore = (await value('matric_events_published_total', { event_type: 'job.queued' }))!

    const a = await WsClient.connect(`${s.wsUrl}?token=${admin}`)
    const b = await WsClient.connect(s.wsUrl, ['bearer', admin])
    await waitFor(async () => (await value('matric_ws_connections_active')) === 2, 'the ws gauge to reach 2')
    expect((await health()).connections.ws).toBe(2)

    const res = await s.request('/api/v1/events', { token: admin, body: { payload: { type: 'JobQueued', job_id: 'ext-m1', job_type: 'Import' } } })
    expect(res.status).toBe(202)
    await a.next((f) => f.type === 'JobQueued' && f.job_id === 'ext-m1', 'the JobQueued frame on a')
    await b.next((f) => f.type === 'JobQueued' && f.job_id === 'ext-m1', 'the JobQueued frame on b')

    const fams = await scrape()
    expect(sampleValue(fams, 'matric_ws_events_sent_total', { event_type: 'job.queued' })).toBeGreaterThanOrEqual(sentBefore + 2)
    expect(sampleValue(fams, 'matric_event_latency_ms_count', { transport: 'ws' })).toBeGreaterThan(latencyBefore)
    expect(sampleValue(fams, 'matric_event_latency_ms_bucket', { transport: 'ws', le: '+Inf' })).toBe(
      sampleValue(fams, 'matric_event_latency_ms_count', { transport: 'ws' })!,
    )
    expect(sampleValue(fams, 'matric_event_latency_ms_sum', { transport: 'ws' })).toBeGreaterThan(0)
    expect(sampleValue(fams, 'matric_events_published_total', { event_type: 'job.queued' })).toBe(publishedBefore + 1)

    a.close()
    b.close()
    await a.waitClose()
    await b.waitClose()
    await waitFor(async () => (await value('matric_ws_connections_active')) === 0, 'the ws gauge to return to 0')
    expect((await health()).connections.ws).toBe(0)
  })

  test('ignored client messages are counted', async () => {
    const before = (await value('matric_ws_client_messages_ignored_total'))!
    const c = await WsClient.connect(`${s.wsUrl}?token=${admin}`)
    c.send('hello?')
    c.send('refresh')
    await c.next((f) => f.type === 'QueueStatus', 'the refresh answer')
    await waitFor(async () => (await value('matric_ws_client_messages_ignored_total')) === before + 1, 'the ignored-message counter')
    c.close()
    await c.waitClose()
  })

  test('the scrape stays valid after every kind of activity', async () => {
    await s.request('/api/v1/notes', { token: admin, body: { content: '# Metrics\n\nA note that runs the whole pipeline.' } })
    await waitFor(async () => ((await value('matric_events_published_total', { event_type: 'job.completed' })) ?? 0) >= 3, 'the pipeline to complete')
    await scrape()
  })
})

describe('SSE and webhook series move with their deliveries', () => {
  test('an SSE stream moves the sse gauge and latency histogram', async () => {
    const latencyBefore = (await value('matric_event_latency_ms_count', { transport: 'sse' }))!
    const ac = new AbortController()
    const res = await fetch(`${s.url}/api/v1/events?types=job&token=${admin}`, { signal: ac.signal })
    expect(res.status).toBe(200)
    await waitFor(async () => (await value('matric_sse_connections_active')) === 1, 'the sse gauge to reach 1')
    expect((await health()).connections.sse).toBe(1)
    const frame = within(readUntil(res, 'ext-sse-1'), 'the SSE frame')
    await s.request('/api/v1/events', { token: admin, body: { payload: { type: 'JobQueued', job_id: 'ext-sse-1', job_type: 'Import' } } })
    await frame
    await waitFor(async () => ((await value('matric_event_latency_ms_count', { transport: 'sse' })) ?? 0) > latencyBefore, 'the sse latency count to move')
    ac.abort()
    await waitFor(async () => (await value('matric_sse_connections_active')) === 0, 'the sse gauge to return to 0')
  })

  test('a webhook delivery moves deliveries_total{status="success"} and the webhook latency histogram', async () => {
    const successBefore = (await value('matric_webhook_deliveries_total', { status: 'success' }))!
    const latencyBefore = (await value('matric_event_latency_ms_count', { transport: 'webhook' }))!
    const res = await s.request('/api/v1/webhooks', { token: admin, body: { url: `http://127.0.0.1:${receiver.port}/hook`, events: ['job'] } })
    expect(res.status).toBe(201)
    await s.request('/api/v1/events', { token: admin, body: { payload: { type: 'JobQueued', job_id: 'ext-wh-1', job_type: 'Import' } } })
    await waitFor(() => received.some((b) => b.includes('ext-wh-1')), 'the webhook delivery')
    await waitFor(async () => ((await value('matric_webhook_deliveries_total', { status: 'success' })) ?? 0) > successBefore, 'the success counter')
    expect(await value('matric_event_latency_ms_count', { transport: 'webhook' })).toBeGreaterThan(latencyBefore)
    await waitFor(async () => (await value('matric_webhook_queue_depth')) === 0, 'the queue depth to return to 0')
    expect((await health()).webhooks.queue_depth).toBe(0)
    await scrape()
  })
})

describe('GET /health', () => {
  test('reports every field with the right types, and is not cached', async () => {
    const res = await s.request('/health')
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const h = (await res.json()) as Health
    expect(Object.keys(h).sort()).toEqual(['connections', 'db', 'status', 'store', 'uptime_s', 'version', 'webhooks', 'write'])
    expect(h).toMatchObject({ status: 'ok', db: 'ok', store: { kind: 'sqlite', node_id: s.config.nodeId }, write: 'ok', connections: { ws: 0, sse: 0 }, webhooks: { queue_depth: 0 } })
    expect(s.config.nodeId).toMatch(/^.+:\d+$/) // host:pid by default
    expect(h.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(h.uptime_s).toBeGreaterThanOrEqual(0)
  })
})
