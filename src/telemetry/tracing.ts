/**
 * OpenTelemetry traces (docs/operations.md): one span per HTTP request, per published event (`event.publish`) and per
 * webhook attempt (`webhook.deliver`), joined by W3C `traceparent` in and out.
 *
 * One tracer provider per app (tests build several apps per process), never the global one, exporting
 * over OTLP/HTTP (JSON) through a BatchSpanProcessor. Tracing is on only when an OTLP endpoint is
 * configured (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`); when it is off,
 * `enabled` is false, the bus does no span work at all, and `deliverySpan` returns a shared no-op.
 *
 * API for the webhook outbox — one call per delivery attempt:
 *
 * ```ts
 * const span = ctx.tracing.deliverySpan(row.traceparent, {
 *   delivery_id, webhook_id, event_id, event_type, url: webhook.url, attempt,   // attempt: 1, 2, …
 * })
 * // send the request with header `traceparent: span.traceparent` when it is defined
 * // (falling back to row.traceparent when tracing is off keeps the caller's trace continuing)
 * span.end({ status_code: res.status, success: true })              // or
 * span.end({ error: 'timeout after 10000 ms', success: false })     // network error / non-2xx
 * ```
 *
 * The span is a CLIENT span named `webhook.deliver`, a child of the event's `event.publish` span when the
 * parent traceparent is valid (else a new root), with attributes `matric.delivery_id`, `matric.webhook_id`,
 * `matric.event_id`, `matric.event_type`, `matric.attempt`, `http.request.method`, `server.address`,
 * `server.port`, `http.response.status_code` and, on failure, `error.type` with status ERROR. The webhook
 * URL itself is not recorded (paths and queries of webhook URLs often carry credentials). `end()` is
 * idempotent and never throws.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { TraceState } from '@opentelemetry/core'
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import type { TelemetryConfig, TracingOptions } from './otel-env.ts'
import { formatTraceparent, parseTraceparent } from './traceparent.ts'

export interface DeliveryAttrs {
  delivery_id: string
  webhook_id: string
  event_id?: string
  event_type?: string
  /** The target URL; only its host and port are recorded. */
  url: string
  /** 1 for the first attempt. */
  attempt: number
}

export interface DeliveryResult {
  status_code?: number
  /** Short reason for a failed attempt (network error, timeout, non-2xx). */
  error?: string
  /** Overrides the attempt number given at start (when only known at the end). */
  attempt?: number
  /** Defaults to `status_code` being 2xx and no `error`. */
  success?: boolean
}

export interface DeliverySpan {
  /** traceparent for the outgoing request's header; undefined when tracing is off. */
  readonly traceparent: string | undefined
  end(result: DeliveryResult): void
}

export interface PublishSpan {
  /** traceparent of this `event.publish` span (becomes `PublishedEvent.traceparent`). */
  readonly traceparent: string
  /** Marks the span failed (a log write or subscriber error; the publish itself continues). */
  fail(where: string): void
  end(): void
}

/** The server span of one HTTP request and the scope that makes it the parent of events it publishes. */
export interface RequestSpan {
  /** The request's trace id (for the access log). */
  readonly traceId: string
  /** Stops being the parent of new `event.publish` spans (the handler is done; later timers are not its children). */
  close(): void
  end(route: string | undefined, status: number): void
}

const NOOP_DELIVERY: DeliverySpan = Object.freeze({ traceparent: undefined, end: () => {} })

/** Methods kept as span names; anything else is `_OTHER` (bounded cardinality, per HTTP semantic conventions). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'])

interface Scope {
  context: Context
  open: boolean
}

/** `host`/`port` of a URL for span attributes; empty when unparsable. */
function serverOf(url: string): Attributes {
  try {
    const u = new URL(url)
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80
    return { 'server.address': u.hostname, 'server.port': port }
  } catch {
    return {}
  }
}

export type { TracingOptions } from './otel-env.ts'

/**
 * Per-app tracing. `enabled` is the one check hot paths make before any span work.
 */
export class Tracing {
  readonly enabled: boolean
  private provider: BasicTracerProvider | undefined
  private tracer: Tracer | undefined
  /** Created only when tracing is on: an idle process pays nothing for async-context tracking. */
  private scopes: AsyncLocalStorage<Scope> | undefined
  private shutdownTimeoutMs: number

  constructor(cfg: TelemetryConfig, opts: TracingOptions) {
    const endpoint = cfg.traces.endpoint
    this.shutdownTimeoutMs = Math.min(cfg.traces.timeoutMs, 5000)
    this.enabled = endpoint !== undefined || opts.exporter !== undefined
    if (!this.enabled) return
    // The trace SDK and the OTLP exporter are loaded only when tracing is on.
    const { createTracerProvider } = require('./tracing-sdk.ts') as typeof import('./tracing-sdk.ts')
    this.provider = createTracerProvider(cfg, opts)
    this.tracer = this.provider.getTracer('matric-realtime', opts.serviceVersion)
    this.scopes = new AsyncLocalStorage<Scope>()
  }

