/**
 * The standard OpenTelemetry environment variables this service honours (README.md#configuration `OTEL_*`), read through
 * `loadConfig`'s env so each server (and each test) has its own tracing setup. Pure: env in, config out,
 * problems appended to the caller's list (ConfigError lists them all at once).
 */

type Env = Record<string, string | undefined>

export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio'

export const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
]

export interface TelemetryConfig {
  /** OTEL_SERVICE_NAME (default `matric-realtime`). */
  serviceName: string
  /** Extra resource attributes (OTEL_RESOURCE_ATTRIBUTES). */
  resourceAttributes: Record<string, string>
  traces: {
    /** Full OTLP/HTTP traces URL; undefined = tracing off (no span work at all on the hot path). */
    endpoint: string | undefined
    /** OTEL_EXPORTER_OTLP_HEADERS merged with OTEL_EXPORTER_OTLP_TRACES_HEADERS (the latter wins). Secret: never logged. */
    headers: Record<string, string>
    /** OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT, ms. */
    timeoutMs: number
    compression: 'none' | 'gzip'
    sampler: SamplerName
    /** OTEL_TRACES_SAMPLER_ARG for the ratio samplers, 0..1. */
    samplerRatio: number
    batch: {
      /** OTEL_BSP_SCHEDULE_DELAY */
      scheduledDelayMs: number
      /** OTEL_BSP_EXPORT_TIMEOUT */
      exportTimeoutMs: number
      /** OTEL_BSP_MAX_QUEUE_SIZE */
      maxQueueSize: number
      /** OTEL_BSP_MAX_EXPORT_BATCH_SIZE */
      maxExportBatchSize: number
    }
  }
}

const value = (env: Env, name: string): string | undefined => {
  const v = env[name]
  return v === undefined || v.trim() === '' ? undefined : v.trim()
}

/**
 * Parses the W3C-baggage-like `key1=value1,key2=value2` lists of OTEL_EXPORTER_OTLP_HEADERS and
 * OTEL_RESOURCE_ATTRIBUTES (values percent-decoded). Returns an error message for a malformed list.
 */
export function parseKeyValueList(raw: string): Record<string, string> | string {
  const out: Record<string, string> = {}
  for (const part of raw.split(',')) {
    const item = part.trim()
    if (!item) continue
    const eq = item.indexOf('=')
    if (eq <= 0) return `expected key=value pairs separated by commas, got an entry without a key or '='`
    const key = item.slice(0, eq).trim()
    let v = item.slice(eq + 1).trim()
    try {
      v = decodeURIComponent(v)
    } catch {
      return `the value of ${JSON.stringify(key)} is not valid percent-encoding`
    }
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key)) return `${JSON.stringify(key)} is not a valid key`
    out[key] = v
  }
  return out
}

function httpUrl(raw: string): boolean {
  try {
    const u = new URL(raw)
    return u.protocol === 'http:' || u.protocol === 'https:'
  } catch {
    return false
  }
}

/**
 * The traces URL per the OTLP exporter spec: the signal-specific variable is used as is; the generic one
 * gets `/v1/traces` appended to its path.
 */
export function tracesEndpoint(tracesVar: string | undefined, genericVar: string | undefined): string | undefined {
  if (tracesVar) return tracesVar
  if (!genericVar) return undefined
  return genericVar.endsWith('/') ? genericVar + 'v1/traces' : genericVar + '/v1/traces'
}

