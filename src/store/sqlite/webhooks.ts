import type { Database, Statement } from 'bun:sqlite'
import type { DeliveryAttempt, DeliveryStatus } from '../../modules/webhooks/model.ts'
import { isSealed, type SecretBox } from '../../modules/webhooks/secret-box.ts'
import {
  countsAsFailure,
  disableReason,
  iso,
  ROTATION_OVERLAP_MS,
  toAttempt,
  type AttemptEffect,
  type AttemptRecord,
  type AttemptRow,
  type DeliveryLease,
  type DeliveryRow,
  type NewDelivery,
  type NewWebhook,
  type WebhookHealthRow,
  type WebhookPatch,
  type WebhookRow,
  type WebhookStore,
} from '../../modules/webhooks/store.ts'

/** Webhooks, their delivery outbox and attempt log on SQLite (port: modules/webhooks/store.ts). */
export class SqliteWebhookStore implements WebhookStore {
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
      // The webhook's in-flight count includes every owner's unexpired leases (one writer: no race here).
      claim: q(`UPDATE webhook_deliveries SET status = 'in_flight', updated_ms = ?1, owner = ?2, lease_until_ms = ?3
                WHERE id = ?4 AND status IN ('pending', 'retrying')
                  AND (SELECT COUNT(*) FROM webhook_deliveries f WHERE f.webhook_id = webhook_deliveries.webhook_id
                       AND f.status = 'in_flight' AND f.lease_until_ms >= ?1) < ?5`),
      nextDue: q(`SELECT MIN(d.next_attempt_ms) AS t FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                  WHERE d.status IN ('pending', 'retrying') AND w.is_active = 1`),
      depth: q(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status IN ('pending', 'retrying')`),
      recover: q(`UPDATE webhook_deliveries SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
                  next_attempt_ms = ?1, updated_ms = ?1, owner = NULL, lease_until_ms = NULL
                  WHERE status = 'in_flight' AND COALESCE(lease_until_ms, 0) < ?1`),
      settle: q(`UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, run_attempts = run_attempts + 1,
                 next_attempt_ms = COALESCE(?, next_attempt_ms), last_status_code = ?, last_error = ?, updated_ms = ?, finished_ms = ?,
                 owner = NULL, lease_until_ms = NULL
                 WHERE id = ? AND status = 'in_flight' AND owner = ?`),
      release: q(`UPDATE webhook_deliveries SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
                  next_attempt_ms = ?, updated_ms = ?, owner = NULL, lease_until_ms = NULL
                  WHERE id = ? AND status = 'in_flight' AND owner = ?`),
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
      health: q(`
        SELECT w.id,
          (SELECT COUNT(*) FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.created_at >= ?1) AS attempts,
          (SELECT COUNT(*) FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.created_at >= ?1 AND a.success = 1) AS successes,
          (SELECT a.error FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.success = 0 ORDER BY a.seq DESC LIMIT 1) AS last_error,
          (SELECT a.status_code FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.success = 0 ORDER BY a.seq DESC LIMIT 1) AS last_status,
          (SELECT a.created_at FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.success = 0 ORDER BY a.seq DESC LIMIT 1) AS last_error_at,
          (SELECT a.created_at FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.success = 1 ORDER BY a.seq DESC LIMIT 1) AS last_success_at,
          (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status IN ('pending', 'retrying')) AS waiting,
          (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'failed') AS failed
        FROM webhooks w WHERE w.memory = ?2 ORDER BY w.created_at, w.id`),
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

  async insert(w: NewWebhook, maxPerMemory: number): Promise<WebhookRow | null> {
    const sealed = this.box.seal(w.secret, w.id)
    return this.db.transaction(() => {
      if (this.countByMemoryNow(w.memory) >= maxPerMemory) return null
      return this.open(
        this.st('insert').get(w.id, w.memory, w.url, JSON.stringify(w.events), w.description, sealed, w.max_retries, w.created_by, w.now, w.now) as WebhookRow,
      )
    })()
  }

  async get(id: string): Promise<WebhookRow | null> {
    return this.getNow(id)
  }

  private getNow(id: string): WebhookRow | null {
    return this.open(this.st('get').get(id) as WebhookRow | null)
  }

  async listByMemory(memory: string): Promise<WebhookRow[]> {
    return this.openAll(this.st('byMemory').all(memory) as WebhookRow[])
  }

  async activeByMemory(memory: string): Promise<WebhookRow[]> {
    return this.openAll(this.st('activeByMemory').all(memory) as WebhookRow[])
  }

  async allActive(): Promise<WebhookRow[]> {
    return this.openAll(this.st('allActive').all() as WebhookRow[])
  }

  /**
   * Seals every secret that is plaintext (rows from before encryption) or sealed with a key other than
   * the current one (after a key rotation or a switch to MATRIC_WEBHOOK_SECRET_KEY), in one transaction.
   * Returns how many rows changed, and how many of them held plaintext; throws SecretKeyError, changing
   * nothing, when a secret cannot be opened.
   */
  async sealAll(): Promise<{ rows: number; plaintext: number }> {
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
  async compact(): Promise<void> {
    this.db.exec('VACUUM')
    this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  }

  async countByMemory(memory: string): Promise<number> {
    return this.countByMemoryNow(memory)
  }

  private countByMemoryNow(memory: string): number {
    return (this.st('countByMemory').get(memory) as { n: number }).n
  }

  async update(id: string, current: WebhookRow, p: WebhookPatch, now: string): Promise<WebhookRow | null> {
    return this.open(this.st('update').get(
      p.url ?? current.url,
      p.events ? JSON.stringify(p.events) : current.events,
      p.description === undefined ? current.description : p.description,
      p.max_retries ?? current.max_retries,
      now,
      id,
    ) as WebhookRow | null)
  }

  async enable(id: string, now: string): Promise<WebhookRow | null> {
    return this.open(this.st('enable').get(now, id) as WebhookRow | null)
  }

  /** Disables an active webhook; null when it was already disabled (or is gone). */
  async disable(id: string, reason: string, now: string): Promise<WebhookRow | null> {
    return this.disableNow(id, reason, now)
  }

  private disableNow(id: string, reason: string, now: string): WebhookRow | null {
    return this.open(this.st('disable').get(reason, now, id) as WebhookRow | null)
  }

  async rotate(id: string, secret: string, nowMs: number): Promise<WebhookRow | null> {
    return this.open(this.st('rotate').get(nowMs + ROTATION_OVERLAP_MS, this.box.seal(secret, id), iso(nowMs), id) as WebhookRow | null)
  }

  /** Deletes a webhook with its deliveries and attempt log. */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.query('DELETE FROM webhook_attempts WHERE webhook_id = ?').run(id)
      return this.st('delete').run(id).changes > 0
    })()
  }

  // ---- outbox ----

  /** Inserts deliveries in one transaction (the bus hot path: one event, its matching webhooks). */
  async insertDeliveries(list: readonly NewDelivery[], nowMs: number): Promise<void> {
    const ins = this.st('insertDelivery')
    const run = () => {
      for (const d of list) ins.run(d.id, d.webhook_id, d.memory, d.event_id, d.event_type, d.legacy_type, d.body, d.traceparent, nowMs, nowMs, nowMs)
    }
    if (list.length === 1) run()
    else this.db.transaction(run)()
  }

  async insertDelivery(d: NewDelivery, nowMs: number): Promise<DeliveryRow> {
    return this.st('insertDelivery').get(d.id, d.webhook_id, d.memory, d.event_id, d.event_type, d.legacy_type, d.body, d.traceparent, nowMs, nowMs, nowMs) as DeliveryRow
  }

  async delivery(id: string): Promise<DeliveryRow | null> {
    return this.st('delivery').get(id) as DeliveryRow | null
  }

  /** Webhooks (active or not) that have deliveries due at `nowMs`. */
  async dueWebhooks(nowMs: number): Promise<string[]> {
    return (this.st('dueWebhooks').all(nowMs) as { webhook_id: string }[]).map((r) => r.webhook_id)
  }

  /** The oldest `limit` deliveries of one webhook that are due at `nowMs`. */
  async dueOf(webhookId: string, nowMs: number, limit: number): Promise<DeliveryRow[]> {
    return this.st('dueOf').all(webhookId, nowMs, limit) as DeliveryRow[]
  }

  /** Moves a waiting delivery to in_flight; false when something else moved it first. */
  async claim(id: string, nowMs: number, lease: DeliveryLease): Promise<boolean> {
    return this.st('claim').run(nowMs, lease.owner, lease.untilMs, id, lease.perEndpoint).changes === 1
  }

  /** ms epoch of the earliest waiting delivery of an active webhook, or null. */
  async nextDue(): Promise<number | null> {
    return (this.st('nextDue').get() as { t: number | null }).t
  }

  /** Deliveries waiting for an attempt (pending or retrying). */
  async queueDepth(): Promise<number> {
    return (this.st('depth').get() as { n: number }).n
  }

  /** A crash leaves rows in_flight: they become due again (the attempt may or may not have reached the receiver). */
  async recoverExpired(nowMs: number): Promise<number> {
    return this.st('recover').run(nowMs).changes
  }

  /** Puts an in-flight delivery back in the queue without counting an attempt (an attempt that broke unexpectedly). */
  async release(id: string, owner: string, nextAttemptMs: number): Promise<void> {
    this.st('release').run(nextAttemptMs, Date.now(), id, owner)
  }

  /** Re-queues a delivery (any status but in_flight) for an immediate attempt with a fresh retry budget. */
  async requeue(id: string, nowMs: number): Promise<DeliveryRow | null> {
    return this.st('requeue').get(nowMs, nowMs, id) as DeliveryRow | null
  }

  /**
   * Recover: re-queues every failed delivery of one webhook created in [sinceMs, untilMs) for an immediate
   * attempt with a fresh retry budget, in one statement (no delivery is picked twice, none in flight).
   * Returns the re-queued delivery ids.
   */
  async requeueFailed(webhookId: string, sinceMs: number, untilMs: number, nowMs: number): Promise<string[]> {
    return (this.st('requeueFailed').all(nowMs, nowMs, webhookId, sinceMs, untilMs) as { id: string }[]).map((r) => r.id)
  }

  /** Records an attempt: delivery state, attempt log entry and the webhook's failure count, atomically. */
  async recordAttempt(r: AttemptRecord): Promise<AttemptEffect | null> {
    return this.db.transaction((): AttemptEffect | null => {
      const status: DeliveryStatus = r.outcome === 'success' ? 'succeeded' : r.outcome === 'retry' ? 'retrying' : 'failed'
      const finished = r.outcome === 'retry' ? null : r.nowMs
      const changed = this.st('settle').run(status, r.nextAttemptMs, r.statusCode, r.error, r.nowMs, finished, r.deliveryId, r.owner).changes
      // Deleted (with its webhook) while the attempt ran, or its lease expired and another owner holds it now.
      if (changed !== 1) return null
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
      if (!countsAsFailure(r)) return { consecutiveFailures: this.getNow(r.webhookId)?.consecutive_failures ?? 0, disabledReason: null }
      const row = this.st('failures').get(r.webhookId) as { consecutive_failures: number; is_active: number } | null
      const n = row?.consecutive_failures ?? 0
      let reason = row?.is_active === 1 ? disableReason(r, n) : null
      if (reason && !this.disableNow(r.webhookId, reason, iso(r.nowMs))) reason = null
      return { consecutiveFailures: n, disabledReason: reason }
    })()
  }

  /** Attempt log of a webhook, newest first. */
  async attempts(webhookId: string, limit: number): Promise<DeliveryAttempt[]> {
    return (this.st('attempts').all(webhookId, limit) as AttemptRow[]).map(toAttempt)
  }

  async health(memory: string, sinceIso: string): Promise<WebhookHealthRow[]> {
    return this.st('health').all(sinceIso, memory) as WebhookHealthRow[]
  }

  /** Deletes finished deliveries (and their attempts) older than `beforeMs`. */
  async prune(beforeMs: number): Promise<number> {
    return this.db.transaction(() => {
      this.db
        .query('DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE finished_ms IS NOT NULL AND finished_ms < ?)')
        .run(beforeMs)
      return this.st('prune').run(beforeMs).changes
    })()
  }
}
