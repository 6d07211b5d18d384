import type { Database, Statement } from 'bun:sqlite'
import type { Delivery, DeliveryAttempt, DeliveryStatus, Webhook, WebhookWithSecret } from './model.ts'
import { isSealed, type SecretBox } from './secret-box.ts'

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

interface AttemptRow {
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

const iso = (ms: number) => new Date(ms).toISOString()

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

function toAttempt(r: AttemptRow): DeliveryAttempt {
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
 * Repository for webhooks, their delivery outbox and attempt log. Every state change is one guarded
 * statement or transaction. Signing secrets are sealed (secret-box.ts) in the table and plaintext in the
 * rows this returns: nothing outside the store sees the sealed form.
 */
export class WebhookStore {
  private s: Record<string, Statement>

  constructor(
    private db: Database,
    private box: SecretBox,
  ) {
    const q = (sql: string) => db.query(sql)
    this.s = {
      insert: q(`INSERT INTO webhooks (id, memory, url, events, description, secret, max_retries, created_by, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`),
      get: q('SELECT * FROM webhooks WHERE id = ?'),
      byMemory: q('SELECT * FROM webhooks WHERE memory = ? ORDER BY created_at, id'),
      activeByMemory: q('SELECT * FROM webhooks WHERE memory = ? AND is_active = 1'),
      allActive: q('SELECT * FROM webhooks WHERE is_active = 1'),
      countByMemory: q('SELECT COUNT(*) AS n FROM webhooks WHERE memory = ?'),
      update: q(`UPDATE webhooks SET url = ?, events = ?, description = ?, max_retries = ?, updated_at = ? WHERE id = ? RETURNING *`),
      enable: q(`UPDATE webhooks SET is_active = 1, disabled_reason = NULL, consecutive_failures = 0, updated_at = ? WHERE id = ? RETURNING *`),
      disable: q(`UPDATE webhooks SET is_active = 0, disabled_reason = ?, updated_at = ? WHERE id = ? AND is_active = 1 RETURNING *`),
      // previous_secret takes the sealed value as it is: the same row id authenticates it.
      rotate: q(`UPDATE webhooks SET previous_secret = secret, previous_secret_expires_ms = ?, secret = ?, updated_at = ? WHERE id = ? RETURNING *`),
      secrets: q('SELECT id, secret, previous_secret FROM webhooks'),
      reseal: q('UPDATE webhooks SET secret = ?, previous_secret = ? WHERE id = ?'),
      delete: q('DELETE FROM webhooks WHERE id = ?'),
      failures: q(`UPDATE webhooks SET consecutive_failures = consecutive_failures + 1 WHERE id = ? RETURNING consecutive_failures, is_active`),
      resetFailures: q(`UPDATE webhooks SET consecutive_failures = 0 WHERE id = ? AND consecutive_failures <> 0`),

      insertDelivery: q(`INSERT INTO webhook_deliveries
        (id, webhook_id, memory, event_id, event_type, legacy_type, body, traceparent, status, next_attempt_ms, created_ms, updated_ms)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING *`),
      delivery: q('SELECT * FROM webhook_deliveries WHERE id = ?'),
      dueWebhooks: q(`SELECT DISTINCT webhook_id FROM webhook_deliveries WHERE status IN ('pending', 'retrying') AND next_attempt_ms <= ?`),
      dueOf: q(`SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND status IN ('pending', 'retrying') AND next_attempt_ms <= ?
                ORDER BY seq LIMIT ?`),
      claim: q(`UPDATE webhook_deliveries SET status = 'in_flight', updated_ms = ? WHERE id = ? AND status IN ('pending', 'retrying')`),
      nextDue: q(`SELECT MIN(d.next_attempt_ms) AS t FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                  WHERE d.status IN ('pending', 'retrying') AND w.is_active = 1`),
      depth: q(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status IN ('pending', 'retrying')`),
      recover: q(`UPDATE webhook_deliveries SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
                  next_attempt_ms = ?, updated_ms = ? WHERE status = 'in_flight'`),
      settle: q(`UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, run_attempts = run_attempts + 1,
                 next_attempt_ms = COALESCE(?, next_attempt_ms), last_status_code = ?, last_error = ?, updated_ms = ?, finished_ms = ?
                 WHERE id = ? AND status = 'in_flight'`),
      release: q(`UPDATE webhook_deliveries SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
                  next_attempt_ms = ?, updated_ms = ? WHERE id = ? AND status = 'in_flight'`),
      requeue: q(`UPDATE webhook_deliveries SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
                  run_attempts = 0, next_attempt_ms = ?, updated_ms = ?, finished_ms = NULL
                  WHERE id = ? AND status <> 'in_flight' RETURNING *`),
      prune: q(`DELETE FROM webhook_deliveries WHERE finished_ms IS NOT NULL AND finished_ms < ?`),
      requeueFailed: q(`UPDATE webhook_deliveries SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END, run_attempts = 0, next_attempt_ms = ?, updated_ms = ?, finished_ms = NULL
                        WHERE webhook_id = ? AND status = 'failed' AND created_ms >= ? AND created_ms < ? RETURNING id`),

      insertAttempt: q(`INSERT INTO webhook_attempts
        (id, delivery_id, webhook_id, event_id, event_type, attempt, status_code, error, duration_ms, response_excerpt, success, created_at)
        SELECT ?, id, webhook_id, event_id, event_type, ?, ?, ?, ?, ?, ?, ? FROM webhook_deliveries WHERE id = ?`),
      attempts: q('SELECT * FROM webhook_attempts WHERE webhook_id = ? ORDER BY seq DESC LIMIT ?'),
    }
  }

  private st(name: string): Statement {
    return this.s[name]!
  }

  /** A row as stored → a row with plaintext secrets. */
  private open(r: WebhookRow | null): WebhookRow | null {
    if (!r) return null
    return {
      ...r,
      secret: this.box.open(r.secret, r.id),
      previous_secret: r.previous_secret === null ? null : this.box.open(r.previous_secret, r.id),
    }
  }

  private openAll(rows: WebhookRow[]): WebhookRow[] {
    return rows.map((r) => this.open(r)!)
  }

  // ---- webhooks ----

  insert(w: NewWebhook): WebhookRow {
    const sealed = this.box.seal(w.secret, w.id)
    return this.open(
      this.st('insert').get(w.id, w.memory, w.url, JSON.stringify(w.events), w.description, sealed, w.max_retries, w.created_by, w.now, w.now) as WebhookRow,
    )!
  }

  get(id: string): WebhookRow | null {
    return this.open(this.st('get').get(id) as WebhookRow | null)
  }

  listByMemory(memory: string): WebhookRow[] {
    return this.openAll(this.st('byMemory').all(memory) as WebhookRow[])
  }

  activeByMemory(memory: string): WebhookRow[] {
    return this.openAll(this.st('activeByMemory').all(memory) as WebhookRow[])
  }

  allActive(): WebhookRow[] {
    return this.openAll(this.st('allActive').all() as WebhookRow[])
  }

  /**
   * Seals every secret that is plaintext (rows from before encryption) or sealed with a key other than
   * the current one (after a key rotation or a switch to MATRIC_WEBHOOK_SECRET_KEY), in one transaction.
   * Returns how many rows changed, and how many of them held plaintext; throws SecretKeyError, changing
   * nothing, when a secret cannot be opened.
   */
  sealAll(): { rows: number; plaintext: number } {
    return this.db.transaction(() => {
      let rows = 0
      let plaintext = 0
      for (const r of this.st('secrets').all() as Pick<WebhookRow, 'id' | 'secret' | 'previous_secret'>[]) {
        const values = r.previous_secret === null ? [r.secret] : [r.secret, r.previous_secret]
        if (!values.some((v) => this.box.needsReseal(v))) continue
        if (values.some((v) => !isSealed(v))) plaintext++
        const secret = this.box.seal(this.box.open(r.secret, r.id), r.id)
        const previous = r.previous_secret === null ? null : this.box.seal(this.box.open(r.previous_secret, r.id), r.id)
        this.st('reseal').run(secret, previous, r.id)
        rows++
      }
      return { rows, plaintext }
    })()
  }

  /**
   * Rewrites the database file and empties the WAL, so that values replaced in place (plaintext secrets,
   * secrets under a retired key) do not survive in free pages or old WAL frames. Outside any transaction.
   */
  compact(): void {
    this.db.exec('VACUUM')
    this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  }

  countByMemory(memory: string): number {
    return (this.st('countByMemory').get(memory) as { n: number }).n
  }

  update(id: string, current: WebhookRow, p: WebhookPatch, now: string): WebhookRow | null {
    return this.open(this.st('update').get(
      p.url ?? current.url,
      p.events ? JSON.stringify(p.events) : current.events,
      p.description === undefined ? current.description : p.description,
      p.max_retries ?? current.max_retries,
      now,
      id,
    ) as WebhookRow | null)
  }

  enable(id: string, now: string): WebhookRow | null {
    return this.open(this.st('enable').get(now, id) as WebhookRow | null)
  }

  /** Disables an active webhook; null when it was already disabled (or is gone). */
  disable(id: string, reason: string, now: string): WebhookRow | null {
    return this.open(this.st('disable').get(reason, now, id) as WebhookRow | null)
  }

  rotate(id: string, secret: string, nowMs: number): WebhookRow | null {
    return this.open(this.st('rotate').get(nowMs + ROTATION_OVERLAP_MS, this.box.seal(secret, id), iso(nowMs), id) as WebhookRow | null)
  }

  /** Deletes a webhook with its deliveries and attempt log. */
  delete(id: string): boolean {
    return this.db.transaction(() => {
      this.db.query('DELETE FROM webhook_attempts WHERE webhook_id = ?').run(id)
      return this.st('delete').run(id).changes > 0
    })()
  }

  // ---- outbox ----

  /** Inserts deliveries in one transaction (the bus hot path: one event, its matching webhooks). */
  insertDeliveries(list: readonly NewDelivery[], nowMs: number): void {
    const ins = this.st('insertDelivery')
    const run = () => {
      for (const d of list) ins.run(d.id, d.webhook_id, d.memory, d.event_id, d.event_type, d.legacy_type, d.body, d.traceparent, nowMs, nowMs, nowMs)
    }
    if (list.length === 1) run()
    else this.db.transaction(run)()
  }

  insertDelivery(d: NewDelivery, nowMs: number): DeliveryRow {
    return this.st('insertDelivery').get(d.id, d.webhook_id, d.memory, d.event_id, d.event_type, d.legacy_type, d.body, d.traceparent, nowMs, nowMs, nowMs) as DeliveryRow
  }

  delivery(id: string): DeliveryRow | null {
    return this.st('delivery').get(id) as DeliveryRow | null
  }

  /** Webhooks (active or not) that have deliveries due at `nowMs`. */
  dueWebhooks(nowMs: number): string[] {
    return (this.st('dueWebhooks').all(nowMs) as { webhook_id: string }[]).map((r) => r.webhook_id)
  }

  /** The oldest `limit` deliveries of one webhook that are due at `nowMs`. */
  dueOf(webhookId: string, nowMs: number, limit: number): DeliveryRow[] {
    return this.st('dueOf').all(webhookId, nowMs, limit) as DeliveryRow[]
  }

  /** Moves a waiting delivery to in_flight; false when something else moved it first. */
  claim(id: string, nowMs: number): boolean {
    return this.st('claim').run(nowMs, id).changes === 1
  }

  /** ms epoch of the earliest waiting delivery of an active webhook, or null. */
  nextDue(): number | null {
    return (this.st('nextDue').get() as { t: number | null }).t
  }

  /** Deliveries waiting for an attempt (pending or retrying). */
  queueDepth(): number {
    return (this.st('depth').get() as { n: number }).n
  }

  /** A crash leaves rows in_flight: they become due again (the attempt may or may not have reached the receiver). */
  recoverInFlight(nowMs: number): number {
    return this.st('recover').run(nowMs, nowMs).changes
  }

  /** Puts an in-flight delivery back in the queue without counting an attempt (an attempt that broke unexpectedly). */
  release(id: string, nextAttemptMs: number): void {
    this.st('release').run(nextAttemptMs, Date.now(), id)
  }

  /** Re-queues a delivery (any status but in_flight) for an immediate attempt with a fresh retry budget. */
  requeue(id: string, nowMs: number): DeliveryRow | null {
    return this.st('requeue').get(nowMs, nowMs, id) as DeliveryRow | null
  }

  /**
   * Recover: re-queues every failed delivery of one webhook created in [sinceMs, untilMs) for an immediate
   * attempt with a fresh retry budget, in one statement (no delivery is picked twice, none in flight).
   * Returns the re-queued delivery ids.
   */
  requeueFailed(webhookId: string, sinceMs: number, untilMs: number, nowMs: number): string[] {
    return (this.st('requeueFailed').all(nowMs, nowMs, webhookId, sinceMs, untilMs) as { id: string }[]).map((r) => r.id)
  }

  /** Records an attempt: delivery state, attempt log entry and the webhook's failure count, atomically. */
  recordAttempt(r: AttemptRecord): AttemptEffect | null {
    return this.db.transaction((): AttemptEffect | null => {
      const status: DeliveryStatus = r.outcome === 'success' ? 'succeeded' : r.outcome === 'retry' ? 'retrying' : 'failed'
      const finished = r.outcome === 'retry' ? null : r.nowMs
      const changed = this.st('settle').run(status, r.nextAttemptMs, r.statusCode, r.error, r.nowMs, finished, r.deliveryId).changes
      if (changed !== 1) return null // deleted (with its webhook) while the attempt ran
      this.st('insertAttempt').run(
        r.attemptId,
        r.attempt,
        r.statusCode,
        r.error,
        r.durationMs,
        r.responseExcerpt,
        r.outcome === 'success' ? 1 : 0,
        iso(r.nowMs),
        r.deliveryId,
      )
      if (r.outcome === 'success') {
        this.st('resetFailures').run(r.webhookId)
        return { consecutiveFailures: 0, disabledReason: null }
      }
      // Every failed delivery counts once when it gives up; a timed-out attempt counts at once, even when
      // retried (an endpoint that keeps timing out holds slots for the whole timeout each time).
      if (r.outcome === 'retry' && !r.timedOut) return { consecutiveFailures: this.get(r.webhookId)?.consecutive_failures ?? 0, disabledReason: null }
      const row = this.st('failures').get(r.webhookId) as { consecutive_failures: number; is_active: number } | null
      const n = row?.consecutive_failures ?? 0
      let reason: string | null = null
      if (row?.is_active === 1) {
        const what = r.timedOut ? 'failed deliveries or timed-out attempts' : 'failed deliveries'
        if (r.disable) reason = r.disable
        else if (n >= r.disableAfter) reason = `${n} consecutive ${what} (last: ${r.error ?? 'failed'})`
        if (reason && !this.disable(r.webhookId, reason, iso(r.nowMs))) reason = null
      }
      return { consecutiveFailures: n, disabledReason: reason }
    })()
  }

  /** Attempt log of a webhook, newest first. */
  attempts(webhookId: string, limit: number): DeliveryAttempt[] {
    return (this.st('attempts').all(webhookId, limit) as AttemptRow[]).map(toAttempt)
  }

  /** Deletes finished deliveries (and their attempts) older than `beforeMs`. */
  prune(beforeMs: number): number {
    return this.db.transaction(() => {
      this.db
        .query('DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE finished_ms IS NOT NULL AND finished_ms < ?)')
        .run(beforeMs)
      return this.st('prune').run(beforeMs).changes
    })()
  }
}
