import { describe, expect, test } from 'bun:test'
import { countsAsFailure, disableReason } from '../../src/modules/webhooks/store.ts'

describe('countsAsFailure (the consecutive-failure count of a webhook)', () => {
  test.each<[Parameters<typeof countsAsFailure>[0], boolean]>([
    [{ outcome: 'success' }, false],
    [{ outcome: 'retry' }, false],
    [{ outcome: 'retry', timedOut: false }, false],
    [{ outcome: 'retry', timedOut: true }, true],
    [{ outcome: 'failed' }, true],
    [{ outcome: 'failed', timedOut: true }, true],
  ])('%p → %p', (r, expected) => expect(countsAsFailure(r)).toBe(expected))
})

describe('disableReason', () => {
  const base = { disableAfter: 3, error: 'HTTP 503' as string | null }
  test.each<[Parameters<typeof disableReason>[0], number, string | null]>([
    [base, 2, null],
    [base, 3, '3 consecutive failed deliveries (last: HTTP 503)'],
    [{ ...base, timedOut: true, error: 'timed out after 250 ms' }, 4, '4 consecutive failed deliveries or timed-out attempts (last: timed out after 250 ms)'],
    [{ ...base, error: null }, 3, '3 consecutive failed deliveries (last: failed)'],
    [{ ...base, disable: 'the receiver answered 410 Gone' }, 1, 'the receiver answered 410 Gone'],
  ])('%p after %p failures → %p', (r, failures, expected) => expect(disableReason(r, failures)).toBe(expected))
})
