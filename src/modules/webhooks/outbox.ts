import { ofetch } from 'ofetch'
import type { Config } from '../../config.ts'
import type { EventBus, PublishedEvent } from '../../events/bus.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { Metrics } from '../../telemetry/metrics.ts'
import type { Tracing } from '../../telemetry/tracing.ts'
import { parseRetryAfter } from './backoff.ts'
import { PollLoop, systemClock, type Clock } from '../../util/poll-loop.ts'
import { safeErrorText } from '../../util/safe-error.ts'
import { endpointCap, planLaunches } from './fairness.ts'
import { compileEventFilter } from './filter.ts'
import { buildDeliveryHeaders } from './headers.ts'
import { decide, type AttemptResult } from './outcome.ts'
import { checkTarget, pinnedRequest, systemLookup, type Lookup } from './ssrf.ts'
import { signingSecrets, type DeliveryRow, type NewDelivery, type WebhookRow, type WebhookStore } from './store.ts'

/** At most this many bytes of a response body are kept in the attempt log. */
export const RESPONSE_EXCERPT_BYTES = 4096
/** Finished deliveries (and their attempt log) are kept this long. */
export const DELIVERY_RETENTION_MS = 7 * 24 * 3600_000
const PRUNE_EVERY_MS = 3600_000
/** Bound on remembered event start times (latency metric only; never affects delivery). */
const MAX_TRACKED_T0 = 10_000
/** Bound on per-webhook scheduling memory (slow marks, last start); forgetting only costs some fairness. */
const MAX_TRACKED_WEBHOOKS = 10_000

export interface OutboxDeps {
  config: Config
  store: WebhookStore
  bus: EventBus
  metrics: Metrics
  logger: Logger
  /** `webhook.deliver` spans (a shared no-op when tracing is off). */
  tracing: Pick<Tracing, 'deliverySpan'>
  /** Resolver for the delivery-time SSRF check; its answer is what the attempt connects to (injectable for tests). */
  lookup?: Lookup
  /** Extra trusted CA certificates (PEM) for https targets: tests with a self-signed receiver only. */
  tlsCa?: string
  random?: () => number
  /** Time (tests of retries and polling inject one). */
  clock?: Clock
  /** Called once when an attempt disabled its webhook (announced as webhook.disabled by the service). */
  onDisabled?: (d: DisabledWebhook) => void
}

export interface DisabledWebhook {
  webhook: WebhookRow
  reason: string
  cause: 'consecutive_failures' | 'gone'
  consecutiveFailures: number
}

interface IndexedWebhook {
  id: string
  types: ReadonlySet<string>
}

/**
 * The durable webhook outbox (docs/webhooks.md). The bus subscriber writes one delivery row per matching
 * active webhook synchronously, before any attempt, so nothing is lost to overload or a crash. A
 * timer-driven loop claims due rows — each webhook's in emission order, fairly across webhooks and
 * memories under global, per-memory and per-webhook limits (fairness.ts) — posts them, and moves each
 * row forward: pending → in_flight → succeeded | retrying | failed.
 */
export class Outbox {
  /** Active webhooks by memory: the hot path does no query when nothing matches. */
  private index = new Map<string, IndexedWebhook[]>()
  private announce: (memory: string) => void = () => {}
  private indexing: Promise<void> = Promise.resolve()
  /** Active webhook id → its memory (the claim loop skips inactive webhooks, whose rows are paused). */
  private activeMemory = new Map<string, string>()
  private inFlight = new Map<string, Promise<void>>()
  private perWebhook = new Map<string, number>()
  private perMemory = new Map<string, number>()
  /** Webhooks whose latest attempt timed out: one attempt at a time until one gets an answer. */
  private slow = new Set<string>()
  private lastServed = new Map<string, number>()
  private clock = 1
  private t0s = new Map<string, number>()
  private wakeQueued = false
  private stopped = true
  private loop: PollLoop
  private time: Clock
  private stopController = new AbortController()
  private subscribed = false
  private lastPrune = 0
  private lastRecover = 0
  /** The delivery-row inserts in flight, chained (see `enqueue`). */
  private inserts: Promise<void> = Promise.resolve()
  private lookup: Lookup
  private random: () => number

