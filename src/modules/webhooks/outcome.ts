import { nextAttemptDelayMs } from './backoff.ts'

/** What one HTTP attempt produced. */
export interface AttemptResult {
  /** HTTP status when the receiver answered. */
  statusCode?: number
  /** Network error, timeout, DNS failure or SSRF refusal, in words. */
  error?: string
  /** The attempt ran into the per-attempt timeout (counts toward auto-disable even when retried). */
  timedOut?: boolean
  /** The SSRF guard refused the target: a policy failure, never retried. */
  refused?: boolean
  /** Parsed Retry-After (ms), when the receiver sent one. */
  retryAfterMs?: number | null
  /** Location header of a 3xx (reported, never followed). */
  location?: string | null
}

export type Decision =
  | { kind: 'success' }
  | { kind: 'retry'; delayMs: number; error: string }
  | { kind: 'failed'; error: string; disable?: string }

/** Statuses that are retried besides 5xx and network failures. */
const RETRYABLE_4XX = new Set([408, 429])

/**
 * The delivery rules of docs/webhooks.md for one attempt: 2xx succeeds; network errors, timeouts, 408, 429 and
 * 5xx are retried while `attemptInRun ≤ maxRetries`; 3xx fails (redirects are never followed); 410
 * fails and disables the webhook; other 4xx fail without retry.
 * `attemptInRun` is 1 for the first attempt since the delivery was (re)queued.
 */
export function decide(
  r: AttemptResult,
  attemptInRun: number,
  maxRetries: number,
  schedule: readonly number[],
  random: () => number = Math.random,
): Decision {
  const status = r.statusCode
  if (r.refused) return { kind: 'failed', error: r.error ?? 'refused by the SSRF guard' }
  if (status !== undefined && status >= 200 && status < 300) return { kind: 'success' }
  let error: string
  let retryable: boolean
  if (status === undefined) {
    error = r.error ?? 'no response'
    retryable = true
  } else if (status >= 300 && status < 400) {
    const to = r.location ? ` to ${r.location.slice(0, 200)}` : ''
    return { kind: 'failed', error: `redirect${to} not followed (HTTP ${status})` }
  } else if (status === 410) {
    return { kind: 'failed', error: 'receiver answered 410 Gone', disable: 'receiver answered 410 Gone' }
  } else {
    retryable = status >= 500 || RETRYABLE_4XX.has(status)
    error = `receiver answered HTTP ${status}`
  }
  if (retryable && attemptInRun <= maxRetries) {
    return { kind: 'retry', delayMs: nextAttemptDelayMs(attemptInRun, schedule, r.retryAfterMs ?? null, random), error }
  }
  return { kind: 'failed', error: retryable ? `${error}; no retries left` : error }
}
