import type { Delivery, DeliveryAttempt, DeliveryStatus, Webhook, WebhookWithSecret } from './model.ts'

/** How long the previous secret keeps signing after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3600_000

export interface WebhookRow {
  id: string
  memory: string
  url: string
  events: string
  description: string | null
  secret: string
  previous_secret: string | null
  previous_secret_expires_ms: number | null
  max_retries: number
  is_active: number
  disabled_reason: string | null
  consecutive_failures: number
  created_by: string
  created_at: string
  updated_at: string
}

export interface DeliveryRow {
  seq: number
  id: string
  webhook_id: string
  memory: string
  event_id: string
  event_type: string
  legacy_type: string
  body: string
  traceparent: string | null
  status: DeliveryStatus
  attempts: number
  run_attempts: number
  next_attempt_ms: number
  last_status_code: number | null
  last_error: string | null
  created_ms: number
  updated_ms: number
  finished_ms: number | null
}

/** An attempt as stored. */
export interface AttemptRow {
  id: string
  delivery_id: string
  event_id: string
  event_type: string
  attempt: number
  status_code: number | null
  error: string | null
  duration_ms: number
  response_excerpt: string
  success: number
  created_at: string
}

export interface NewWebhook {
  id: string
  memory: string
  url: string
  events: string[]
  description: string | null
  secret: string
  max_retries: number
  created_by: string
  now: string
}

export interface WebhookPatch {
  url?: string
  events?: string[]
  description?: string | null
  max_retries?: number
}

export type NewDelivery = Pick<DeliveryRow, 'id' | 'webhook_id' | 'memory' | 'event_id' | 'event_type' | 'legacy_type' | 'body' | 'traceparent'>

/** What an attempt did to its delivery and webhook, written in one transaction. */
export interface AttemptRecord {
  deliveryId: string
  /** Who claimed the delivery: only its current lease holder may settle it (a stale owner after a takeover may not). */
  owner: string
  webhookId: string
  attemptId: string
  attempt: number
  outcome: 'success' | 'retry' | 'failed'
  nextAttemptMs: number | null
  statusCode: number | null
  error: string | null
  durationMs: number
  responseExcerpt: string
  nowMs: number
  /** Disable the webhook now with this reason (410 Gone). */
  disable?: string
  /** Disable once consecutive failures reach this many. */
  disableAfter: number
  /** The attempt timed out: it counts as a failure even when the delivery is retried. */
  timedOut?: boolean
}

export interface AttemptEffect {
  consecutiveFailures: number
  /** Set when this attempt disabled the webhook. */
  disabledReason: string | null
}

export const iso = (ms: number) => new Date(ms).toISOString()

export function toWebhook(r: WebhookRow): Webhook {
  return {
    id: r.id,
    url: r.url,
    events: JSON.parse(r.events) as string[],
    description: r.description,
    memory: r.memory,
    max_retries: r.max_retries,
    is_active: r.is_active === 1,
    disabled_reason: r.disabled_reason,
    consecutive_failures: r.consecutive_failures,
    created_at: r.created_at,
    updated_at: r.updated_at,
  }
}

export function toWebhookWithSecret(r: WebhookRow): WebhookWithSecret {
  return { ...toWebhook(r), secret: r.secret }
}

/** The secrets that sign at `nowMs`: the current one, plus the previous one inside the rotation window. */
export function signingSecrets(r: Pick<WebhookRow, 'secret' | 'previous_secret' | 'previous_secret_expires_ms'>, nowMs: number): string[] {
  return r.previous_secret && (r.previous_secret_expires_ms ?? 0) > nowMs ? [r.secret, r.previous_secret] : [r.secret]
}

export function toDelivery(r: DeliveryRow): Delivery {
  const waiting = r.status === 'pending' || r.status === 'retrying'
  return {
    id: r.id,
    webhook_id: r.webhook_id,
    event_id: r.event_id,
    event_type: r.event_type,
    status: r.status,
    attempts: r.attempts,
    next_attempt_at: waiting ? iso(r.next_attempt_ms) : null,
    last_status_code: r.last_status_code,
    last_error: r.last_error,
    created_at: iso(r.created_ms),
    updated_at: iso(r.updated_ms),
  }
}

export function toAttempt(r: AttemptRow): DeliveryAttempt {
  const a: DeliveryAttempt = {
    id: r.id,
    delivery_id: r.delivery_id,
    event_id: r.event_id,
    event_type: r.event_type,
    attempt: r.attempt,
    duration_ms: r.duration_ms,
    response_excerpt: r.response_excerpt,
    created_at: r.created_at,
    success: r.success === 1,
  }
  if (r.status_code !== null) a.status_code = r.status_code
  if (r.error !== null) a.error = r.error
  return a
}

/**
 * Whether a failed attempt adds to its webhook's consecutive failures: every failed delivery counts once, when it
 * gives up; a timed-out attempt counts at once, even when retried (an endpoint that keeps timing out holds slots
 * for the whole timeout each time). Both backends apply it inside `recordAttempt`.
 */
export function countsAsFailure(r: Pick<AttemptRecord, 'outcome' | 'timedOut'>): boolean {
  return r.outcome === 'failed' || (r.outcome === 'retry' && r.timedOut === true)
}

/** Why an active webhook is disabled after this attempt, with `failures` consecutive failures now; null: it stays. */
export function disableReason(r: Pick<AttemptRecord, 'disable' | 'disableAfter' | 'timedOut' | 'error'>, failures: number): string | null {
  if (r.disable) return r.disable
  if (failures < r.disableAfter) return null
  const what = r.timedOut ? 'failed deliveries or timed-out attempts' : 'failed deliveries'
  return `${failures} consecutive ${what} (last: ${r.error ?? 'failed'})`
}