  constructor(private d: OutboxDeps) {
    this.lookup = d.lookup ?? systemLookup
    this.random = d.random ?? Math.random
    this.time = d.clock ?? systemClock
    this.loop = new PollLoop({
      pump: () => this.pump(),
      nextDue: () => this.d.store.nextDue(),
      pollMs: d.config.webhooks.pollMs,
      clock: this.time,
      onError: (err) => this.d.logger.error('webhook outbox pump failed', { err }),
    })
  }

  async start(): Promise<void> {
    if (!this.stopped) return
    this.stopped = false
    this.stopController = new AbortController()
    await this.recover()
    await this.reloadIndex()
    if (!this.subscribed) this.d.bus.onCommitted('webhooks', this.enqueue)
    this.subscribed = true
    this.loop.start()
  }

  /** Deliveries whose lease expired (their instance stopped or crashed mid-attempt) are due again. */
  private async recover(): Promise<void> {
    const now = this.time.now()
    this.lastRecover = now
    const recovered = await this.d.store.recoverExpired(now)
    if (recovered) this.d.logger.warn('webhook deliveries whose lease expired are due again', { count: recovered })
  }

  private leaseUntil(now: number): number {
    return now + this.d.config.webhooks.timeoutMs + this.d.config.webhooks.leaseMarginMs
  }

