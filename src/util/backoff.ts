/** ±20 % jitter, so work that failed together does not retry in lockstep. */
export const JITTER = 0.2

/** `ms` scaled by a random factor in [0.8, 1.2), rounded. `random` is injectable so schedules are testable. */
export function withJitter(ms: number, random: () => number = Math.random): number {
  return Math.round(ms * (1 - JITTER + 2 * JITTER * random()))
}