  /**
   * Starts the SERVER span of a request (child of a valid incoming `traceparent`) and makes it the parent
   * of every `event.publish` span published from this async context until `close()`. Undefined when off.
   */
  startRequest(method: string, traceparent: string | null, tracestate: string | null): RequestSpan | undefined {
    const tracer = this.tracer
    const scopes = this.scopes
    if (!tracer || !scopes) return undefined
    const m = KNOWN_METHODS.has(method) ? method : '_OTHER'
    const remote = parseTraceparent(traceparent)
    const parent = remote
      ? trace.setSpanContext(ROOT_CONTEXT, { ...remote, isRemote: true, traceState: tracestate ? new TraceState(tracestate) : undefined })
      : ROOT_CONTEXT
    const span = tracer.startSpan(m, { kind: SpanKind.SERVER, attributes: { 'http.request.method': m } }, parent)
    const scope: Scope = { context: trace.setSpan(ROOT_CONTEXT, span), open: true }
    // The bus publishes synchronously inside the handler, so the request's async context carries the scope.
    scopes.enterWith(scope)
    let ended = false
    return {
      traceId: span.spanContext().traceId,
      close: () => {
        scope.open = false
      },
      end: (route, status) => {
        scope.open = false
        if (ended) return
        ended = true
        if (route) {
          span.updateName(`${m} ${route}`)
          span.setAttribute('http.route', route)
        }
        span.setAttribute('http.response.status_code', status)
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
        span.end()
      },
    }
  }

  /** The parent for a new span: the open request span of this async context, else none (a root span). */
  private parent(): Context {
    const s = this.scopes?.getStore()
    return s && s.open ? s.context : ROOT_CONTEXT
  }

  /** `event.publish` for one event. Call only when `enabled` (the bus checks first). */
  startPublish(eventId: string, eventType: string, memory: string): PublishSpan {
    const span = this.tracer!.startSpan(
      'event.publish',
      { kind: SpanKind.PRODUCER, attributes: { 'matric.event_id': eventId, 'matric.event_type': eventType, 'matric.memory': memory } },
      this.parent(),
    )
    return {
      traceparent: formatTraceparent(span.spanContext()),
      fail: (where) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: `${where} failed` })
      },
      end: () => span.end(),
    }
  }

  /** One webhook attempt (see the module comment). A shared no-op when tracing is off. */
  deliverySpan(parentTraceparent: string | null | undefined, attrs: DeliveryAttrs): DeliverySpan {
    const tracer = this.tracer
    if (!tracer) return NOOP_DELIVERY
    const remote = parseTraceparent(parentTraceparent)
    const parent = remote ? trace.setSpanContext(ROOT_CONTEXT, { ...remote, isRemote: true }) : ROOT_CONTEXT
    const attributes: Attributes = {
      'matric.delivery_id': attrs.delivery_id,
      'matric.webhook_id': attrs.webhook_id,
      'matric.attempt': attrs.attempt,
      'http.request.method': 'POST',
      ...serverOf(attrs.url),
    }
    if (attrs.event_id) attributes['matric.event_id'] = attrs.event_id
    if (attrs.event_type) attributes['matric.event_type'] = attrs.event_type
    const span: Span = tracer.startSpan('webhook.deliver', { kind: SpanKind.CLIENT, attributes }, parent)
    let ended = false
    return {
      traceparent: formatTraceparent(span.spanContext()),
      end: (result) => {
        if (ended) return
        ended = true
        try {
          if (result.attempt !== undefined) span.setAttribute('matric.attempt', result.attempt)
          if (result.status_code !== undefined) span.setAttribute('http.response.status_code', result.status_code)
          const ok = result.success ?? (result.error === undefined && result.status_code !== undefined && result.status_code >= 200 && result.status_code < 300)
          if (!ok) {
            span.setAttribute('error.type', result.status_code !== undefined ? String(result.status_code) : 'network')
            span.setStatus({ code: SpanStatusCode.ERROR, message: result.error })
          }
          span.end()
        } catch {
          // Telemetry never breaks a delivery.
        }
      },
    }
  }

  /** Exports every ended span now (tests, shutdown). */
  async flush(): Promise<void> {
    await this.provider?.forceFlush()
  }

  /** Flushes and stops the exporter, bounded so an unreachable collector cannot hold up shutdown. */
  async shutdown(): Promise<void> {
    if (!this.provider) return
    let timer: ReturnType<typeof setTimeout> | undefined
    const bounded = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.shutdownTimeoutMs)))
    await Promise.race([this.provider.shutdown().catch(() => {}), bounded])
    clearTimeout(timer)
  }
}
