import { ValueType, type Attributes, type Counter, type HrTime, type Histogram, type Meter } from '@opentelemetry/api'
import { millisToHrTime } from '@opentelemetry/core'
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus'
import {
  AggregationTemporality,
  AggregationType,
  DataPointType,
  MeterProvider,
  type HistogramMetricData,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import { EVENT_TYPES, HOTM_TYPES, type LegacyType } from '../events/catalog.ts'
import { LatencyWindow, percentiles, type Percentiles } from './latency-window.ts'

export type Transport = 'ws' | 'sse' | 'webhook'
export type DeliveryStatus = 'success' | 'retry' | 'failed'

export const TRANSPORTS: readonly Transport[] = ['ws', 'sse', 'webhook']
export type McpOutcome = 'ok' | 'error'
export const MCP_OUTCOMES: readonly McpOutcome[] = ['ok', 'error']
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['success', 'retry', 'failed']
/** Why the outbox disabled a webhook by itself: too many consecutive failures, or the receiver answered 410. */
export type WebhookDisableCause = 'consecutive_failures' | 'gone'
export const WEBHOOK_DISABLE_CAUSES: readonly WebhookDisableCause[] = ['consecutive_failures', 'gone']

/** Every dotted event type (published counter series). */
const ALL_EVENT_TYPES: readonly string[] = Object.values(EVENT_TYPES)
/** Event types that can reach a WebSocket client: the HotM seven, plus note.created (sent as NoteUpdated). */
const WS_EVENT_TYPES: readonly string[] = [...[...HOTM_TYPES].map((t: LegacyType) => EVENT_TYPES[t]), EVENT_TYPES.NoteCreated]

/**
 * Event latency buckets (ms): sub-millisecond resolution for the in-process fan-out, up to tens of
 * seconds for retried webhooks.
 */
export const LATENCY_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000]

const LATENCY_METRIC = 'matric_event_latency_ms'
const LATENCY_HELP = 'Event creation to written to the transport, in milliseconds, by transport'

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** One frozen attribute set per label value, built on first use: recording allocates nothing afterwards. */
class LabelCache {
  private map = new Map<string, Attributes>()
  constructor(private key: string) {}
  get(value: string): Attributes {
    let a = this.map.get(value)
    if (!a) this.map.set(value, (a = Object.freeze({ [this.key]: value })))
    return a
  }
}

/**
 * The service's metrics (docs/operations.md) on an OpenTelemetry MeterProvider, serialised as Prometheus text on
 * /metrics. One instance per app (tests build several apps in one process), never the global provider.
 *
 * Every series a dashboard or alert needs exists from the first scrape: counters start at 0 for each
 * known label value, and the latency histogram shows an empty series per transport until its first
 * observation. Hot-path methods look up pre-built attribute objects, so recording allocates nothing on
 * our side.
 */
export class Metrics {
  private provider: MeterProvider
  private reader: PrometheusExporter
  private serializer = new PrometheusSerializer(undefined, false, undefined, true, true)
  private meter: Meter
  private published: Counter
  private wsSent: Counter
  private latency: Histogram
  private busErrors: Counter
  private wsSlow: Counter
  private wsIgnored: Counter
  private sseLagged: Counter
  private webhookDeliveries: Counter
  private mcpToolCalls: Counter
  private mcpToolLabels = new Map<string, Attributes>()
  private webhooksDisabled: Counter
  /** Recent latencies per transport (live percentiles for the console; the histogram is for Prometheus). */
  private windows: Record<Transport, LatencyWindow> = { ws: new LatencyWindow(), sse: new LatencyWindow(), webhook: new LatencyWindow() }
  private causeLabels = new LabelCache('cause')
  private eventTypeLabels = new LabelCache('event_type')
  private whereLabels = new LabelCache('where')
  private transportLabels = new LabelCache('transport')
  private statusLabels = new LabelCache('status')
  private gauges = new Set<string>()

