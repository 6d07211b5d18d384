/**
 * Test double of an OTLP/HTTP trace receiver (an OpenTelemetry Collector, Jaeger or Tempo on :4318):
 * accepts `POST /v1/traces` with OTLP JSON bodies (gzip or plain), flattens every span with its resource
 * attributes, and records the request headers. `fail(n, status)` answers the next n exports with an error.
 */

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: AnyValue[] } }
type KeyValue = { key: string; value: AnyValue }

export type AttrValue = string | number | boolean | AttrValue[] | null

export interface CollectedSpan {
  traceId: string
  spanId: string
  /** Empty string for a root span. */
  parentSpanId: string
  name: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number
  attributes: Record<string, AttrValue>
  status: { code: number; message?: string }
  resource: Record<string, AttrValue>
  scope: string
  startTimeUnixNano: string
  endTimeUnixNano: string
}

export interface ReceivedExport {
  headers: Record<string, string>
  contentType: string | null
  spans: number
}

export interface OtlpCollector {
  /** Base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  url: string
  /** Full traces URL, for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. */
  tracesUrl: string
  spans: CollectedSpan[]
  exports: ReceivedExport[]
  /** Answers the next `n` exports with `status` (default 503). */
  fail(n: number, status?: number): void
  stop(): Promise<void>
}

export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const
export const STATUS_CODE = { UNSET: 0, OK: 1, ERROR: 2 } as const

function decodeValue(v: AnyValue | undefined): AttrValue {
  if (!v) return null
  if (v.stringValue !== undefined) return v.stringValue
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.doubleValue !== undefined) return v.doubleValue
  if (v.boolValue !== undefined) return v.boolValue
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(decodeValue)
  return null
}

function decodeAttributes(list: KeyValue[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {}
  for (const kv of list ?? []) out[kv.key] = decodeValue(kv.value)
  return out
}

interface ExportRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] }
    scopeSpans?: {
      scope?: { name?: string }
      spans?: {
        traceId: string
        spanId: string
        parentSpanId?: string
        name: string
        kind?: number
        attributes?: KeyValue[]
        status?: { code?: number; message?: string }
        startTimeUnixNano: string
        endTimeUnixNano: string
      }[]
    }[]
  }[]
}

/** Flattens an OTLP JSON ExportTraceServiceRequest (ids are hex strings in OTLP/JSON). */
export function decodeExport(body: ExportRequest): CollectedSpan[] {
  const out: CollectedSpan[] = []
  for (const rs of body.resourceSpans ?? []) {
    const resource = decodeAttributes(rs.resource?.attributes)
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: s.kind ?? 0,
          attributes: decodeAttributes(s.attributes),
          status: { code: s.status?.code ?? 0, ...(s.status?.message ? { message: s.status.message } : {}) },
          resource,
          scope: ss.scope?.name ?? '',
          startTimeUnixNano: s.startTimeUnixNano,
          endTimeUnixNano: s.endTimeUnixNano,
        })
      }
    }
  }
  return out
}

export function startOtlpCollector(): OtlpCollector {
  const spans: CollectedSpan[] = []
  const exports: ReceivedExport[] = []
  let failures: { left: number; status: number } = { left: 0, status: 503 }
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const url = new URL(req.url)
      if (req.method !== 'POST' || url.pathname !== '/v1/traces') return new Response('not found', { status: 404 })
      if (failures.left > 0) {
        failures.left--
        return new Response('unavailable', { status: failures.status })
      }
      const contentType = req.headers.get('content-type')
      if (!contentType?.startsWith('application/json')) return new Response('this double decodes OTLP JSON only', { status: 415 })
      let raw = new Uint8Array(await req.arrayBuffer())
      if (req.headers.get('content-encoding') === 'gzip') raw = Bun.gunzipSync(raw)
      let decoded: CollectedSpan[]
      try {
        decoded = decodeExport(JSON.parse(new TextDecoder().decode(raw)) as ExportRequest)
      } catch {
        return new Response('bad OTLP JSON', { status: 400 })
      }
      exports.push({ headers: Object.fromEntries(req.headers), contentType, spans: decoded.length })
      spans.push(...decoded)
      return Response.json({ partialSuccess: {} })
    },
  })
  const url = `http://127.0.0.1:${server.port}`
  return {
    url,
    tracesUrl: `${url}/v1/traces`,
    spans,
    exports,
    fail: (n, status = 503) => {
      failures = { left: n, status }
    },
    stop: async () => {
      await server.stop(true)
    },
  }
}
