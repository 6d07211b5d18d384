import { grantsMemory, selectMemory, type Principal } from '../../auth/principal.ts'
import type { Config } from '../../config.ts'
import { buildEnvelope } from '../../events/bus.ts'
import { queueStatusOf, type QueueCounts } from '../../events/queue-status.ts'
import { ApiError, conflict, forbidden, notFound, unprocessable } from '../../http/errors.ts'
import type { Logger } from '../../telemetry/log.ts'
import { compileEventFilter, normaliseEventNames } from './filter.ts'
import type { EventBus } from '../../events/bus.ts'
import type { Metrics } from '../../telemetry/metrics.ts'
import { RECOVER_LISTED_IDS, type CreateWebhook, type Delivery, type DeliveryAttempt, type PatchWebhook, type RecoverResult, type RecoverWebhook, type Webhook, type WebhookWithSecret } from './model.ts'
import type { DisabledWebhook, Outbox } from './outbox.ts'
import { SlidingWindowLimiter } from './ratelimit.ts'
import { generateSecret, secretProblem } from './signing.ts'
import { checkTarget, checkUrlSyntax, systemLookup, type Lookup } from './ssrf.ts'
import { toDelivery, toWebhook, toWebhookWithSecret, type WebhookRow, type WebhookStore } from './store.ts'

export const DEFAULT_MAX_RETRIES = 3

export interface WebhookServiceDeps {
  config: Config
  store: WebhookStore
  outbox: Outbox
  logger: Logger
  /** Queue counts of a memory (the test delivery is a real QueueStatus snapshot). */
  queueCounts: (memory: string) => Promise<QueueCounts>
  lookup?: Lookup
  now?: () => number
  /** webhook.disabled is published here (SSE and the memory's other webhooks). */
  bus: EventBus
  metrics: Metrics
}

/** Webhook management (docs/webhooks.md): validation, SSRF policy, limits, and the outbox index kept in step. */
export class WebhookService {
  private limiter: SlidingWindowLimiter
  private lookup: Lookup
  private now: () => number

  constructor(private d: WebhookServiceDeps) {
    this.now = d.now ?? Date.now
    this.limiter = new SlidingWindowLimiter(d.config.webhooks.createPerMinute, 60_000, this.now)
    this.lookup = d.lookup ?? systemLookup
  }

  async create(principal: Principal, requestMemory: string, body: CreateWebhook): Promise<WebhookWithSecret> {
    requireUnrestricted(principal)
    const limited = this.limiter.take(principal.sub)
    if (!limited.ok) {
      throw new ApiError(429, `too many webhooks created: at most ${this.d.config.webhooks.createPerMinute} per minute`, undefined, {
        'retry-after': String(limited.retryAfterS),
      })
    }
    const memory = body.memory === undefined ? requestMemory : selectMemory(principal, body.memory)
    const events = validEvents(body.events)
    if (body.secret !== undefined) {
      const problem = secretProblem(body.secret)
      if (problem) throw unprocessable(`invalid secret: ${problem}`, [{ path: '/secret', message: problem }])
    }
    const url = await this.validUrl(body.url)
    // The store counts and inserts in one step, so the cap holds under concurrency.
    const max = this.d.config.webhooks.maxPerMemory
    const row = await this.d.store.insert({
      id: Bun.randomUUIDv7(),
      memory,
      url,
      events,
      description: body.description ?? null,
      secret: body.secret ?? generateSecret(),
      max_retries: body.max_retries ?? DEFAULT_MAX_RETRIES,
      created_by: principal.sub,
      now: new Date(this.now()).toISOString(),
    }, max)
    if (!row) throw conflict(`memory '${memory}' already has the maximum of ${max} webhooks`)
    await this.d.outbox.refresh(memory)
    this.d.logger.info('webhook created', { webhook_id: row.id, memory, events, by: principal.sub })
    return toWebhookWithSecret(row)
  }

  async list(principal: Principal, memory: string): Promise<Webhook[]> {
    requireUnrestricted(principal)
    return (await this.d.store.listByMemory(memory)).map(toWebhook)
  }

  async get(principal: Principal, id: string): Promise<Webhook> {
    return toWebhook(await this.find(principal, id))
  }