  /**
   * Stops claiming; attempts still running after `graceMs` are aborted and their rows stay in_flight,
   * to be retried by the next start (at-least-once). The bus subscription stays: events published while
   * the app shuts down still get their delivery rows, attempted after the restart.
   */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.loop.stop()
    await this.loop.idle()
    const all = Promise.allSettled([...this.inFlight.values()])
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))])
    clearTimeout(timer)
    this.stopController.abort(new Error('shutting down'))
    await all
  }

  // ---- index ----

  private async reloadIndex(): Promise<void> {
    const rows = await this.d.store.allActive()
    this.index.clear()
    this.activeMemory.clear()
    for (const w of rows) this.addToIndex(w)
  }

  private addToIndex(w: WebhookRow): void {
    const { types } = compileEventFilter(JSON.parse(w.events) as string[])
    const list = this.index.get(w.memory) ?? []
    list.push({ id: w.id, types })
    this.index.set(w.memory, list)
    this.activeMemory.set(w.id, w.memory)
  }

  /** How a change of a memory's webhooks reaches the other instances' indexes (the broker's signal). */
  announceWith(fn: (memory: string) => void): void {
    this.announce = fn
  }

  /** Rebuilds the index entry of one memory (after create, update, enable, disable or delete) here and on every instance. */
  async refresh(memory: string): Promise<void> {
    await this.heard(memory)
    this.announce(memory)
  }

  /** A change another instance made (its memory), or null: some may have been missed, reload the whole index. */
  heard(memory: string | null): Promise<void> {
    // One rebuild at a time: an older read finishing last must not put back what a newer one removed.
    const next = this.indexing.then(() => (memory === null ? this.reloadIndex() : this.rebuild(memory)))
    this.indexing = next.catch(() => {})
    return next
  }

  private async rebuild(memory: string): Promise<void> {
    const rows = await this.d.store.activeByMemory(memory)
    for (const h of this.index.get(memory) ?? []) this.activeMemory.delete(h.id)
    this.index.delete(memory)
    for (const w of rows) this.addToIndex(w)
  }

  // ---- enqueue (bus hot path) ----

  private enqueue = (e: PublishedEvent): Promise<void> | undefined => {
    const hooks = this.index.get(e.memory)
    if (!hooks) return
    let rows: NewDelivery[] | undefined
    for (const h of hooks) {
      if (!h.types.has(e.eventType)) continue
      ;(rows ??= []).push({
        id: Bun.randomUUIDv7(),
        webhook_id: h.id,
        memory: e.memory,
        event_id: e.envelope.event_id,
        event_type: e.eventType,
        legacy_type: e.legacyType,
        body: e.json,
        traceparent: e.traceparent ?? null,
      })
    }
    if (!rows) return
    for (const r of rows) {
      // Bounded: entries of deliveries never attempted (paused, deleted) age out oldest first.
      if (this.t0s.size >= MAX_TRACKED_T0) this.t0s.delete(this.t0s.keys().next().value!)
      this.t0s.set(r.id, e.t0)
    }
    // Durable work: the request that caused the event answers once its delivery rows are written. A failing
    // insert is logged and counted by the bus; the request is never failed. Inserts run one after another, in
    // event order: a webhook's deliveries are attempted in the order of their rows, and a store a network away
    // would otherwise let two concurrent inserts swap.
    const inserted = this.inserts.then(() => this.d.store.insertDeliveries(rows!, Date.now()))
    this.inserts = inserted.catch(() => {})
    return inserted.then(this.wake)
  }

  /** Inserts one delivery outside the bus (the test endpoint) and attempts it right away. */
  async enqueueDirect(d: NewDelivery): Promise<DeliveryRow> {
    const row = await this.d.store.insertDelivery(d, Date.now())
    this.wake()
    return row
  }

  // ---- delivery loop ----

  /** Schedules a pump on the next turn (coalesced), so enqueueing never does network work inline. */
  wake = (): void => {
    if (this.stopped || this.wakeQueued) return
    this.wakeQueued = true
    setImmediate(() => {
      this.wakeQueued = false
      this.loop.wake()
    })
  }

  /** Starts attempts for as many due deliveries as the fairness plan allows (the poll loop sleeps after it). */
  private async pump(): Promise<void> {
    const { concurrency, perEndpointConcurrency, perMemoryConcurrency } = this.d.config.webhooks
    const limits = { global: concurrency, endpoint: perEndpointConcurrency, memory: perMemoryConcurrency }
    await this.maybePrune()
    if (this.time.now() - this.lastRecover >= this.d.config.webhooks.leaseMarginMs) await this.recover()
    while (!this.stopped && this.inFlight.size < concurrency) {
      const now = this.time.now()
      const busyMemories = new Set([...this.perMemory].filter(([, n]) => n >= perMemoryConcurrency).map(([m]) => m))
      // Candidates: the oldest due rows of every active webhook with a free slot, up to what it may start.
      const rows: DeliveryRow[] = []
      for (const id of await this.d.store.dueWebhooks(now)) {
        const memory = this.activeMemory.get(id)
        if (memory === undefined || busyMemories.has(memory)) continue // disabled (paused) or its memory is full
        const room = endpointCap(id, this.slow, perEndpointConcurrency) - (this.perWebhook.get(id) ?? 0)
        if (room > 0) rows.push(...(await this.d.store.dueOf(id, now, room)))
      }
      const plan = planLaunches(rows, {
        total: this.inFlight.size,
        perWebhook: this.perWebhook,
        perMemory: this.perMemory,
        slow: this.slow,
        lastServed: this.lastServed,
        clock: this.clock,
      }, limits)
      let started = 0
      for (const row of plan) {
        // The store counts every instance's attempts against the endpoint's limit (this one's are in perWebhook).
        const lease = { owner: this.d.config.nodeId, untilMs: this.leaseUntil(now), perEndpoint: endpointCap(row.webhook_id, this.slow, perEndpointConcurrency) }
        if (this.stopped || !(await this.d.store.claim(row.id, now, lease))) continue
        this.launch(row)
        started++
      }
      if (!started) break
    }
  }

  private launch(row: DeliveryRow): void {
    this.perWebhook.set(row.webhook_id, (this.perWebhook.get(row.webhook_id) ?? 0) + 1)
    this.perMemory.set(row.memory, (this.perMemory.get(row.memory) ?? 0) + 1)
    if (this.lastServed.size >= MAX_TRACKED_WEBHOOKS) this.lastServed.clear()
    this.lastServed.delete(row.webhook_id) // re-insert: the map stays in serve order
    this.lastServed.set(row.webhook_id, this.clock++)
    const p = this.attempt(row)
      .catch((err) => {
        this.d.logger.error('webhook attempt failed unexpectedly', { delivery_id: row.id, webhook_id: row.webhook_id, err })
        // Never leave the row stuck in flight: back to the queue after a poll interval.
        if (!this.stopController.signal.aborted)
          return this.d.store.release(row.id, this.d.config.nodeId, Date.now() + this.d.config.webhooks.pollMs).catch(() => {
            // the store itself is failing; the lease expires and the row is recovered
          })
      })
      .finally(() => {
        this.inFlight.delete(row.id)
        decrement(this.perWebhook, row.webhook_id)
        decrement(this.perMemory, row.memory)
        this.wake()
      })
    this.inFlight.set(row.id, p)
  }

  private async maybePrune(): Promise<void> {
    const now = this.time.now()
    if (now - this.lastPrune < PRUNE_EVERY_MS) return
    this.lastPrune = now
    const n = await this.d.store.prune(now - DELIVERY_RETENTION_MS)
    if (n) this.d.logger.info('pruned finished webhook deliveries', { count: n })
  }

  private async attempt(row: DeliveryRow): Promise<void> {
    const t0 = this.t0s.get(row.id)
    this.t0s.delete(row.id)
    const webhook = await this.d.store.get(row.webhook_id)
    if (!webhook) return // deleted while queued: its rows went with it
    const started = performance.now()
    const span = this.d.tracing.deliverySpan(row.traceparent, {
      delivery_id: row.id,
      webhook_id: webhook.id,
      event_id: row.event_id,
      event_type: row.event_type,
      url: webhook.url,
      attempt: row.attempts + 1,
    })
    // The receiver continues the attempt's span; without tracing, the publishing request's trace.
    const result = await this.send(webhook, row, span.traceparent ?? row.traceparent)
    // A timeout marks the endpoint slow (one slot) until it answers again; see fairness.ts.
    if (result.timedOut) {
      if (this.slow.size >= MAX_TRACKED_WEBHOOKS) this.slow.clear()
      this.slow.add(webhook.id)
    } else if (result.statusCode !== undefined) this.slow.delete(webhook.id)
    if (this.stopController.signal.aborted) {
      span.end({ error: 'server shutdown', success: false })
      return // shutdown: the row stays in_flight and is retried after restart
    }
    const durationMs = Math.round(performance.now() - started)
    const attemptInRun = row.run_attempts + 1
    const decision = decide(result, attemptInRun, webhook.max_retries, this.d.config.webhooks.retryScheduleMs, this.random)
    const now = Date.now()
    const effect = await this.d.store.recordAttempt({
      deliveryId: row.id,
      owner: this.d.config.nodeId, // the claim's owner (the lease guard)
      webhookId: webhook.id,
      attemptId: Bun.randomUUIDv7(),
      attempt: row.attempts + 1,
      outcome: decision.kind,
      nextAttemptMs: decision.kind === 'retry' ? now + decision.delayMs : null,
      statusCode: result.statusCode ?? null,
      error: decision.kind === 'success' ? null : decision.error,
      durationMs,
      responseExcerpt: result.excerpt,
      nowMs: now,
      disable: decision.kind === 'failed' ? decision.disable : undefined,
      disableAfter: this.d.config.webhooks.disableAfterFailures,
      timedOut: result.timedOut === true,
    })
    if (!effect) return
    this.d.metrics.webhookDelivery(decision.kind)
    span.end({ status_code: result.statusCode, error: decision.kind === 'success' ? undefined : decision.error, success: decision.kind === 'success' })
    const fields = {
      delivery_id: row.id,
      webhook_id: webhook.id,
      event_id: row.event_id,
      event_type: row.event_type,
      attempt: row.attempts + 1,
      status_code: result.statusCode,
      duration_ms: durationMs,
    }
    if (decision.kind === 'success') {
      // Latency only for a first attempt whose event this process published (not after a restart).
      if (t0 !== undefined && row.attempts === 0) this.d.metrics.eventLatency('webhook', performance.now() - t0)
      this.d.logger.info('webhook delivered', fields)
    } else if (decision.kind === 'retry') {
      this.d.logger.warn('webhook delivery will be retried', { ...fields, error: decision.error, retry_in_ms: decision.delayMs })
    } else {
      this.d.logger.warn('webhook delivery failed', { ...fields, error: decision.error, consecutive_failures: effect.consecutiveFailures })
    }
    if (effect.disabledReason) {
      this.d.logger.warn('webhook disabled', { webhook_id: webhook.id, memory: webhook.memory, reason: effect.disabledReason })
      await this.refresh(webhook.memory)
      // After the refresh: the disabled webhook is no longer indexed, so it never gets its own event.
      const cause = decision.kind === 'failed' && decision.disable ? 'gone' : 'consecutive_failures'
      this.d.onDisabled?.({ webhook, reason: effect.disabledReason, cause, consecutiveFailures: effect.consecutiveFailures })
    }
  }

  /**
   * One HTTP attempt: resolve the target once and check every address (SSRF guard), then POST the exact
   * signed body to a checked address — never to whatever a second resolution would say — without
   * following redirects. Addresses are tried in resolver order while the connection itself fails.
   */
  private async send(webhook: WebhookRow, row: DeliveryRow, traceparent: string | null): Promise<AttemptResult & { excerpt: string }> {
    const { allowPrivate, timeoutMs } = this.d.config.webhooks
    // One deadline for the whole attempt: DNS check, connect, response headers and the excerpt read.
    const deadline = Date.now() + timeoutMs
    const url = new URL(webhook.url)
    const check = await checkTarget(url, this.lookup, timeoutMs, { allowPrivate })
    if (!check.ok) {
      return check.kind === 'refused'
        ? { refused: true, error: `refused by the SSRF guard: ${check.reason}`, excerpt: '' }
        : { error: check.reason, excerpt: '' }
    }
    const nowMs = Date.now()
    const headers = buildDeliveryHeaders({
      deliveryId: row.id,
      legacyType: row.legacy_type,
      body: row.body,
      secrets: signingSecrets(webhook, nowMs),
      timestampS: Math.floor(nowMs / 1000),
      traceparent,
    })
    // One signal bounds the rest of the attempt and aborts it on shutdown.
    // (ofetch's own `timeout` option is ignored when a signal is given.)
    const timeout = AbortSignal.timeout(Math.max(1, deadline - Date.now()))
    const signal = AbortSignal.any([timeout, this.stopController.signal])
    for (let i = 0; ; i++) {
      const pin = pinnedRequest(url, check.addresses[i]!)
      const tls = pin.serverName || this.d.tlsCa ? { ...(pin.serverName && { serverName: pin.serverName }), ...(this.d.tlsCa && { ca: this.d.tlsCa }) } : undefined
      try {
        const res = await ofetch.raw(pin.url, {
          method: 'POST',
          body: row.body,
          headers: pin.host ? { ...headers, host: pin.host } : headers,
          retry: 0,
          ignoreResponseError: true,
          redirect: 'manual',
          responseType: 'stream',
          signal,
          // Bun's fetch extension: SNI and certificate check against the name, not the address.
          ...(tls && { tls }),
        } as Parameters<typeof ofetch.raw>[1])
        const excerpt = await readExcerpt(res._data as ReadableStream<Uint8Array> | undefined)
        return {
          statusCode: res.status,
          retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
          location: res.headers.get('location'),
          excerpt,
        }
      } catch (err) {
        if (timeout.aborted) return { error: `timed out after ${timeoutMs} ms`, timedOut: true, excerpt: '' }
        // Nothing was sent when the connection failed: the next checked address may answer (dual stack).
        if (connectFailed(err) && i + 1 < check.addresses.length && !signal.aborted) continue
        return { error: networkError(err), excerpt: '' }
      }
    }
  }

  /** Number of attempts running now (tests, diagnostics). */
}