  constructor() {
    this.reader = new PrometheusExporter({ preventServerStart: true })
    this.provider = new MeterProvider({
      readers: [this.reader],
      views: [
        {
          instrumentName: LATENCY_METRIC,
          aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: LATENCY_BUCKETS_MS } },
        },
      ],
    })
    this.meter = this.provider.getMeter('matric-realtime')
    this.published = this.meter.createCounter('matric_events_published', { description: 'Events published on the bus, by event type' })
    this.wsSent = this.meter.createCounter('matric_ws_events_sent', { description: 'WebSocket frames delivered, by event type' })
    this.latency = this.meter.createHistogram(LATENCY_METRIC, { description: LATENCY_HELP })
    this.busErrors = this.meter.createCounter('matric_event_bus_errors', {
      description: 'Failures inside the event layer (log write or a subscriber), by where they happened',
    })
    this.wsSlow = this.meter.createCounter('matric_ws_slow_consumer_disconnects', { description: 'WebSocket clients closed with 1013 slow consumer' })
    this.wsIgnored = this.meter.createCounter('matric_ws_client_messages_ignored', { description: 'Inbound WebSocket messages that were not commands' })
    this.sseLagged = this.meter.createCounter('matric_sse_events_lagged', { description: 'SSE events dropped for slow consumers' })
    this.webhookDeliveries = this.meter.createCounter('matric_webhook_deliveries', { description: 'Webhook delivery attempts by outcome' })
    this.mcpToolCalls = this.meter.createCounter('matric_mcp_tool_calls', { description: 'MCP tool calls by tool and outcome (ok, error)' })
    this.webhooksDisabled = this.meter.createCounter('matric_webhooks_disabled', {
      description: 'Webhooks the outbox disabled by itself, by cause (consecutive_failures, gone = HTTP 410)',
    })

    for (const t of ALL_EVENT_TYPES) this.published.add(0, this.eventTypeLabels.get(t))
    for (const t of WS_EVENT_TYPES) this.wsSent.add(0, this.eventTypeLabels.get(t))
    for (const s of DELIVERY_STATUSES) this.webhookDeliveries.add(0, this.statusLabels.get(s))
    for (const c of WEBHOOK_DISABLE_CAUSES) this.webhooksDisabled.add(0, this.causeLabels.get(c))
    this.busErrors.add(0, this.whereLabels.get('log'))
    this.wsSlow.add(0)
    this.wsIgnored.add(0)
    this.sseLagged.add(0)
  }

  eventPublished(eventType: string): void {
    this.published.add(1, this.eventTypeLabels.get(eventType))
  }
  wsEventsSent(eventType: string, count: number): void {
    if (count > 0) this.wsSent.add(count, this.eventTypeLabels.get(eventType))
  }
  eventLatency(transport: Transport, ms: number): void {
    this.latency.record(ms, this.transportLabels.get(transport))
    this.windows[transport].record(ms, Date.now())
  }
  /** p50/p95/p99 of each transport's latencies over the last minute (this instance). */
  recentLatency(nowMs = Date.now()): Record<Transport, Percentiles> {
    return { ws: percentiles(this.windows.ws.recent(nowMs)), sse: percentiles(this.windows.sse.recent(nowMs)), webhook: percentiles(this.windows.webhook.recent(nowMs)) }
  }
  /** Makes the `where` series of a bus subscriber visible at 0 before its first failure. */
  busErrorSource(where: string): void {
    this.busErrors.add(0, this.whereLabels.get(where))
  }
  busError(where: string): void {
    this.busErrors.add(1, this.whereLabels.get(where))
  }
  wsSlowConsumer(): void {
    this.wsSlow.add(1)
  }
  wsMessageIgnored(): void {
    this.wsIgnored.add(1)
  }
  sseEventsLagged(count: number): void {
    if (count > 0) this.sseLagged.add(count)
  }
  webhookDelivery(status: DeliveryStatus): void {
    this.webhookDeliveries.add(1, this.statusLabels.get(status))
  }
  /** Makes the series of these MCP tools visible at 0 before their first call. */
  mcpTools(tools: readonly string[]): void {
    for (const tool of tools) for (const outcome of MCP_OUTCOMES) this.mcpToolCalls.add(0, this.mcpToolAttrs(tool, outcome))
  }
  /** One MCP tool call (`tool` is a known tool name: unknown tools are protocol errors, never a label). */
  mcpToolCall(tool: string, outcome: McpOutcome): void {
    this.mcpToolCalls.add(1, this.mcpToolAttrs(tool, outcome))
  }
  private mcpToolAttrs(tool: string, outcome: McpOutcome): Attributes {
    const key = `${tool}\n${outcome}`
    let a = this.mcpToolLabels.get(key)
    if (!a) this.mcpToolLabels.set(key, (a = Object.freeze({ tool, outcome })))
    return a
  }
  webhookDisabled(cause: WebhookDisableCause): void {
    this.webhooksDisabled.add(1, this.causeLabels.get(cause))
  }

  /** A gauge read at scrape time (connection counts, queue depth). Registering a name twice is a no-op. */
  gauge(name: string, description: string, read: () => number): void {
    if (this.gauges.has(name)) return
    this.gauges.add(name)
    this.meter.createObservableGauge(name, { description }).addCallback((r) => {
      // A failing reader (e.g. a store closed during shutdown) must not break the whole scrape.
      try {
        const v = read()
        if (Number.isFinite(v)) r.observe(v)
      } catch {
        /* series absent for this scrape */
      }
    })
  }

  /** Prometheus text exposition (format 0.0.4) of every instrument. */
  async scrape(): Promise<string> {
    const { resourceMetrics, errors } = await this.reader.collect()
    if (errors.length) throw errors[0]
    addEmptyLatencySeries(resourceMetrics, LATENCY_HELP)
    return this.serializer.serialize(resourceMetrics)
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => {})
  }
}

/**
 * OTel has no way to create a histogram series without an observation (an instrument with no
 * observation is not even collected), so a transport that has not delivered yet gets an all-zero data
 * point at scrape time (`_count 0`, `_sum 0`, every bucket 0). `histogram_quantile` panels and rate()
 * alerts are then defined from the first scrape.
 */
export function addEmptyLatencySeries(rm: ResourceMetrics, description: string): void {
  const scope = rm.scopeMetrics.find((sm) => sm.scope.name === 'matric-realtime') ?? rm.scopeMetrics[0]
  if (!scope) return
  let metric = scope.metrics.find((m): m is HistogramMetricData => m.descriptor.name === LATENCY_METRIC && m.dataPointType === DataPointType.HISTOGRAM)
  const now: HrTime = millisToHrTime(Date.now())
  if (!metric) {
    metric = {
      descriptor: { name: LATENCY_METRIC, description, unit: '', valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: [],
    }
    const after = scope.metrics.findIndex((m) => m.descriptor.name === 'matric_ws_events_sent')
    scope.metrics.splice(after < 0 ? scope.metrics.length : after + 1, 0, metric)
  }
  const seen = new Set(metric.dataPoints.map((p) => p.attributes.transport))
  for (const transport of TRANSPORTS) {
    if (seen.has(transport)) continue
    metric.dataPoints.push({
      attributes: { transport },
      startTime: metric.dataPoints[0]?.startTime ?? now,
      endTime: now,
      value: { buckets: { boundaries: LATENCY_BUCKETS_MS, counts: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0) }, sum: 0, count: 0 },
    })
  }
}