  async update(principal: Principal, id: string, patch: PatchWebhook): Promise<Webhook> {
    await this.find(principal, id)
    const events = patch.events === undefined ? undefined : validEvents(patch.events)
    const url = patch.url === undefined ? undefined : await this.validUrl(patch.url)
    const current = await this.find(principal, id) // again: it may have changed or gone during the DNS check
    const nowIso = new Date(this.now()).toISOString()
    let row = await this.d.store.update(id, current, { url, events, description: patch.description, max_retries: patch.max_retries }, nowIso)
    if (!row) throw notFound(`no webhook ${id}`)
    if (patch.is_active === true && (!row.is_active || row.consecutive_failures)) row = (await this.d.store.enable(id, nowIso)) ?? row
    if (patch.is_active === false) row = (await this.d.store.disable(id, `disabled by ${principal.sub}`, nowIso)) ?? row
    await this.d.outbox.refresh(row.memory)
    if (patch.is_active === true) this.d.outbox.wake() // deliveries paused while disabled resume now
    this.d.logger.info('webhook updated', { webhook_id: id, memory: row.memory, fields: Object.keys(patch), by: principal.sub })
    return toWebhook(row)
  }

  async delete(principal: Principal, id: string): Promise<void> {
    const row = await this.find(principal, id)
    await this.d.store.delete(id)
    await this.d.outbox.refresh(row.memory)
    this.d.logger.info('webhook deleted', { webhook_id: id, memory: row.memory, by: principal.sub })
  }

  async attempts(principal: Principal, id: string, limit: number): Promise<DeliveryAttempt[]> {
    await this.find(principal, id)
    return this.d.store.attempts(id, limit)
  }

  /**
   * Queues a synthetic delivery through the same outbox: a `queue.status` event carrying the memory's
   * current counts (harmless to apply, valid against the catalog), sent whatever the webhook's filter.
   * It is not published on the bus, so no other transport sees it.
   */
  async test(principal: Principal, id: string): Promise<Delivery> {
    const row = await this.find(principal, id)
    requireActive(row)
    const envelope = buildEnvelope(
      { memory: row.memory, payload: queueStatusOf(await this.d.queueCounts(row.memory)), actor: { kind: 'user', id: principal.sub }, entityType: 'queue' },
      Bun.randomUUIDv7(),
      new Date(this.now()).toISOString(),
      this.d.config.tenantId,
    )
    const delivery = await this.d.outbox.enqueueDirect({
      id: Bun.randomUUIDv7(),
      webhook_id: row.id,
      memory: row.memory,
      event_id: envelope.event_id,
      event_type: envelope.event_type,
      legacy_type: envelope.payload.type,
      body: JSON.stringify(envelope),
      traceparent: null,
    })
    this.d.logger.info('webhook test delivery queued', { webhook_id: id, delivery_id: delivery.id, by: principal.sub })
    return toDelivery(delivery)
  }

  /** Re-queues a delivery, whatever its state except in flight, for an immediate attempt with a fresh retry budget. */
  async retry(principal: Principal, id: string, deliveryId: string): Promise<Delivery> {
    const row = await this.find(principal, id)
    const delivery = await this.d.store.delivery(deliveryId)
    if (!delivery || delivery.webhook_id !== row.id) throw notFound(`no delivery ${deliveryId} for webhook ${id}`)
    requireActive(row)
    if (delivery.status === 'in_flight') throw conflict(`delivery ${deliveryId} is being attempted right now`)
    const requeued = await this.d.store.requeue(deliveryId, this.now())
    if (!requeued) throw conflict(`delivery ${deliveryId} is being attempted right now`)
    this.d.outbox.wake()
    this.d.logger.info('webhook delivery re-queued', { webhook_id: id, delivery_id: deliveryId, by: principal.sub })
    return toDelivery(requeued)
  }