function decrement(m: Map<string, number>, key: string): void {
  const n = (m.get(key) ?? 1) - 1
  if (n > 0) m.set(key, n)
  else m.delete(key)
}

/** Reads at most RESPONSE_EXCERPT_BYTES of a body as text, then cancels the rest. */
export async function readExcerpt(body: ReadableStream<Uint8Array> | null | undefined, max = RESPONSE_EXCERPT_BYTES): Promise<string> {
  if (!body) return ''
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  let bytes = 0
  try {
    while (bytes < max) {
      const { value, done } = await reader.read()
      if (done) break
      const chunk = value.subarray(0, max - bytes)
      bytes += chunk.length
      // stream: true holds back a multi-byte character cut at the limit, keeping the excerpt ≤ max bytes.
      text += decoder.decode(chunk, { stream: true })
    }
  } catch {
    // The status is what matters; a body that breaks off mid-way keeps what arrived.
  } finally {
    reader.cancel().catch(() => {})
  }
  return text
}

/** Connection-level failures: the request never left, so another address of the same name may be tried. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ConnectionRefused'])

export function connectFailed(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } }
  const code = e?.cause?.code ?? e?.code
  return typeof code === 'string' && CONNECT_ERRORS.has(code)
}

/** A short, URL-free description of a fetch failure (the URL may carry a receiver's token). */
export function networkError(err: unknown): string {
  return `network error: ${safeErrorText(err, { max: 200, preferCode: true })}`
}
