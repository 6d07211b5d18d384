/**
 * Bun's PostgreSQL client returns int8 (BIGINT, COUNT(*), SUM) as strings, so that values beyond 2^53 survive.
 * Every int8 here is an ms epoch, a position or a count, far below 2^53: the rows the ports return hold numbers.
 */
export function num(v: string | number | bigint): number {
  return typeof v === 'number' ? v : Number(v)
}

export function numOrNull(v: string | number | bigint | null): number | null {
  return v === null ? null : num(v)
}

/** SQLSTATEs after which the same transaction, run again, may succeed (deadlock, serialization failure). */
export function isRetryable(err: unknown): boolean {
  const state = (err as { errno?: unknown } | null)?.errno
  return state === '40P01' || state === '40001'
}

/** Runs `fn` again (a few times) when PostgreSQL aborted it to break a deadlock. */
export async function retrying<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn()
    } catch (err) {
      if (i >= attempts || !isRetryable(err)) throw err
    }
  }
}
