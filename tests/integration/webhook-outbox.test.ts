/** The outbox on its own (real SQLite, real receiver, a stand-in bus that lets the test set traceparent). */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Database } from 'bun:sqlite'
import { loadConfig } from '../../src/config.ts'
import { buildEnvelope, type EventBus, type PublishedEvent, type Subscriber } from '../../src/events/bus.ts'
import type { Payload } from '../../src/events/catalog.ts'
import { Outbox } from '../../src/modules/webhooks/outbox.ts'
import { deriveKey, generateKeyMaterial, SecretBox } from '../../src/modules/webhooks/secret-box.ts'
import { generateSecret } from '../../src/modules/webhooks/signing.ts'
import { openDatabase } from '../../src/store/sqlite/db.ts'
import { SqliteWebhookStore } from '../../src/store/sqlite/webhooks.ts'
import { createLogger } from '../../src/telemetry/log.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { waitFor } from '../helpers/wait.ts'
import { Tracing } from '../../src/telemetry/tracing.ts'

/** Tracing off (no OTLP endpoint): delivery spans are the shared no-op. */
const noTracing = new Tracing(loadConfig({}).telemetry, { logger: createLogger('error'), serviceVersion: 'test' })

let db: Database
let store: SqliteWebhookStore
let outbox: Outbox
let publishToOutbox: Subscriber
let r: Receiver
const logLines: string[] = []
const metrics = new Metrics()
const secret = generateSecret()

const fakeBus = {
  onCommitted(_name: string, fn: Subscriber) {
    publishToOutbox = fn
    return () => {}
  },
} as unknown as EventBus

function event(memory: string, payload: Payload, traceparent?: string): PublishedEvent {
  const envelope = buildEnvelope({ memory, payload }, Bun.randomUUIDv7(), new Date().toISOString(), "default")
  return {
    seq: 0,
    envelope,
    json: JSON.stringify(envelope),
    memory,
    eventType: envelope.event_type as PublishedEvent['eventType'],
    legacyType: payload.type,
    tags: null,
    t0: performance.now(),
    traceparent,
  }
}

beforeAll(async () => {
  r = await startReceiver()
  db = openDatabase(':memory:')
  store = new SqliteWebhookStore(db, new SecretBox(deriveKey(generateKeyMaterial())))
  const config = loadConfig({ MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '10' })
  outbox = new Outbox({ config, store, bus: fakeBus, metrics, logger: createLogger('debug', (l) => logLines.push(l)), tracing: noTracing })
  await store.insert({ id: Bun.randomUUIDv7(), memory: 'm', url: r.url, events: ['*'], description: null, secret, max_retries: 3, created_by: 't', now: new Date().toISOString() }, 100)
  await outbox.start()
})
afterAll(async () => {
  await outbox.stop()
  db.close()
  await r.stop()
  await metrics.shutdown()
})

describe('outbox', () => {
  test('traceparent is stored on the delivery row and sent as a header', async () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const e = event('m', { type: 'NoteDeleted', note_id: 'n1' }, tp)
    // Written before the publishing request is answered (the bus awaits it), before any attempt.
    await publishToOutbox(e)
    const row = db.query('SELECT traceparent, body FROM webhook_deliveries WHERE event_id = ?').get(e.envelope.event_id) as { traceparent: string; body: string }
    expect(row).toEqual({ traceparent: tp, body: e.json })
    const [req] = await r.waitForRequests(1)
    expect(req!.headers.traceparent).toBe(tp)
    expect(req!.body).toBe(e.json)
  })

  test('events of memories without webhooks, or not matching, write nothing', async () => {
    const before = (db.query('SELECT COUNT(*) AS n FROM webhook_deliveries').get() as { n: number }).n
    await publishToOutbox(event('other-memory', { type: 'NoteDeleted', note_id: 'n2' }))
    await publishToOutbox(event('m', { type: 'QueueStatus', total_jobs: 0, running: 0, pending: 0 }))
    expect((db.query('SELECT COUNT(*) AS n FROM webhook_deliveries').get() as { n: number }).n).toBe(before)
  })

  test('the response excerpt keeps at most 4 KiB, never splitting a character', async () => {
    r.reply = () => new Response('é'.repeat(5000), { status: 500 })
    const e = event('m', { type: 'NoteDeleted', note_id: 'n3' })
    await publishToOutbox(e)
    const row = await waitFor(
      () => db.query("SELECT response_excerpt FROM webhook_attempts WHERE event_id = ? AND success = 0").get(e.envelope.event_id) as { response_excerpt: string } | null,
      'failed attempt logged',
    )
    expect(Buffer.byteLength(row.response_excerpt)).toBe(4096)
    expect(row.response_excerpt).toBe('é'.repeat(2048))
    r.reply = () => new Response('ok')
    await waitFor(() => db.query('SELECT 1 FROM webhook_attempts WHERE event_id = ? AND success = 1').get(e.envelope.event_id), 'retry delivered')
  })

  test('logs carry ids and outcomes, never the secret or a signature', () => {
    const text = logLines.join('\n')
    expect(text).toContain('webhook delivered')
    expect(text).toContain('webhook delivery will be retried')
    expect(text).not.toContain(secret)
    expect(text).not.toContain(secret.slice(6))
    expect(text).not.toMatch(/sha256=[0-9a-f]{64}/)
    expect(text).not.toContain('v1,')
  })

  test('rows a crash left in flight are due again on the next start', async () => {
    await outbox.stop()
    const e = event('m', { type: 'NoteDeleted', note_id: 'n4' })
    const id = Bun.randomUUIDv7()
    const hook = (await store.allActive())[0]!
    await store.insertDelivery({ id, webhook_id: hook.id, memory: 'm', event_id: e.envelope.event_id, event_type: e.eventType, legacy_type: e.legacyType, body: e.json, traceparent: null }, Date.now())
    // As if the process that claimed it died mid-attempt: its lease is over.
    expect(await store.claim(id, Date.now(), { owner: 'crashed', untilMs: Date.now() - 1, perEndpoint: 4 })).toBe(true)
    const before = r.requests.length
    outbox = new Outbox({ config: loadConfig({ MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true' }), store, bus: fakeBus, metrics, logger: createLogger('error'), tracing: noTracing })
    await outbox.start()
    const reqs = await r.waitForRequests(before + 1)
    expect(reqs[before]!.headers['webhook-id']).toBe(id)
    await waitFor(async () => (await store.delivery(id))?.status === 'succeeded', 'recovered delivery succeeded')
  })
})