  /**
   * Recover: re-queues every failed delivery of the webhook whose event came in [since, until) for an
   * immediate attempt with a fresh retry budget (docs/webhooks.md#recover-every-failed-delivery-since-a-time). Succeeded, waiting and in-flight
   * deliveries are left alone, so running it twice re-delivers nothing twice.
   */
  async recover(principal: Principal, id: string, body: RecoverWebhook): Promise<RecoverResult> {
    const row = await this.find(principal, id)
    requireActive(row)
    const now = this.now()
    const since = parseTime(body.since, '/since')
    const until = body.until === undefined ? now + 1 : parseTime(body.until, '/until')
    if (until <= since) throw unprocessable('until must be after since', [{ path: '/until', message: 'must be after since' }])
    const ids = await this.d.store.requeueFailed(id, since, until, now)
    if (ids.length) this.d.outbox.wake()
    this.d.logger.info('webhook deliveries recovered', { webhook_id: id, recovered: ids.length, since: iso(since), by: principal.sub })
    return { webhook_id: id, since: iso(since), until: iso(until), recovered: ids.length, delivery_ids: ids.slice(0, RECOVER_LISTED_IDS) }
  }

  /**
   * The outbox disabled a webhook by itself: a `webhook.disabled` event of its memory (tags null: not note-scoped,
   * so tag-restricted streams never see it) and the matric_webhooks_disabled_total counter.
   */
  announceDisabled(d: DisabledWebhook): void {
    this.d.metrics.webhookDisabled(d.cause)
    this.d.bus.publish({
      memory: d.webhook.memory,
      payload: { type: 'WebhookDisabled', webhook_id: d.webhook.id, reason: d.reason.slice(0, 1000), cause: d.cause, consecutive_failures: d.consecutiveFailures },
      entityType: 'webhook',
      entityId: d.webhook.id,
      tags: null,
    })
  }

  async rotateSecret(principal: Principal, id: string): Promise<{ webhook_id: string; secret: string; previous_secret_expires_at: string }> {
    await this.find(principal, id)
    const row = await this.d.store.rotate(id, generateSecret(), this.now())
    if (!row) throw notFound(`no webhook ${id}`)
    this.d.logger.info('webhook secret rotated', { webhook_id: id, by: principal.sub })
    return { webhook_id: row.id, secret: row.secret, previous_secret_expires_at: new Date(row.previous_secret_expires_ms!).toISOString() }
  }

  /** A webhook of a memory the principal may manage; 404 otherwise (existence is not revealed). */
  private async find(principal: Principal, id: string): Promise<WebhookRow> {
    requireUnrestricted(principal)
    const row = await this.d.store.get(id)
    if (!row || !grantsMemory(principal, row.memory)) throw notFound(`no webhook ${id}`)
    return row
  }

  private async validUrl(raw: string): Promise<string> {
    const syntax = checkUrlSyntax(raw.trim())
    if (!syntax.ok) throw unprocessable(`invalid url: ${syntax.reason}`, [{ path: '/url', message: syntax.reason }])
    if (!this.d.config.webhooks.allowPrivate) {
      const target = await checkTarget(syntax.url, this.lookup, this.d.config.webhooks.timeoutMs)
      if (!target.ok) {
        const message = target.kind === 'refused' ? `${target.reason}; private targets are not allowed (MATRIC_WEBHOOK_ALLOW_PRIVATE)` : target.reason
        throw unprocessable(`url refused: ${message}`, [{ path: '/url', message }])
      }
    }
    return syntax.url.href
  }
}

const iso = (ms: number) => new Date(ms).toISOString()

function parseTime(raw: string, path: string): number {
  const ms = Date.parse(raw)
  if (!Number.isFinite(ms)) throw unprocessable(`${path.slice(1)} is not an RFC 3339 time`, [{ path, message: 'not an RFC 3339 time' }])
  return ms
}

function validEvents(names: readonly string[]): string[] {
  const { unknown } = compileEventFilter(names)
  if (unknown.length) {
    throw unprocessable(
      `unknown event name${unknown.length > 1 ? 's' : ''}: ${unknown.map((n) => JSON.stringify(n)).join(', ')}`,
      unknown.map((n) => ({ path: '/events', message: `unknown event name ${JSON.stringify(n)}` })),
    )
  }
  return normaliseEventNames(names)
}

/** Webhooks receive every event of their memory, so a tag-restricted token may not manage them. */
function requireUnrestricted(p: Principal): void {
  if (p.tags !== null) throw forbidden('webhooks receive every event of a memory: tag-restricted tokens cannot manage them')
}

function requireActive(row: WebhookRow): void {
  if (!row.is_active) throw conflict(`webhook ${row.id} is disabled (${row.disabled_reason ?? 'no reason'}); re-enable it with PATCH {"is_active": true} first`)
}
