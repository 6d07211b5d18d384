/**
 * The OpenTelemetry trace SDK behind `Tracing`: provider, sampler and OTLP/HTTP exporter. Loaded by
 * tracing.ts only when tracing is configured, so a process that never traces never loads it.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources'
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base'
import type { Logger } from './log.ts'
import type { SamplerName, TelemetryConfig, TracingOptions } from './otel-env.ts'

type ExporterConfig = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>

export function buildSampler(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler()
    case 'always_off':
      return new AlwaysOffSampler()
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio)
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() })
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) })
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() })
  }
}

/** The endpoint as it may appear in a log line: no credentials, no query. */
function safeEndpoint(url: string): string {
  try {
    const u = new URL(url)
    return u.origin + u.pathname
  } catch {
    return '[invalid url]'
  }
}

/** Wraps the OTLP exporter to log when exports start failing and when they recover (not once per batch). */
class ReportingExporter implements SpanExporter {
  private failing = false

  constructor(
    private inner: SpanExporter,
    private logger: Logger,
    private endpoint: string,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) {
        if (!this.failing) this.logger.warn('trace export failed; spans are dropped until the receiver answers', { endpoint: this.endpoint, spans: spans.length, err: result.error })
        this.failing = true
      } else if (this.failing) {
        this.failing = false
        this.logger.info('trace export recovered', { endpoint: this.endpoint })
      }
      done(result)
    })
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown()
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve()
  }
}

/** A provider exporting through a BatchSpanProcessor to the configured OTLP endpoint (or `opts.exporter`). */
export function createTracerProvider(cfg: TelemetryConfig, opts: TracingOptions): BasicTracerProvider {
  const endpoint = cfg.traces.endpoint
  const exporter =
    opts.exporter ??
    new ReportingExporter(
      new OTLPTraceExporter({
        url: endpoint,
        headers: cfg.traces.headers,
        timeoutMillis: cfg.traces.timeoutMs,
        // The exporter's CompressionAlgorithm enum has exactly these string values.
        compression: cfg.traces.compression as ExporterConfig['compression'],
      }),
      opts.logger,
      safeEndpoint(endpoint!),
    )
  const b = cfg.traces.batch
  return new BasicTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ ...cfg.resourceAttributes, 'service.name': cfg.serviceName, 'service.version': opts.serviceVersion }),
    ),
    sampler: buildSampler(cfg.traces.sampler, cfg.traces.samplerRatio),
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        scheduledDelayMillis: b.scheduledDelayMs,
        exportTimeoutMillis: b.exportTimeoutMs,
        maxQueueSize: b.maxQueueSize,
        maxExportBatchSize: b.maxExportBatchSize,
      }),
    ],
  })
}
