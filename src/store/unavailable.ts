/**
 * Whether an error says the store cannot be reached right now (as opposed to a bug or a bad request): a request
 * that meets it gets 503 with Retry-After, and the client retries (docs/cluster.md, "Failure modes"). Bun's
 * PostgreSQL client names connection failures ERR_POSTGRES_CONNECTION_* (refused, closed, timed out) and the
 * pool's timeouts ERR_POSTGRES_*_TIMEOUT; SQLite's busy/locked database is the embedded store's equivalent.
 */
export function isStoreUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  return /^ERR_POSTGRES_(CONNECTION_|IDLE_TIMEOUT|LIFETIME_TIMEOUT|CONNECTION_TIMEOUT)/.test(code) || /^SQLITE_(BUSY|LOCKED)(_|$)/.test(code)
}
