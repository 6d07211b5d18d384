import { describe, expect, test } from 'bun:test'
import { deriveKey, SecretBox, SecretKeyError } from '../../src/modules/webhooks/secret-box.ts'
import { ROTATION_OVERLAP_MS, signingSecrets, toDelivery, type AttemptRecord, type NewDelivery, type WebhookRow } from '../../src/modules/webhooks/store.ts'
import type { Stores } from '../../src/store/ports.ts'
import { harness, isoAt, TEST_KEY, uid, uniqueMemory, type OpenStores } from './harness.ts'

const T0 = Date.UTC(2026, 0, 1)

async function webhook(s: Stores, memory = uniqueMemory(), o: { secret?: string; at?: number } = {}): Promise<WebhookRow> {
  const row = await s.webhooks.insert({
    id: uid(),
    memory,
    url: 'https://receiver.example/hook',
    events: ['note.created', 'note.updated'],
    description: 'desc',
    secret: o.secret ?? `whsec_${uid()}`,
    max_retries: 5,
    created_by: 'tester',
    now: isoAt(o.at ?? T0),
  }, 100)
  if (!row) throw new Error('webhook cap reached')
  return row
}

const newDelivery = (w: WebhookRow, o: Partial<NewDelivery> = {}): NewDelivery => ({
  id: uid(),
  webhook_id: w.id,
  memory: w.memory,
  event_id: uid(),
  event_type: 'note.created',
  legacy_type: 'NoteCreated',
  body: '{"x":1}',
  traceparent: null,
  ...o,
})

const attempt = (deliveryId: string, webhookId: string, o: Partial<AttemptRecord> = {}): AttemptRecord => ({
  deliveryId,
  webhookId,
  owner: 'o',
  attemptId: uid(),
  attempt: 1,
  outcome: 'success',
  nextAttemptMs: null,
  statusCode: 200,
  error: null,
  durationMs: 12,
  responseExcerpt: 'ok',
  nowMs: T0 + 100,
  disableAfter: 3,
  ...o,
})

const lease = (owner: string, untilMs: number, perEndpoint = 10) => ({ owner, untilMs, perEndpoint })

