import { withJitter } from '../../util/backoff.ts'

/**
 * Retry delay for attempt `retry` (1-based): base · 4^(retry−1), capped at one hour, with ±20 % jitter.
 * `random` is injectable so the schedule is testable.
 */
export function jobBackoffMs(retry: number, baseMs: number, random: () => number = Math.random): number {
  return withJitter(Math.min(baseMs * 4 ** Math.max(0, retry - 1), 3_600_000), random)
}