/** Reads the telemetry section; pushes a precise message per bad variable into `problems`. */
export function readTelemetryConfig(env: Env, problems: string[]): TelemetryConfig {
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = value(env, name)
    if (raw === undefined) return def
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer between ${min} and ${max}`)
      return def
    }
    return Number(raw)
  }
  const list = (name: string): Record<string, string> => {
    const raw = value(env, name)
    if (raw === undefined) return {}
    const parsed = parseKeyValueList(raw)
    if (typeof parsed === 'string') {
      // The value may hold credentials: name the variable, never echo it.
      problems.push(`${name}: ${parsed}`)
      return {}
    }
    return parsed
  }

  const tracesVar = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')
  const genericVar = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT')
  for (const [name, v] of [
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', tracesVar],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', genericVar],
  ] as const) {
    if (v !== undefined && !httpUrl(v)) problems.push(`${name}=${JSON.stringify(v)}: expected an http(s) URL of an OTLP/HTTP receiver`)
  }
  let endpoint = tracesEndpoint(tracesVar, genericVar)
  if (endpoint !== undefined && !httpUrl(endpoint)) endpoint = undefined

  // Standard switches that turn tracing off even with an endpoint.
  const disabled = value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true'
  const exporters = (value(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
  const badExporter = exporters.find((e) => e !== 'otlp' && e !== 'none')
  if (badExporter) problems.push(`OTEL_TRACES_EXPORTER=${JSON.stringify(badExporter)}: only "otlp" (OTLP/HTTP JSON) and "none" are supported`)
  if (disabled || exporters.includes('none') || !exporters.includes('otlp')) endpoint = undefined

  // The exporter speaks OTLP/HTTP with JSON bodies; a gRPC or protobuf setting would silently send the wrong thing.
  const protocolVar = value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL'
  const protocol = value(env, protocolVar)
  if (protocol !== undefined && protocol !== 'http/json')
    problems.push(
      `${protocolVar}=${JSON.stringify(protocol)}: this service exports traces as OTLP/HTTP JSON only; set it to "http/json" (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL overrides a global setting) and point the endpoint at the receiver's HTTP port (4318)`,
    )

  const compressionVar = value(env, 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION' : 'OTEL_EXPORTER_OTLP_COMPRESSION'
  const compressionRaw = value(env, compressionVar)?.toLowerCase() ?? 'none'
  if (compressionRaw !== 'none' && compressionRaw !== 'gzip') problems.push(`${compressionVar}=${JSON.stringify(compressionRaw)}: expected none or gzip`)
  const compression = compressionRaw === 'gzip' ? 'gzip' : 'none'

  const samplerRaw = value(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on'
  let sampler: SamplerName = 'parentbased_always_on'
  if ((SAMPLERS as readonly string[]).includes(samplerRaw)) sampler = samplerRaw as SamplerName
  else problems.push(`OTEL_TRACES_SAMPLER=${JSON.stringify(samplerRaw)}: expected one of ${SAMPLERS.join(', ')}`)
  let samplerRatio = 1
  const ratioRaw = value(env, 'OTEL_TRACES_SAMPLER_ARG')
  if (ratioRaw !== undefined && sampler.endsWith('traceidratio')) {
    const r = Number(ratioRaw)
    if (!Number.isFinite(r) || r < 0 || r > 1) problems.push(`OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(ratioRaw)}: expected a ratio between 0 and 1`)
    else samplerRatio = r
  }

  const timeoutVar = value(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT' : 'OTEL_EXPORTER_OTLP_TIMEOUT'
  const maxQueueSize = int('OTEL_BSP_MAX_QUEUE_SIZE', 2048, 1, 1_000_000)
  let maxExportBatchSize = int('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, 1, 1_000_000)
  if (maxExportBatchSize > maxQueueSize) {
    problems.push(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE=${maxExportBatchSize}: must not exceed OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize})`)
    maxExportBatchSize = maxQueueSize
  }

  return {
    serviceName: value(env, 'OTEL_SERVICE_NAME') ?? 'matric-realtime',
    resourceAttributes: list('OTEL_RESOURCE_ATTRIBUTES'),
    traces: {
      endpoint,
      headers: { ...list('OTEL_EXPORTER_OTLP_HEADERS'), ...list('OTEL_EXPORTER_OTLP_TRACES_HEADERS') },
      timeoutMs: int(timeoutVar, 10_000, 1, 600_000),
      compression,
      sampler,
      samplerRatio,
      batch: {
        scheduledDelayMs: int('OTEL_BSP_SCHEDULE_DELAY', 5000, 0, 3_600_000),
        exportTimeoutMs: int('OTEL_BSP_EXPORT_TIMEOUT', 30_000, 1, 600_000),
        maxQueueSize,
        maxExportBatchSize,
      },
    },
  }
}

/** How the app builds its tracer (telemetry/tracing.ts and the lazily loaded tracing-sdk.ts). */
export interface TracingOptions {
  logger: import('./log.ts').Logger
  serviceVersion: string
  /** Replaces the OTLP exporter (unit tests). */
  exporter?: import('@opentelemetry/sdk-trace-base').SpanExporter
}
