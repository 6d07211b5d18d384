import type { SQL } from 'bun'
import type { DeliveryAttempt, DeliveryStatus } from '../../modules/webhooks/model.ts'
import { isSealed, type SecretBox } from '../../modules/webhooks/secret-box.ts'
import {
  countsAsFailure,
  disableReason,
  ROTATION_OVERLAP_MS,
  iso,
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
import type { Logger } from '../../telemetry/log.ts'
import { num, numOrNull } from './util.ts'

type Int8 = string | number

type StoredWebhook = Omit<WebhookRow, 'previous_secret_expires_ms'> & { previous_secret_expires_ms: Int8 | null }

type StoredDelivery = Omit<DeliveryRow, 'seq' | 'next_attempt_ms' | 'created_ms' | 'updated_ms' | 'finished_ms'> & {
  seq: Int8
  next_attempt_ms: Int8
  created_ms: Int8
  updated_ms: Int8
  finished_ms: Int8 | null
}

/** The DeliveryRow columns (owner and lease stay inside the store). */
const DELIVERY_COLUMNS = `seq, id, webhook_id, memory, event_id, event_type, legacy_type, body, traceparent, status, attempts, run_attempts,
  next_attempt_ms, last_status_code, last_error, created_ms, updated_ms, finished_ms`

const toDeliveryRow = (r: StoredDelivery): DeliveryRow => ({
  ...r,
  seq: num(r.seq),
  next_attempt_ms: num(r.next_attempt_ms),
  created_ms: num(r.created_ms),
  updated_ms: num(r.updated_ms),
  finished_ms: numOrNull(r.finished_ms),
})

/** Back to waiting: `pending` when it was never attempted, else `retrying` (as in SQLite). */
const WAITING_AGAIN = `CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END`

/**
 * Webhooks, their delivery outbox and attempt log on PostgreSQL. Secrets are sealed at rest exactly as in the
 * SQLite store (secret-box.ts, the webhook id as additional data) and plaintext in the rows returned.
 */
export class PgWebhookStore implements WebhookStore {
  constructor(
    private sql: SQL,
    private box: SecretBox,
    private logger?: Logger,
  ) {}

  /** A row as stored → a row with plaintext secrets and numbers for the int8 columns. */
  private open(r: StoredWebhook | undefined): WebhookRow | null {
    if (!r) return null
    return {
      ...r,
      previous_secret_expires_ms: numOrNull(r.previous_secret_expires_ms),
      secret: this.box.open(r.secret, r.id),
      previous_secret: r.previous_secret === null ? null : this.box.open(r.previous_secret, r.id),
    }
  }

  private openAll(rows: StoredWebhook[]): WebhookRow[] {
    return rows.map((r) => this.open(r)!)
  }

  // ---- webhooks ----

  async insert(w: NewWebhook, maxPerMemory: number): Promise<WebhookRow | null> {
    const sealed = this.box.seal(w.secret, w.id)
    // One memory's inserts take turns (a transaction-scoped advisory lock on its name), so the count holds on
    // every instance at once.
    const [r] = await this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(hashtext(${'webhooks:' + w.memory}))`
      return tx<StoredWebhook[]>`
        INSERT INTO webhooks (id, memory, url, events, description, secret, max_retries, created_by, created_at, updated_at)
        SELECT ${w.id}, ${w.memory}, ${w.url}, ${JSON.stringify(w.events)}, ${w.description}, ${sealed}, ${w.max_retries}, ${w.created_by}, ${w.now}, ${w.now}
        WHERE (SELECT COUNT(*) FROM webhooks WHERE memory = ${w.memory}) < ${maxPerMemory}
        RETURNING *`
    })
    return this.open(r)
  }

  async get(id: string): Promise<WebhookRow | null> {
    const [r] = await this.sql<StoredWebhook[]>`SELECT * FROM webhooks WHERE id = ${id}`
    return this.open(r)
  }

  async listByMemory(memory: string): Promise<WebhookRow[]> {
    return this.openAll(await this.sql<StoredWebhook[]>`SELECT * FROM webhooks WHERE memory = ${memory} ORDER BY created_at, id`)
  }

  async activeByMemory(memory: string): Promise<WebhookRow[]> {
    return this.openAll(await this.sql<StoredWebhook[]>`SELECT * FROM webhooks WHERE memory = ${memory} AND is_active = 1 ORDER BY created_at, id`)
  }

  async allActive(): Promise<WebhookRow[]> {
    return this.openAll(await this.sql<StoredWebhook[]>`SELECT * FROM webhooks WHERE is_active = 1 ORDER BY created_at, id`)
  }

  async countByMemory(memory: string): Promise<number> {
    const [r] = await this.sql<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM webhooks WHERE memory = ${memory}`
    return r!.n
  }

  async update(id: string, current: WebhookRow, p: WebhookPatch, now: string): Promise<WebhookRow | null> {
    const [r] = await this.sql<StoredWebhook[]>`
      UPDATE webhooks SET url = ${p.url ?? current.url}, events = ${p.events ? JSON.stringify(p.events) : current.events},
        description = ${p.description === undefined ? current.description : p.description}, max_retries = ${p.max_retries ?? current.max_retries},
        updated_at = ${now}
      WHERE id = ${id} RETURNING *`
    return this.open(r)
  }

  async enable(id: string, now: string): Promise<WebhookRow | null> {
    const [r] = await this.sql<StoredWebhook[]>`
      UPDATE webhooks SET is_active = 1, disabled_reason = NULL, consecutive_failures = 0, updated_at = ${now} WHERE id = ${id} RETURNING *`
    return this.open(r)
  }

  async disable(id: string, reason: string, now: string): Promise<WebhookRow | null> {
    return this.disableWith(this.sql, id, reason, now)
  }

  private async disableWith(sql: SQL, id: string, reason: string, now: string): Promise<WebhookRow | null> {
    const [r] = await sql<StoredWebhook[]>`
      UPDATE webhooks SET is_active = 0, disabled_reason = ${reason}, updated_at = ${now} WHERE id = ${id} AND is_active = 1 RETURNING *`
    return this.open(r)
  }

  async rotate(id: string, secret: string, nowMs: number): Promise<WebhookRow | null> {
    // previous_secret takes the sealed value as it is: the same row id authenticates it.
    const [r] = await this.sql<StoredWebhook[]>`
      UPDATE webhooks SET previous_secret = secret, previous_secret_expires_ms = ${nowMs + ROTATION_OVERLAP_MS}, secret = ${this.box.seal(secret, id)},
        updated_at = ${iso(nowMs)}
      WHERE id = ${id} RETURNING *`
    return this.open(r)
  }

  async delete(id: string): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      await tx`DELETE FROM webhook_attempts WHERE webhook_id = ${id}`
      return (await tx`DELETE FROM webhooks WHERE id = ${id}`).count > 0
    })
  }

  async sealAll(): Promise<{ rows: number; plaintext: number }> {
    // One transaction, rows locked: a secret rotated meanwhile by another instance is not overwritten. A
    // SecretKeyError thrown by open() rolls everything back.
    return this.sql.begin(async (tx) => {
      let rows = 0
      let plaintext = 0
      for (const r of await tx<Pick<WebhookRow, 'id' | 'secret' | 'previous_secret'>[]>`SELECT id, secret, previous_secret FROM webhooks ORDER BY id FOR UPDATE`) {
        const values = r.previous_secret === null ? [r.secret] : [r.secret, r.previous_secret]
        if (!values.some((v) => this.box.needsReseal(v))) continue
        if (values.some((v) => !isSealed(v))) plaintext++
        const secret = this.box.seal(this.box.open(r.secret, r.id), r.id)
        const previous = r.previous_secret === null ? null : this.box.seal(this.box.open(r.previous_secret, r.id), r.id)
        await tx`UPDATE webhooks SET secret = ${secret}, previous_secret = ${previous} WHERE id = ${r.id}`
        rows++
      }
      return { rows, plaintext }
    })
  }

  /**
   * VACUUM FULL rewrites the table, so replaced secrets do not linger in dead tuples; CHECKPOINT lets the server
   * recycle the WAL that still holds them. CHECKPOINT needs superuser or pg_checkpoint: without it the WAL is
   * recycled by the server's own checkpoints. (WAL archives and replicas are outside what a store can scrub.)
   */
  async compact(): Promise<void> {
    await this.sql`VACUUM FULL webhooks`
    try {
      await this.sql`CHECKPOINT`
    } catch (err) {
      this.logger?.warn('CHECKPOINT not permitted: old WAL segments are recycled by the server', { err })
    }
  }

  // ---- outbox ----

  async insertDeliveries(list: readonly NewDelivery[], nowMs: number): Promise<void> {
    if (list.length === 0) return
    // One multi-row INSERT is one statement, hence atomic without a BEGIN.
    const rows = list.map((d) => ({
      id: d.id,
      webhook_id: d.webhook_id,
      memory: d.memory,
      event_id: d.event_id,
      event_type: d.event_type,
      legacy_type: d.legacy_type,
      body: d.body,
      traceparent: d.traceparent,
      status: 'pending',
      next_attempt_ms: nowMs,
      created_ms: nowMs,
      updated_ms: nowMs,
    }))
    await this.sql`INSERT INTO webhook_deliveries ${this.sql(rows)}`
  }

  async insertDelivery(d: NewDelivery, nowMs: number): Promise<DeliveryRow> {
    const [r] = await this.sql.unsafe<StoredDelivery[]>(
      `INSERT INTO webhook_deliveries (id, webhook_id, memory, event_id, event_type, legacy_type, body, traceparent, status, next_attempt_ms, created_ms, updated_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9, $9) RETURNING ${DELIVERY_COLUMNS}`,
      [d.id, d.webhook_id, d.memory, d.event_id, d.event_type, d.legacy_type, d.body, d.traceparent, nowMs],
    )
    return toDeliveryRow(r!)
  }

  async delivery(id: string): Promise<DeliveryRow | null> {
    const [r] = await this.sql.unsafe<StoredDelivery[]>(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1`, [id])
    return r ? toDeliveryRow(r) : null
  }

  async dueWebhooks(nowMs: number): Promise<string[]> {
    const rows = await this.sql<{ webhook_id: string }[]>`
      SELECT DISTINCT webhook_id FROM webhook_deliveries WHERE status IN ('pending', 'retrying') AND next_attempt_ms <= ${nowMs} ORDER BY webhook_id`
    return rows.map((r) => r.webhook_id)
  }

  async dueOf(webhookId: string, nowMs: number, limit: number): Promise<DeliveryRow[]> {
    const rows = await this.sql.unsafe<StoredDelivery[]>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND status IN ('pending', 'retrying') AND next_attempt_ms <= $2
       ORDER BY seq LIMIT $3`,
      [webhookId, nowMs, limit],
    )
    return rows.map(toDeliveryRow)
  }

  /**
   * The per-endpoint limit holds cluster-wide because the count and the claim happen under the webhook row's
   * lock: two instances claiming for one webhook queue on it, and the second counts the first's claim.
   * `FOR NO KEY UPDATE`, not `FOR UPDATE`: inserting deliveries takes a key-share lock on the webhook (the foreign
   * key), which this does not block — the bus hot path never waits on a claim.
   */
  async claim(id: string, nowMs: number, lease: DeliveryLease): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      const [w] = await tx<{ id: string }[]>`
        SELECT w.id FROM webhooks w JOIN webhook_deliveries d ON d.webhook_id = w.id WHERE d.id = ${id} FOR NO KEY UPDATE OF w`
      if (!w) return false
      const [busy] = await tx<{ n: number }[]>`
        SELECT COUNT(*)::int AS n FROM webhook_deliveries
        WHERE webhook_id = ${w.id} AND status = 'in_flight' AND lease_until_ms >= ${nowMs}`
      if (busy!.n >= lease.perEndpoint) return false
      const r = await tx`
        UPDATE webhook_deliveries SET status = 'in_flight', owner = ${lease.owner}, lease_until_ms = ${lease.untilMs}, updated_ms = ${nowMs}
        WHERE id = ${id} AND status IN ('pending', 'retrying')`
      return r.count === 1
    })
  }

  async nextDue(): Promise<number | null> {
    const [r] = await this.sql<{ t: string | null }[]>`
      SELECT MIN(d.next_attempt_ms) AS t FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.status IN ('pending', 'retrying') AND w.is_active = 1`
    return numOrNull(r?.t ?? null)
  }

  async queueDepth(): Promise<number> {
    const [r] = await this.sql<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM webhook_deliveries WHERE status IN ('pending', 'retrying')`
    return r!.n
  }

  async recoverExpired(nowMs: number): Promise<number> {
    // A row in flight without a lease can only predate leases (nobody renews it): it counts as expired.
    return (
      await this.sql.unsafe(
        `UPDATE webhook_deliveries SET status = ${WAITING_AGAIN}, next_attempt_ms = $1, updated_ms = $1, owner = NULL, lease_until_ms = NULL
         WHERE status = 'in_flight' AND COALESCE(lease_until_ms, 0) < $1`,
        [nowMs],
      )
    ).count
  }

  async release(id: string, owner: string, nextAttemptMs: number): Promise<void> {
    await this.sql.unsafe(
      `UPDATE webhook_deliveries SET status = ${WAITING_AGAIN}, next_attempt_ms = $1, updated_ms = $2, owner = NULL, lease_until_ms = NULL
       WHERE id = $3 AND status = 'in_flight' AND owner = $4`,
      [nextAttemptMs, Date.now(), id, owner],
    )
  }

  async requeue(id: string, nowMs: number): Promise<DeliveryRow | null> {
    const [r] = await this.sql.unsafe<StoredDelivery[]>(
      `UPDATE webhook_deliveries SET status = ${WAITING_AGAIN}, run_attempts = 0, next_attempt_ms = $1, updated_ms = $1, finished_ms = NULL
       WHERE id = $2 AND status <> 'in_flight' RETURNING ${DELIVERY_COLUMNS}`,
      [nowMs, id],
    )
    return r ? toDeliveryRow(r) : null
  }

  async requeueFailed(webhookId: string, sinceMs: number, untilMs: number, nowMs: number): Promise<string[]> {
    const rows = await this.sql.unsafe<{ id: string }[]>(
      `UPDATE webhook_deliveries SET status = ${WAITING_AGAIN}, run_attempts = 0, next_attempt_ms = $1, updated_ms = $1, finished_ms = NULL
       WHERE webhook_id = $2 AND status = 'failed' AND created_ms >= $3 AND created_ms < $4 RETURNING id`,
      [nowMs, webhookId, sinceMs, untilMs],
    )
    return rows.map((r) => r.id)
  }

  async recordAttempt(r: AttemptRecord): Promise<AttemptEffect | null> {
    return this.sql.begin(async (tx): Promise<AttemptEffect | null> => {
      const status: DeliveryStatus = r.outcome === 'success' ? 'succeeded' : r.outcome === 'retry' ? 'retrying' : 'failed'
      const finished = r.outcome === 'retry' ? null : r.nowMs
      const settled = await tx`
        UPDATE webhook_deliveries SET status = ${status}, attempts = attempts + 1, run_attempts = run_attempts + 1,
          next_attempt_ms = COALESCE(${r.nextAttemptMs}::bigint, next_attempt_ms), last_status_code = ${r.statusCode}, last_error = ${r.error},
          updated_ms = ${r.nowMs}, finished_ms = ${finished}::bigint, owner = NULL, lease_until_ms = NULL
        WHERE id = ${r.deliveryId} AND status = 'in_flight' AND owner = ${r.owner}`
      // Deleted (with its webhook) while the attempt ran, or its lease expired and another owner holds it now.
      if (settled.count !== 1) return null
      await tx`
        INSERT INTO webhook_attempts (id, delivery_id, webhook_id, event_id, event_type, attempt, status_code, error, duration_ms, response_excerpt, success, created_at)
        SELECT ${r.attemptId}, id, webhook_id, event_id, event_type, ${r.attempt}, ${r.statusCode}, ${r.error}, ${r.durationMs}, ${r.responseExcerpt},
               ${r.outcome === 'success' ? 1 : 0}, ${iso(r.nowMs)}
        FROM webhook_deliveries WHERE id = ${r.deliveryId}`
      if (r.outcome === 'success') {
        await tx`UPDATE webhooks SET consecutive_failures = 0 WHERE id = ${r.webhookId} AND consecutive_failures <> 0`
        return { consecutiveFailures: 0, disabledReason: null }
      }
      if (!countsAsFailure(r)) {
        const [w] = await tx<{ n: number }[]>`SELECT consecutive_failures AS n FROM webhooks WHERE id = ${r.webhookId}`
        return { consecutiveFailures: w?.n ?? 0, disabledReason: null }
      }
      const [row] = await tx<{ consecutive_failures: number; is_active: number }[]>`
        UPDATE webhooks SET consecutive_failures = consecutive_failures + 1 WHERE id = ${r.webhookId} RETURNING consecutive_failures, is_active`
      const n = row?.consecutive_failures ?? 0
      let reason = row?.is_active === 1 ? disableReason(r, n) : null
      if (reason && !(await this.disableWith(tx, r.webhookId, reason, iso(r.nowMs)))) reason = null
      return { consecutiveFailures: n, disabledReason: reason }
    })
  }

  async attempts(webhookId: string, limit: number): Promise<DeliveryAttempt[]> {
    const rows = await this.sql<(Omit<AttemptRow, 'duration_ms'> & { duration_ms: Int8 })[]>`
      SELECT id, delivery_id, event_id, event_type, attempt, status_code, error, duration_ms, response_excerpt, success, created_at
      FROM webhook_attempts WHERE webhook_id = ${webhookId} ORDER BY seq DESC LIMIT ${limit}`
    return rows.map((r) => toAttempt({ ...r, duration_ms: num(r.duration_ms) }))
  }

  async health(memory: string, sinceIso: string): Promise<WebhookHealthRow[]> {
    return [
      ...(await this.sql<WebhookHealthRow[]>`
        SELECT w.id,
          (SELECT COUNT(*)::int FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.created_at >= ${sinceIso}) AS attempts,
          (SELECT COUNT(*)::int FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.created_at >= ${sinceIso} AND a.success = 1) AS successes,
          f.error AS last_error, f.status_code AS last_status, f.created_at AS last_error_at,
          (SELECT a.created_at FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.success = 1 ORDER BY a.seq DESC LIMIT 1) AS last_success_at,
          (SELECT COUNT(*)::int FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status IN ('pending', 'retrying')) AS waiting,
          (SELECT COUNT(*)::int FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'failed') AS failed
        FROM webhooks w
        LEFT JOIN LATERAL (
          SELECT a.error, a.status_code, a.created_at FROM webhook_attempts a WHERE a.webhook_id = w.id AND a.success = 0 ORDER BY a.seq DESC LIMIT 1
        ) f ON true
        WHERE w.memory = ${memory} ORDER BY w.created_at, w.id`),
    ]
  }

  async prune(beforeMs: number): Promise<number> {
    // Attempts go with their deliveries (ON DELETE CASCADE).
    return (await this.sql`DELETE FROM webhook_deliveries WHERE finished_ms IS NOT NULL AND finished_ms < ${beforeMs}`).count
  }
}
