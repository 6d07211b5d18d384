/**
 * Retry delay for attempt `retry` (1-based): base · 4^(retry−1), capped at one hour, with ±20 % jitter.
 * `random` is injectable so the schedule is testable.
 */
export function jobBackoffMs(retry: number, baseMs: number, random: () => number = Math.random): number {
  const raw = Math.min(baseMs * 4 ** Math.max(0, retry - 1), 3_600_000)
  return Math.round(raw * (0.8 + 0.4 * random()))
}
