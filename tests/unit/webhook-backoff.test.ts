import { describe, expect, test } from 'bun:test'
import { MAX_RETRY_AFTER_MS, nextAttemptDelayMs, parseRetryAfter, retryDelayMs } from '../../src/modules/webhooks/backoff.ts'

const SCHEDULE = [1000, 5000, 25_000, 125_000, 625_000]

describe('retryDelayMs: schedule entry, last one repeating, ±20 % jitter', () => {
  const cases: [number, number, number][] = [
    // retry, random, expected
    [1, 0.5, 1000],
    [2, 0.5, 5000],
    [3, 0.5, 25_000],
    [5, 0.5, 625_000],
    [9, 0.5, 625_000],
    [1, 0, 800],
    [1, 0.999999, 1200],
    [2, 0, 4000],
    [0, 0.5, 1000], // clamped to the first entry
  ]
  for (const [retry, random, expected] of cases) {
    test(`retry ${retry}, random ${random} → ${expected}`, () => expect(retryDelayMs(retry, SCHEDULE, () => random)).toBe(expected))
  }
  test('an empty schedule retries at once', () => expect(retryDelayMs(1, [])).toBe(0))
  test('jitter stays within bounds', () => {
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(2, SCHEDULE)
      expect(d).toBeGreaterThanOrEqual(4000)
      expect(d).toBeLessThanOrEqual(6000)
    }
  })
})

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-27T10:00:00Z')
  const cases: [string | null, number | null][] = [
    [null, null],
    ['', null],
    ['0', 0],
    ['3', 3000],
    [' 120 ', 120_000],
    ['99999999', MAX_RETRY_AFTER_MS],
    ['Fri, 27 Nov 2026 10:00:30 GMT', 30_000],
    ['Fri, 27 Nov 2026 09:59:00 GMT', 0], // in the past
    ['Friday, 27-Nov-26 10:01:00 GMT', 60_000], // RFC 850
    ['Sat, 28 Nov 2026 10:00:00 GMT', MAX_RETRY_AFTER_MS],
    ['-5', null],
    ['1.5', null],
    ['soon', null],
    ['Fri, 99 Foo 2026 nonsense', null],
  ]
  for (const [value, expected] of cases) test(`${JSON.stringify(value)} → ${expected}`, () => expect(parseRetryAfter(value, now)).toBe(expected))
})

describe('nextAttemptDelayMs', () => {
  test('the later of the schedule and Retry-After', () => {
    expect(nextAttemptDelayMs(1, SCHEDULE, null, () => 0.5)).toBe(1000)
    expect(nextAttemptDelayMs(1, SCHEDULE, 3000, () => 0.5)).toBe(3000)
    expect(nextAttemptDelayMs(2, SCHEDULE, 3000, () => 0.5)).toBe(5000)
    expect(nextAttemptDelayMs(1, [10], 0, () => 0.5)).toBe(10)
  })
})
