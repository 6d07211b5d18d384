import { withJitter } from '../../util/backoff.ts'

/** Retry timing for webhook deliveries (docs/webhooks.md): the configured schedule with jitter, and Retry-After. */

/** A receiver's Retry-After is honoured up to this long; beyond it we still retry after one hour. */
export const MAX_RETRY_AFTER_MS = 3_600_000

/**
 * Delay before retry number `retry` (1 = the second attempt): `schedule[retry-1]`, the last entry
 * repeating, scaled by a random factor in [0.8, 1.2). `random` is injectable for tests.
 */
export function retryDelayMs(retry: number, schedule: readonly number[], random: () => number = Math.random): number {
  if (!schedule.length) return 0
  const base = schedule[Math.min(Math.max(retry, 1), schedule.length) - 1]!
  return withJitter(base, random)
}

/**
 * Parses a Retry-After header (delay-seconds or HTTP-date) into milliseconds from `nowMs`, capped at
 * MAX_RETRY_AFTER_MS; a date in the past is 0; null when absent or malformed.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number = Date.now()): number | null {
  if (value === null || value === undefined) return null
  const v = value.trim()
  if (v === '') return null
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS)
  // An HTTP-date always names a weekday or month; refusing bare numbers with signs/decimals keeps
  // Date.parse from accepting things like "1.5" as a year.
  if (!/[a-z]{3}/i.test(v)) return null
  const at = Date.parse(v)
  if (Number.isNaN(at)) return null
  return Math.min(Math.max(0, at - nowMs), MAX_RETRY_AFTER_MS)
}

/** The delay before the next attempt: the scheduled one, or the receiver's Retry-After when that is later. */
export function nextAttemptDelayMs(
  retry: number,
  schedule: readonly number[],
  retryAfterMs: number | null,
  random: () => number = Math.random,
): number {
  const scheduled = retryDelayMs(retry, schedule, random)
  return retryAfterMs === null ? scheduled : Math.max(scheduled, retryAfterMs)
}
