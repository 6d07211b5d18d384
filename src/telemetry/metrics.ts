import { type Attributes, type Counter, type Histogram, type Meter } from '@opentelemetry/api'
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus'
import { AggregationType, MeterProvider } from '@opentelemetry/sdk-metrics'

export type Transport = 'ws' | 'sse' | 'webhook'
export type DeliveryStatus = 'success' | 'retry' | 'failed'

/**
 * Event latency buckets (ms): sub-millisecond resolution for the in-process fan-out, up to tens of
 * seconds for retried webhooks.
 */
export const LATENCY_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000]

/**
 * The service's metrics (SPEC §8) on an OpenTelemetry MeterProvider, serialised as Prometheus text on
 * /metrics. One instance per app (tests build several apps in one process), never the global provider.
 * Hot-path methods take pre-built attribute objects so recording allocates nothing.
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
  private attrCache = new Map<string, Attributes>()

  constructor() {
    this.reader = new PrometheusExporter({ preventServerStart: true })
    this.provider = new MeterProvider({
      readers: [this.reader],
      views: [
        {
          instrumentName: 'matric_event_latency_ms',
          aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: LATENCY_BUCKETS_MS } },
        },
      ],
    })
    this.meter = this.provider.getMeter('matric-realtime')
    this.published = this.meter.createCounter('matric_events_published', { description: 'Events published on the bus, by event type' })
    this.wsSent = this.meter.createCounter('matric_ws_events_sent', { description: 'WebSocket frames delivered, by event type' })
    this.latency = this.meter.createHistogram('matric_event_latency_ms', {
      description: 'Event creation to written to the transport, in milliseconds',
    })
    this.busErrors = this.meter.createCounter('matric_event_bus_errors', { description: 'Failures inside the event layer' })
    this.wsSlow = this.meter.createCounter('matric_ws_slow_consumer_disconnects', { description: 'WebSocket clients closed with 1013' })
    this.wsIgnored = this.meter.createCounter('matric_ws_client_messages_ignored', { description: 'Inbound WebSocket messages that were not commands' })
    this.sseLagged = this.meter.createCounter('matric_sse_events_lagged', { description: 'SSE events dropped for slow consumers' })
    this.webhookDeliveries = this.meter.createCounter('matric_webhook_deliveries', { description: 'Webhook delivery attempts by outcome' })
  }

  private attrs(key: string, value: string): Attributes {
    const k = key + '\0' + value
    let a = this.attrCache.get(k)
    if (!a) this.attrCache.set(k, (a = Object.freeze({ [key]: value })))
    return a
  }

  eventPublished(eventType: string): void {
    this.published.add(1, this.attrs('event_type', eventType))
  }
  wsEventsSent(eventType: string, count: number): void {
    if (count > 0) this.wsSent.add(count, this.attrs('event_type', eventType))
  }
  eventLatency(transport: Transport, ms: number): void {
    this.latency.record(ms, this.attrs('transport', transport))
  }
  busError(where: string): void {
    this.busErrors.add(1, this.attrs('where', where))
  }
  wsSlowConsumer(): void {
    this.wsSlow.add(1)
  }
  wsMessageIgnored(): void {
    this.wsIgnored.add(1)
  }
  sseEventsLagged(count: number): void {
    this.sseLagged.add(count)
  }
  webhookDelivery(status: DeliveryStatus): void {
    this.webhookDeliveries.add(1, this.attrs('status', status))
  }

  /** A gauge read at scrape time (connection counts, queue depth). */
  gauge(name: string, description: string, read: () => number): void {
    this.meter.createObservableGauge(name, { description }).addCallback((r) => r.observe(read()))
  }

  /** Prometheus text exposition of every instrument. */
  async scrape(): Promise<string> {
    const { resourceMetrics, errors } = await this.reader.collect()
    if (errors.length) throw errors[0]
    return this.serializer.serialize(resourceMetrics)
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => {})
  }
}
