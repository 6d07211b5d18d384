import { describe, expect, test } from 'bun:test'
import { decide, type AttemptResult } from '../../src/modules/webhooks/outcome.ts'
import { SlidingWindowLimiter } from '../../src/modules/webhooks/ratelimit.ts'

const SCHEDULE = [1000, 5000, 25_000]
const half = () => 0.5

describe('decide: the delivery rules of docs/webhooks.md', () => {
  const cases: { name: string; r: AttemptResult; attempt?: number; max?: number; expect: string; delay?: number; disable?: boolean }[] = [
    { name: '200 succeeds', r: { statusCode: 200 }, expect: 'success' },
    { name: '204 succeeds', r: { statusCode: 204 }, expect: 'success' },
    { name: '299 succeeds', r: { statusCode: 299 }, expect: 'success' },
    { name: '500 retries', r: { statusCode: 500 }, expect: 'retry', delay: 1000 },
    { name: '503 retries (second retry → 5 s)', r: { statusCode: 503 }, attempt: 2, expect: 'retry', delay: 5000 },
    { name: '408 retries', r: { statusCode: 408 }, expect: 'retry', delay: 1000 },
    { name: '429 retries honouring Retry-After', r: { statusCode: 429, retryAfterMs: 7000 }, expect: 'retry', delay: 7000 },
    { name: 'network error retries', r: { error: 'network error: ECONNREFUSED' }, expect: 'retry', delay: 1000 },
    { name: 'timeout retries', r: { error: 'timed out after 10000 ms' }, expect: 'retry', delay: 1000 },
    { name: '500 with no retries left fails', r: { statusCode: 500 }, attempt: 4, max: 3, expect: 'failed' },
    { name: 'max_retries 0 never retries', r: { statusCode: 500 }, attempt: 1, max: 0, expect: 'failed' },
    { name: '301 fails (never followed)', r: { statusCode: 301, location: 'http://127.0.0.1/' }, expect: 'failed' },
    { name: '302 fails', r: { statusCode: 302 }, expect: 'failed' },
    { name: '304 fails', r: { statusCode: 304 }, expect: 'failed' },
    { name: '400 fails without retry', r: { statusCode: 400 }, expect: 'failed' },
    { name: '401 fails without retry', r: { statusCode: 401 }, expect: 'failed' },
    { name: '404 fails without retry', r: { statusCode: 404 }, expect: 'failed' },
    { name: '410 fails and disables', r: { statusCode: 410 }, expect: 'failed', disable: true },
    { name: 'SSRF refusal fails without retry', r: { refused: true, error: 'refused by the SSRF guard: x' }, expect: 'failed' },
  ]
  for (const c of cases) {
    test(c.name, () => {
      const d = decide(c.r, c.attempt ?? 1, c.max ?? 3, SCHEDULE, half)
      expect(d.kind).toBe(c.expect as typeof d.kind)
      if (d.kind === 'retry') expect(d.delayMs).toBe(c.delay!)
      if (d.kind === 'failed') expect(Boolean(d.disable)).toBe(Boolean(c.disable))
      if (d.kind !== 'success') expect(d.error.length).toBeGreaterThan(0)
    })
  }
  test('a redirect names its target and says it was not followed', () => {
    const d = decide({ statusCode: 302, location: 'http://127.0.0.1/admin' }, 1, 3, SCHEDULE, half)
    expect(d).toEqual({ kind: 'failed', error: 'redirect to http://127.0.0.1/admin not followed (HTTP 302)' })
  })
})

describe('SlidingWindowLimiter', () => {
  test('allows `limit` hits per window per key, then says when to come back', () => {
    let now = 0
    const l = new SlidingWindowLimiter(3, 60_000, () => now)
    expect([l.take('a'), l.take('a'), l.take('a')].every((r) => r.ok)).toBe(true)
    expect(l.take('b').ok).toBe(true)
    now = 10_000
    expect(l.take('a')).toEqual({ ok: false, retryAfterS: 50 })
    now = 60_001
    expect(l.take('a').ok).toBe(true)
  })
})