/** One webhook's delivery health over a window (the console's Overview). */
export interface WebhookHealthRow {
  id: string
  attempts: number
  successes: number
  last_error: string | null
  last_status: number | null
  last_error_at: string | null
  last_success_at: string | null
  waiting: number
  failed: number
}

/** Who attempts a claimed delivery, until when, and how many attempts its webhook may have in flight at once. */
export interface DeliveryLease {
  owner: string
  untilMs: number
  /** In-flight deliveries (unexpired leases, any owner) a webhook may have; the claim fails beyond it. */
  perEndpoint: number
}

/**
 * Port: webhooks, their delivery outbox and attempt log (docs/architecture.md). Every state change is one
 * guarded statement or transaction. Signing secrets are sealed (secret-box.ts) at rest and plaintext in the rows
 * this returns: nothing outside the store sees the sealed form.
 *
 * Contract (tests/contract/webhook-store.ts):
 * - `claim` moves a waiting delivery to in_flight under a lease, for one caller only, and never beyond the
 *   webhook's in-flight limit counted over every owner (cluster-wide).
 * - `recordAttempt` and `release` act only on a delivery still in flight under the caller's lease (owner guard: after
 *   a lease expired and another instance claimed the delivery, the old owner's late answer changes nothing);
 *   `recoverExpired` makes due again only deliveries
 *   whose lease ended (an attempt that may or may not have reached the receiver: at-least-once).
 */
export interface WebhookStore {
  /** Inserts a webhook unless its memory already has `maxPerMemory` (counted and inserted atomically): then null. */
  insert(w: NewWebhook, maxPerMemory: number): Promise<WebhookRow | null>
  get(id: string): Promise<WebhookRow | null>
  listByMemory(memory: string): Promise<WebhookRow[]>
  activeByMemory(memory: string): Promise<WebhookRow[]>
  allActive(): Promise<WebhookRow[]>
  countByMemory(memory: string): Promise<number>
  update(id: string, current: WebhookRow, p: WebhookPatch, now: string): Promise<WebhookRow | null>
  enable(id: string, now: string): Promise<WebhookRow | null>
  /** Disables an active webhook; null when it was already disabled (or is gone). */
  disable(id: string, reason: string, now: string): Promise<WebhookRow | null>
  /** New signing secret; the previous one keeps signing for ROTATION_OVERLAP_MS. */
  rotate(id: string, secret: string, nowMs: number): Promise<WebhookRow | null>
  /** Deletes a webhook with its deliveries and attempt log. */
  delete(id: string): Promise<boolean>
  /**
   * Seals every secret that is plaintext or sealed with a key other than the current one, in one transaction.
   * Returns how many rows changed, and how many held plaintext; throws SecretKeyError, changing nothing, when a
   * secret cannot be opened.
   */
  sealAll(): Promise<{ rows: number; plaintext: number }>
  /** Makes replaced values unrecoverable from the store's files (SQLite: VACUUM and a WAL truncate). */
  compact(): Promise<void>

  /** Inserts deliveries in one transaction (the bus hot path: one event, its matching webhooks). */
  insertDeliveries(list: readonly NewDelivery[], nowMs: number): Promise<void>
  insertDelivery(d: NewDelivery, nowMs: number): Promise<DeliveryRow>
  delivery(id: string): Promise<DeliveryRow | null>
  /** Webhooks (active or not) that have deliveries due at `nowMs`. */
  dueWebhooks(nowMs: number): Promise<string[]>
  /** The oldest `limit` deliveries of one webhook that are due at `nowMs`. */
  dueOf(webhookId: string, nowMs: number, limit: number): Promise<DeliveryRow[]>
  /** Moves a waiting delivery to in_flight under `lease`; false when another claim won or the webhook is at its limit. */
  claim(id: string, nowMs: number, lease: DeliveryLease): Promise<boolean>
  /** ms epoch of the earliest waiting delivery of an active webhook, or null. */
  nextDue(): Promise<number | null>
  /** Deliveries waiting for an attempt (pending or retrying). */
  queueDepth(): Promise<number>
  /** In-flight deliveries whose lease ended before `nowMs` become due at `nowMs`; returns how many. */
  recoverExpired(nowMs: number): Promise<number>
  /**
   * Puts an in-flight delivery back in the queue without counting an attempt (an attempt that broke unexpectedly);
   * only when `owner` still holds its lease.
   */
  release(id: string, owner: string, nextAttemptMs: number): Promise<void>
  /** Re-queues a delivery (any status but in_flight) for an immediate attempt with a fresh retry budget. */
  requeue(id: string, nowMs: number): Promise<DeliveryRow | null>
  /**
   * Re-queues every failed delivery of one webhook created in [sinceMs, untilMs) for an immediate attempt with a
   * fresh retry budget, at once (no delivery is picked twice, none in flight). Returns the re-queued ids.
   */
  requeueFailed(webhookId: string, sinceMs: number, untilMs: number, nowMs: number): Promise<string[]>
  /** Records an attempt: delivery state, attempt log entry and the webhook's failure count, atomically. */
  recordAttempt(r: AttemptRecord): Promise<AttemptEffect | null>
  /** Attempt log of a webhook, newest first. */
  attempts(webhookId: string, limit: number): Promise<DeliveryAttempt[]>
  /** Delivery health of a memory's webhooks, attempts counted since `sinceIso`. */
  health(memory: string, sinceIso: string): Promise<WebhookHealthRow[]>
  /** Deletes finished deliveries (and their attempts) older than `beforeMs`. */
  prune(beforeMs: number): Promise<number>
}