/** WebhookStore contract (src/modules/webhooks/store.ts). */
export function webhookStoreContract(openStores: OpenStores): void {
  describe('WebhookStore', () => {
    const { open } = harness(openStores)

    test('insert and get: plaintext secret in the row, sealed at rest (another key cannot open it)', async () => {
      const s = await open()
      const m = uniqueMemory()
      const w = await webhook(s, m, { secret: 'whsec_plain' })
      expect(w).toEqual({
        id: w.id,
        memory: m,
        url: 'https://receiver.example/hook',
        events: '["note.created","note.updated"]',
        description: 'desc',
        secret: 'whsec_plain',
        previous_secret: null,
        previous_secret_expires_ms: null,
        max_retries: 5,
        is_active: 1,
        disabled_reason: null,
        consecutive_failures: 0,
        created_by: 'tester',
        created_at: isoAt(T0),
        updated_at: isoAt(T0),
      })
      expect(await s.webhooks.get(w.id)).toEqual(w)
      expect(await s.webhooks.get(uid())).toBeNull()
      const stranger = await open({ box: new SecretBox(deriveKey('another-key-material-0123456789abcdefgh')) })
      await expect(stranger.webhooks.get(w.id)).rejects.toThrow(SecretKeyError)
    })

    test('listByMemory (oldest first), activeByMemory, allActive, countByMemory; update, disable, enable', async () => {
      const s = await open()
      const m = uniqueMemory()
      const a = await webhook(s, m, { at: T0 + 2 })
      const b = await webhook(s, m, { at: T0 + 1 })
      await webhook(s)
      expect((await s.webhooks.listByMemory(m)).map((w) => w.id)).toEqual([b.id, a.id])
      expect(await s.webhooks.countByMemory(m)).toBe(2)
      const u = (await s.webhooks.update(a.id, a, { url: 'https://other.example/x', events: ['*'], description: null }, isoAt(T0 + 10)))!
      expect(u).toEqual({ ...a, url: 'https://other.example/x', events: '["*"]', description: null, updated_at: isoAt(T0 + 10) })
      const d = (await s.webhooks.disable(a.id, 'by hand', isoAt(T0 + 20)))!
      expect(d).toMatchObject({ is_active: 0, disabled_reason: 'by hand', updated_at: isoAt(T0 + 20) })
      expect(await s.webhooks.disable(a.id, 'again', isoAt(T0 + 30))).toBeNull()
      expect((await s.webhooks.activeByMemory(m)).map((w) => w.id)).toEqual([b.id])
      const all = (await s.webhooks.allActive()).map((w) => w.id)
      expect(all).toContain(b.id)
      expect(all).not.toContain(a.id)
      expect(await s.webhooks.enable(a.id, isoAt(T0 + 40))).toMatchObject({ is_active: 1, disabled_reason: null, consecutive_failures: 0 })
      expect(await s.webhooks.enable(uid(), isoAt(T0))).toBeNull()
    })

    test('rotate: the previous secret keeps signing for the overlap', async () => {
      const s = await open()
      const w = await webhook(s, uniqueMemory(), { secret: 'whsec_old' })
      const r = (await s.webhooks.rotate(w.id, 'whsec_new', T0 + 1000))!
      expect(r).toMatchObject({ secret: 'whsec_new', previous_secret: 'whsec_old', previous_secret_expires_ms: T0 + 1000 + ROTATION_OVERLAP_MS, updated_at: isoAt(T0 + 1000) })
      expect(await s.webhooks.get(w.id)).toEqual(r)
      expect(signingSecrets(r, T0 + 2000)).toEqual(['whsec_new', 'whsec_old'])
      expect(signingSecrets(r, T0 + 1000 + ROTATION_OVERLAP_MS)).toEqual(['whsec_new'])
    })

    test('sealAll reseals under a new key; a key it cannot open changes nothing', async () => {
      const s = await open()
      const w = await webhook(s, uniqueMemory(), { secret: 'whsec_a' })
      await s.webhooks.rotate(w.id, 'whsec_b', T0)
      const next = deriveKey('next-key-material-0123456789abcdefghijklmn')
      try {
        const unknown = await open({ box: new SecretBox(deriveKey('unknown-key-material-0123456789abcdefghi')) })
        await expect(unknown.webhooks.sealAll()).rejects.toThrow(SecretKeyError)
        expect((await s.webhooks.get(w.id))!.secret).toBe('whsec_b')

        const rotating = await open({ box: new SecretBox(next, [TEST_KEY]) })
        const r = await rotating.webhooks.sealAll()
        expect(r.rows).toBeGreaterThanOrEqual(1)
        expect(r.plaintext).toBe(0)
        expect(await rotating.webhooks.sealAll()).toEqual({ rows: 0, plaintext: 0 })
        const onlyNext = await open({ box: new SecretBox(next) })
        expect(await onlyNext.webhooks.get(w.id)).toMatchObject({ secret: 'whsec_b', previous_secret: 'whsec_a' })
        await expect(s.webhooks.get(w.id)).rejects.toThrow(SecretKeyError)
      } finally {
        // Back under the tests' key: later tests open every webhook with it.
        const back = await open({ box: new SecretBox(TEST_KEY, [next]) })
        await back.webhooks.sealAll()
      }
      expect((await s.webhooks.get(w.id))!.secret).toBe('whsec_b')
      await s.webhooks.compact()
      expect((await s.webhooks.get(w.id))!.secret).toBe('whsec_b')
    })

    test('deliveries: inserted pending and due at once; dueWebhooks and dueOf (oldest first, limit)', async () => {
      const s = await open()
      const w = await webhook(s)
      const one = await s.webhooks.insertDelivery(newDelivery(w, { traceparent: '00-abc-def-01' }), T0)
      expect(one).toMatchObject({
        id: one.id,
        webhook_id: w.id,
        memory: w.memory,
        event_type: 'note.created',
        legacy_type: 'NoteCreated',
        body: '{"x":1}',
        traceparent: '00-abc-def-01',
        status: 'pending',
        attempts: 0,
        run_attempts: 0,
        next_attempt_ms: T0,
        last_status_code: null,
        last_error: null,
        created_ms: T0,
        updated_ms: T0,
        finished_ms: null,
      })
      expect(typeof one.seq).toBe('number')
      expect(await s.webhooks.delivery(one.id)).toEqual(one)
      expect(toDelivery(one).next_attempt_at).toBe(isoAt(T0))
      const batch = [newDelivery(w), newDelivery(w), newDelivery(w)]
      await s.webhooks.insertDeliveries(batch, T0 + 10)
      await s.webhooks.insertDeliveries([], T0 + 10)
      expect(await s.webhooks.dueWebhooks(T0 - 1)).not.toContain(w.id)
      expect(await s.webhooks.dueWebhooks(T0)).toContain(w.id)
      expect((await s.webhooks.dueOf(w.id, T0 + 9, 10)).map((d) => d.id)).toEqual([one.id])
      expect((await s.webhooks.dueOf(w.id, T0 + 10, 3)).map((d) => d.id)).toEqual([one.id, batch[0]!.id, batch[1]!.id])
      // A batch naming a webhook that does not exist is refused whole.
      await expect(s.webhooks.insertDeliveries([newDelivery(w), { ...newDelivery(w), webhook_id: uid() }], T0)).rejects.toThrow()
      expect((await s.webhooks.dueOf(w.id, T0 + 10, 100)).length).toBe(4)
    })

    test('claim: one winner per delivery, and only a waiting one', async () => {
      const a = await open()
      const b = await open()
      const w = await webhook(a)
      const d = await a.webhooks.insertDelivery(newDelivery(w), T0)
      const wins = await Promise.all([a, b, a, b].map((s, i) => s.webhooks.claim(d.id, T0, lease(`o${i}`, T0 + 1000))))
      expect(wins.filter(Boolean).length).toBe(1)
      expect((await a.webhooks.delivery(d.id))!.status).toBe('in_flight')
      expect(await a.webhooks.claim(d.id, T0, lease('late', T0 + 1000))).toBe(false)
      expect(await a.webhooks.claim(uid(), T0, lease('x', T0 + 1000))).toBe(false)
    })

    test('the per-endpoint in-flight limit holds when several instances race; expired leases do not count', async () => {
      const stores = await Promise.all([open(), open(), open(), open()])
      const w = await webhook(stores[0]!)
      const other = await webhook(stores[0]!)
      const ds = Array.from({ length: 20 }, () => newDelivery(w))
      await stores[0]!.webhooks.insertDeliveries(ds, T0)
      const od = await stores[0]!.webhooks.insertDelivery(newDelivery(other), T0)
      const results = await Promise.all(ds.map((d, i) => stores[i % 4]!.webhooks.claim(d.id, T0, lease(`owner-${i % 4}`, T0 + 1000, 3))))
      expect(results.filter(Boolean).length).toBe(3)
      // The limit is per webhook: another one is not held back.
      expect(await stores[1]!.webhooks.claim(od.id, T0, lease('x', T0 + 1000, 3))).toBe(true)
      const waiting = ds.filter((_, i) => !results[i])
      expect(await stores[2]!.webhooks.claim(waiting[0]!.id, T0 + 1000, lease('y', T0 + 2000, 3))).toBe(false)
      // After the three leases ended (still in flight, not yet recovered), three more may go.
      const later = await Promise.all(waiting.map((d, i) => stores[i % 4]!.webhooks.claim(d.id, T0 + 1001, lease(`z-${i % 4}`, T0 + 5000, 3))))
      expect(later.filter(Boolean).length).toBe(3)
    })

    test('recoverExpired makes due again only deliveries whose lease ended; release puts one back without an attempt', async () => {
      const s = await open()
      const w = await webhook(s)
      const early = await s.webhooks.insertDelivery(newDelivery(w), T0)
      const late = await s.webhooks.insertDelivery(newDelivery(w), T0)
      const freed = await s.webhooks.insertDelivery(newDelivery(w), T0)
      expect(await s.webhooks.claim(early.id, T0, lease('a', T0 + 100))).toBe(true)
      expect(await s.webhooks.claim(late.id, T0, lease('b', T0 + 10_000))).toBe(true)
      expect(await s.webhooks.claim(freed.id, T0, lease('c', T0 + 10_000))).toBe(true)
      expect(await s.webhooks.recoverExpired(T0 + 500)).toBeGreaterThanOrEqual(1)
      expect(await s.webhooks.delivery(early.id)).toMatchObject({ status: 'pending', next_attempt_ms: T0 + 500, attempts: 0 })
      expect((await s.webhooks.delivery(late.id))!.status).toBe('in_flight')
      await s.webhooks.release(freed.id, 'c', T0 + 700)
      expect(await s.webhooks.delivery(freed.id)).toMatchObject({ status: 'pending', next_attempt_ms: T0 + 700, attempts: 0 })
      // A recovered delivery with attempts behind it goes back to retrying.
      expect(await s.webhooks.claim(early.id, T0 + 500, lease('a2', T0 + 600))).toBe(true)
      await s.webhooks.recordAttempt(attempt(early.id, w.id, { owner: 'a2', outcome: 'retry', nextAttemptMs: T0 + 550, statusCode: 503, error: 'HTTP 503', nowMs: T0 + 520 }))
      expect(await s.webhooks.claim(early.id, T0 + 550, lease('a3', T0 + 600))).toBe(true)
      await s.webhooks.recoverExpired(T0 + 601)
      expect(await s.webhooks.delivery(early.id)).toMatchObject({ status: 'retrying', attempts: 1, next_attempt_ms: T0 + 601 })
      expect((await s.webhooks.delivery(late.id))!.status).toBe('in_flight')
    })

    test('owner guard: after a lease takeover the stale owner can neither settle nor release the new owner\'s attempt', async () => {
      const [a, b] = await Promise.all([open(), open()])
      const w = await webhook(a)
      const d = await a.webhooks.insertDelivery(newDelivery(w), T0)
      expect(await a.webhooks.claim(d.id, T0, lease('stale', T0 + 100))).toBe(true)
      // The stale owner's lease ends; another instance recovers and claims the delivery.
      expect(await b.webhooks.recoverExpired(T0 + 200)).toBeGreaterThanOrEqual(1)
      expect(await b.webhooks.claim(d.id, T0 + 200, lease('new', T0 + 10_000))).toBe(true)
      // The stale owner's late answer changes nothing: no attempt logged, still in flight under the new lease.
      expect(await a.webhooks.recordAttempt(attempt(d.id, w.id, { owner: 'stale', nowMs: T0 + 300 }))).toBeNull()
      await a.webhooks.release(d.id, 'stale', T0 + 300)
      expect(await a.webhooks.delivery(d.id)).toMatchObject({ status: 'in_flight', attempts: 0 })
      expect(await a.webhooks.attempts(w.id, 10)).toEqual([])
      // The new owner settles it once.
      expect(await b.webhooks.recordAttempt(attempt(d.id, w.id, { owner: 'new', nowMs: T0 + 400 }))).toEqual({ consecutiveFailures: 0, disabledReason: null })
      expect(await a.webhooks.delivery(d.id)).toMatchObject({ status: 'succeeded', attempts: 1 })
      expect((await a.webhooks.attempts(w.id, 10)).length).toBe(1)
      // And a release by the rightful owner still works.
      const e = await a.webhooks.insertDelivery(newDelivery(w), T0)
      expect(await a.webhooks.claim(e.id, T0, lease('new', T0 + 10_000))).toBe(true)
      await a.webhooks.release(e.id, 'new', T0 + 50)
      expect(await a.webhooks.delivery(e.id)).toMatchObject({ status: 'pending', attempts: 0, next_attempt_ms: T0 + 50 })
    })

    test('recordAttempt: success, retry and failure settle the delivery, log the attempt and count failures', async () => {
      const s = await open()
      const w = await webhook(s)
      const ok = await s.webhooks.insertDelivery(newDelivery(w), T0)
      expect(await s.webhooks.recordAttempt(attempt(ok.id, w.id))).toBeNull() // not in flight
      await s.webhooks.claim(ok.id, T0, lease('o', T0 + 1000))
      expect(await s.webhooks.recordAttempt(attempt(ok.id, w.id, { nowMs: T0 + 50 }))).toEqual({ consecutiveFailures: 0, disabledReason: null })
      expect(await s.webhooks.delivery(ok.id)).toMatchObject({ status: 'succeeded', attempts: 1, run_attempts: 1, last_status_code: 200, finished_ms: T0 + 50, updated_ms: T0 + 50 })
      expect(await s.webhooks.recordAttempt(attempt(ok.id, w.id))).toBeNull() // settled once

      const r = await s.webhooks.insertDelivery(newDelivery(w), T0)
      await s.webhooks.claim(r.id, T0, lease('o', T0 + 1000))
      const retry = attempt(r.id, w.id, { outcome: 'retry', nextAttemptMs: T0 + 5000, statusCode: 500, error: 'HTTP 500', nowMs: T0 + 60 })
      expect(await s.webhooks.recordAttempt(retry)).toEqual({ consecutiveFailures: 0, disabledReason: null })
      expect(await s.webhooks.delivery(r.id)).toMatchObject({ status: 'retrying', attempts: 1, next_attempt_ms: T0 + 5000, last_error: 'HTTP 500', finished_ms: null })
      // A timed-out attempt counts at once, even when retried.
      await s.webhooks.claim(r.id, T0 + 5000, lease('o', T0 + 6000))
      expect(await s.webhooks.recordAttempt({ ...retry, attemptId: uid(), attempt: 2, timedOut: true, statusCode: null, error: 'timeout', nowMs: T0 + 70 })).toEqual({
        consecutiveFailures: 1,
        disabledReason: null,
      })
      await s.webhooks.claim(r.id, T0 + 5000, lease('o', T0 + 6000))
      expect(await s.webhooks.recordAttempt(attempt(r.id, w.id, { attempt: 3, outcome: 'failed', statusCode: 500, error: 'HTTP 500', nowMs: T0 + 80 }))).toEqual({
        consecutiveFailures: 2,
        disabledReason: null,
      })
      expect(await s.webhooks.delivery(r.id)).toMatchObject({ status: 'failed', attempts: 3, finished_ms: T0 + 80 })

      // The third consecutive failure disables it (disableAfter 3).
      const f = await s.webhooks.insertDelivery(newDelivery(w), T0)
      await s.webhooks.claim(f.id, T0, lease('o', T0 + 1000))
      const effect = (await s.webhooks.recordAttempt(attempt(f.id, w.id, { outcome: 'failed', statusCode: 404, error: 'HTTP 404', nowMs: T0 + 90 })))!
      expect(effect.consecutiveFailures).toBe(3)
      expect(effect.disabledReason).toContain('3 consecutive failed deliveries')
      expect(await s.webhooks.get(w.id)).toMatchObject({ is_active: 0, disabled_reason: effect.disabledReason })

      const log = await s.webhooks.attempts(w.id, 10)
      expect(log.map((a) => a.delivery_id)).toEqual([f.id, r.id, r.id, r.id, ok.id])
      expect(log[4]).toEqual({
        id: log[4]!.id,
        delivery_id: ok.id,
        event_id: ok.event_id,
        event_type: 'note.created',
        attempt: 1,
        status_code: 200,
        duration_ms: 12,
        response_excerpt: 'ok',
        created_at: isoAt(T0 + 50),
        success: true,
      })
      expect(log[2]).toMatchObject({ attempt: 2, error: 'timeout', success: false })
      expect(log[2]!.status_code).toBeUndefined()
      expect((await s.webhooks.attempts(w.id, 2)).length).toBe(2)
    })

    test('recordAttempt with a disable reason (410 Gone) disables at once; a success resets the failure count', async () => {
      const s = await open()
      const w = await webhook(s)
      const a = await s.webhooks.insertDelivery(newDelivery(w), T0)
      await s.webhooks.claim(a.id, T0, lease('o', T0 + 1000))
      await s.webhooks.recordAttempt(attempt(a.id, w.id, { outcome: 'failed', statusCode: 500, error: 'HTTP 500' }))
      expect((await s.webhooks.get(w.id))!.consecutive_failures).toBe(1)
      const b = await s.webhooks.insertDelivery(newDelivery(w), T0)
      await s.webhooks.claim(b.id, T0, lease('o', T0 + 1000))
      await s.webhooks.recordAttempt(attempt(b.id, w.id))
      expect((await s.webhooks.get(w.id))!.consecutive_failures).toBe(0)
      const c = await s.webhooks.insertDelivery(newDelivery(w), T0)
      await s.webhooks.claim(c.id, T0, lease('o', T0 + 1000))
      expect(await s.webhooks.recordAttempt(attempt(c.id, w.id, { outcome: 'failed', statusCode: 410, error: 'HTTP 410', disable: 'receiver answered 410 Gone' }))).toEqual({
        consecutiveFailures: 1,
        disabledReason: 'receiver answered 410 Gone',
      })
      expect(await s.webhooks.get(w.id)).toMatchObject({ is_active: 0, disabled_reason: 'receiver answered 410 Gone' })
    })

    test('requeue and requeueFailed give failed deliveries a fresh budget; in-flight ones are left alone', async () => {
      const s = await open()
      const w = await webhook(s)
      const mk = async (createdMs: number) => {
        const d = await s.webhooks.insertDelivery(newDelivery(w), createdMs)
        await s.webhooks.claim(d.id, createdMs, lease('o', createdMs + 1000))
        await s.webhooks.recordAttempt(attempt(d.id, w.id, { outcome: 'failed', statusCode: 500, error: 'HTTP 500', nowMs: createdMs + 1, disableAfter: 1000 }))
        return d
      }
      const d1 = await mk(T0)
      const d2 = await mk(T0 + 100)
      const d3 = await mk(T0 + 200)
      const flying = await s.webhooks.insertDelivery(newDelivery(w), T0 + 150)
      await s.webhooks.claim(flying.id, T0 + 150, lease('o', T0 + 9999))
      expect((await s.webhooks.requeueFailed(w.id, T0 + 100, T0 + 200, T0 + 300)).sort()).toEqual([d2.id])
      expect(await s.webhooks.delivery(d2.id)).toMatchObject({ status: 'retrying', run_attempts: 0, attempts: 1, next_attempt_ms: T0 + 300, finished_ms: null })
      expect((await s.webhooks.delivery(d3.id))!.status).toBe('failed')
      expect(await s.webhooks.requeue(d1.id, T0 + 400)).toMatchObject({ id: d1.id, status: 'retrying', run_attempts: 0, next_attempt_ms: T0 + 400 })
      expect(await s.webhooks.requeue(flying.id, T0 + 400)).toBeNull()
      expect(await s.webhooks.requeue(uid(), T0 + 400)).toBeNull()
    })

    test('queueDepth, nextDue (active webhooks only) and health', async () => {
      const s = await open()
      const m = uniqueMemory()
      const w = await webhook(s, m, { at: T0 })
      const quiet = await webhook(s, m, { at: T0 + 1 })
      const depth0 = await s.webhooks.queueDepth()
      // Due at 5 ms after the epoch: earlier than anything else a test writes.
      const early = await s.webhooks.insertDelivery(newDelivery(w), 5)
      await s.webhooks.insertDelivery(newDelivery(w), T0)
      expect(await s.webhooks.queueDepth()).toBe(depth0 + 2)
      expect(await s.webhooks.nextDue()).toBe(5)
      await s.webhooks.disable(w.id, 'paused', isoAt(T0))
      expect(await s.webhooks.nextDue()).not.toBe(5)
      await s.webhooks.enable(w.id, isoAt(T0))
      await s.webhooks.claim(early.id, T0, lease('o', T0 + 1000))
      await s.webhooks.recordAttempt(attempt(early.id, w.id, { outcome: 'failed', statusCode: 502, error: null, nowMs: T0 + 10, disableAfter: 100 }))
      const ok = await s.webhooks.insertDelivery(newDelivery(w), T0)
      await s.webhooks.claim(ok.id, T0, lease('o', T0 + 1000))
      await s.webhooks.recordAttempt(attempt(ok.id, w.id, { nowMs: T0 + 20 }))
      expect(await s.webhooks.queueDepth()).toBe(depth0 + 1)
      expect(await s.webhooks.health(m, isoAt(T0))).toEqual([
        {
          id: w.id,
          attempts: 2,
          successes: 1,
          last_error: null,
          last_status: 502,
          last_error_at: isoAt(T0 + 10),
          last_success_at: isoAt(T0 + 20),
          waiting: 1,
          failed: 1,
        },
        { id: quiet.id, attempts: 0, successes: 0, last_error: null, last_status: null, last_error_at: null, last_success_at: null, waiting: 0, failed: 0 },
      ])
      expect((await s.webhooks.health(m, isoAt(T0 + 15)))[0]).toMatchObject({ attempts: 1, successes: 1, last_status: 502 })
      await s.webhooks.delete(w.id)
    })

    test('prune removes finished deliveries older than the cut, with their attempts; delete removes everything', async () => {
      const s = await open()
      const w = await webhook(s)
      const old = await s.webhooks.insertDelivery(newDelivery(w), T0)
      await s.webhooks.claim(old.id, T0, lease('o', T0 + 1000))
      await s.webhooks.recordAttempt(attempt(old.id, w.id, { nowMs: T0 + 10 }))
      const recent = await s.webhooks.insertDelivery(newDelivery(w), T0)
      await s.webhooks.claim(recent.id, T0, lease('o', T0 + 1000))
      await s.webhooks.recordAttempt(attempt(recent.id, w.id, { nowMs: T0 + 1000 }))
      const waiting = await s.webhooks.insertDelivery(newDelivery(w), T0)
      expect(await s.webhooks.prune(T0 + 500)).toBeGreaterThanOrEqual(1)
      expect(await s.webhooks.delivery(old.id)).toBeNull()
      expect((await s.webhooks.attempts(w.id, 10)).map((a) => a.delivery_id)).toEqual([recent.id])
      expect(await s.webhooks.delivery(waiting.id)).not.toBeNull()
      expect(await s.webhooks.delete(w.id)).toBe(true)
      expect(await s.webhooks.delete(w.id)).toBe(false)
      expect(await s.webhooks.get(w.id)).toBeNull()
      expect(await s.webhooks.delivery(recent.id)).toBeNull()
      expect(await s.webhooks.attempts(w.id, 10)).toEqual([])
    })
  })
}

