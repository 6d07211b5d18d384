/** The pure pieces of the PostgreSQL broker (src/store/postgres/broker.ts), table-driven; no database needed. */
import { describe, expect, test } from 'bun:test'
import type { EventRow } from '../../src/events/store.ts'
import { MAX_NOTIFY_BYTES, parseSignal, parseWake, planLocal, rowToEvent, signalPayload, wakePayload } from '../../src/store/postgres/broker.ts'

const b = (...seqs: number[]) => seqs.map((seq) => ({ seq }))

describe('planLocal', () => {
  const cases: [string, number, { seq: number }[], ReturnType<typeof planLocal>][] = [
    ['log write failed: live only', 10, b(0, 0), 'live'],
    ['the next position: at once', 10, b(11, 12), 'now'],
    ['the very first batch of the log', 0, b(1), 'now'],
    ["another instance's positions first", 10, b(13, 14), 'catchUp'],
    ['already delivered by a catch-up', 14, b(13, 14), 'stale'],
    ['partly delivered: read the log', 13, b(12, 13, 14), 'catchUp'],
  ]
  for (const [what, through, batch, want] of cases) test(what, () => expect(planLocal(through, batch)).toBe(want))
})

describe('wake-up payload', () => {
  const cases: [string, number | null][] = [
    [wakePayload('node-1', 42), 42],
    [wakePayload('host:123 with spaces', 7), 7],
    ['', null],
    ['x node', null],
    ['0 node', null],
    ['-3 node', null],
    ['1.5 node', null],
  ]
  for (const [p, want] of cases) test(JSON.stringify(p), () => expect(parseWake(p)).toBe(want))
})

describe('signal payload', () => {
  test('round trip', () => {
    const s = { kind: 'revoked' as const, value: 'jti-1', node: 'a:1' }
    expect(parseSignal(signalPayload(s)!)).toEqual(s)
  })
  test('too large for NOTIFY: not sent', () => {
    expect(signalPayload({ kind: 'webhooks', value: 'm'.repeat(MAX_NOTIFY_BYTES), node: 'a' })).toBeNull()
  })
  const bad = ['', 'nope', '{}', '{"k":"other","v":"x","n":"a"}', '{"k":"jobs","v":1,"n":"a"}', '{"k":"jobs","v":"x"}']
  for (const p of bad) test(`refused: ${p || '(empty)'}`, () => expect(parseSignal(p)).toBeNull())
})

describe('rowToEvent', () => {
  const envelope = { event_id: 'e1', event_type: 'job.completed', memory: 'm', payload: { type: 'JobCompleted', job_id: 'j' } }
  const row: EventRow = { seq: 5, event_id: 'e1', memory: 'm', event_type: 'job.completed', entity_id: null, tags: '["a","b"]', envelope: JSON.stringify(envelope), created_ms: 1_000 }
  test('envelope, json as logged, tags, legacy type, and t0 placed at the creation time', () => {
    const e = rowToEvent(row, 1_250, 10_000)
    expect(e).toMatchObject({ seq: 5, memory: 'm', eventType: 'job.completed', legacyType: 'JobCompleted', tags: ['a', 'b'], t0: 9_750 })
    expect(e.json).toBe(row.envelope)
    expect(e.envelope).toEqual(envelope as never)
  })
  test('no tags; a creation time ahead of this clock counts as now', () => {
    expect(rowToEvent({ ...row, tags: null, created_ms: 2_000 }, 1_000, 500)).toMatchObject({ tags: null, t0: 500 })
  })
})
