import { describe, expect, test } from 'bun:test'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { parseKeyValueList, readTelemetryConfig, tracesEndpoint } from '../../src/telemetry/otel-env.ts'

const read = (env: Record<string, string>) => {
  const problems: string[] = []
  const cfg = readTelemetryConfig(env, problems)
  return { cfg, problems }
}

describe('tracesEndpoint', () => {
  const cases: [string | undefined, string | undefined, string | undefined][] = [
    [undefined, undefined, undefined],
    [undefined, 'http://collector:4318', 'http://collector:4318/v1/traces'],
    [undefined, 'http://collector:4318/', 'http://collector:4318/v1/traces'],
    [undefined, 'https://otlp.example/prefix', 'https://otlp.example/prefix/v1/traces'],
    ['http://tempo:4318/custom', 'http://collector:4318', 'http://tempo:4318/custom'],
  ]
  for (const [traces, generic, want] of cases) test(`${traces} / ${generic}`, () => expect(tracesEndpoint(traces, generic)).toBe(want))
})

describe('parseKeyValueList', () => {
  const cases: [string, Record<string, string> | 'error'][] = [
    ['a=1,b=2', { a: '1', b: '2' }],
    [' api-key = abc%20def , x=y=z ', { 'api-key': 'abc def', x: 'y=z' }],
    ['Authorization=Bearer%20t0k', { Authorization: 'Bearer t0k' }],
    ['a=1,,b=2', { a: '1', b: '2' }],
    ['', {}],
    ['novalue', 'error'],
    ['=x', 'error'],
    ['a=%zz', 'error'],
    ['bad key=1', 'error'],
  ]
  for (const [raw, want] of cases)
    test(JSON.stringify(raw), () => {
      const got = parseKeyValueList(raw)
      if (want === 'error') expect(typeof got).toBe('string')
      else expect(got).toEqual(want)
    })
})

describe('readTelemetryConfig', () => {
  test('defaults: tracing off, service matric-realtime, parent-based sampling, standard batch sizes', () => {
    const { cfg, problems } = read({})
    expect(problems).toEqual([])
    expect(cfg).toEqual({
      serviceName: 'matric-realtime',
      resourceAttributes: {},
      traces: {
        endpoint: undefined,
        headers: {},
        timeoutMs: 10_000,
        compression: 'none',
        sampler: 'parentbased_always_on',
        samplerRatio: 1,
        batch: { scheduledDelayMs: 5000, exportTimeoutMs: 30_000, maxQueueSize: 2048, maxExportBatchSize: 512 },
      },
    })
  })

  const on: [string, Record<string, string>, Partial<{ endpoint: string | undefined }>][] = [
    ['generic endpoint', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, { endpoint: 'http://c:4318/v1/traces' }],
    ['traces endpoint', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }, { endpoint: 'http://c:4318/v1/traces' }],
    ['OTEL_SDK_DISABLED turns it off', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }, { endpoint: undefined }],
    ['OTEL_TRACES_EXPORTER=none turns it off', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }, { endpoint: undefined }],
    ['OTEL_TRACES_EXPORTER=otlp keeps it on', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'otlp' }, { endpoint: 'http://c:4318/v1/traces' }],
  ]
  for (const [name, env, want] of on)
    test(name, () => {
      const { cfg, problems } = read(env)
      expect(problems).toEqual([])
      expect(cfg.traces).toMatchObject(want)
    })

  test('every standard knob is read', () => {
    const { cfg, problems } = read({
      OTEL_SERVICE_NAME: 'rt-eu',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.name=ignored',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-a=1,x-b=2',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-b=3',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2500',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_BSP_EXPORT_TIMEOUT: '1000',
      OTEL_BSP_MAX_QUEUE_SIZE: '100',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '10',
    })
    expect(problems).toEqual([])
    expect(cfg.serviceName).toBe('rt-eu')
    expect(cfg.resourceAttributes).toEqual({ 'deployment.environment': 'prod', 'service.name': 'ignored' })
    expect(cfg.traces).toEqual({
      endpoint: 'http://c:4318/v1/traces',
      headers: { 'x-a': '1', 'x-b': '3' },
      timeoutMs: 2500,
      compression: 'gzip',
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.25,
      batch: { scheduledDelayMs: 20, exportTimeoutMs: 1000, maxQueueSize: 100, maxExportBatchSize: 10 },
    })
  })

  const bad: [string, Record<string, string>, RegExp][] = [
    ['endpoint not a URL', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /OTEL_EXPORTER_OTLP_ENDPOINT=.*http\(s\) URL/],
    ['gRPC protocol', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /OTEL_EXPORTER_OTLP_PROTOCOL="grpc".*http\/json/],
    ['protobuf protocol for traces', { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }, /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL/],
    ['unknown sampler', { OTEL_TRACES_SAMPLER: 'jaeger_remote' }, /OTEL_TRACES_SAMPLER="jaeger_remote": expected one of/],
    ['ratio out of range', { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, /OTEL_TRACES_SAMPLER_ARG="2"/],
    ['unknown exporter', { OTEL_TRACES_EXPORTER: 'zipkin' }, /OTEL_TRACES_EXPORTER="zipkin"/],
    ['bad compression', { OTEL_EXPORTER_OTLP_COMPRESSION: 'br' }, /OTEL_EXPORTER_OTLP_COMPRESSION="br"/],
    ['bad delay', { OTEL_BSP_SCHEDULE_DELAY: 'soon' }, /OTEL_BSP_SCHEDULE_DELAY="soon"/],
    ['batch larger than queue', { OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '20' }, /must not exceed OTEL_BSP_MAX_QUEUE_SIZE/],
  ]
  for (const [name, env, re] of bad)
    test(`rejects: ${name}`, () => {
      const { problems } = read(env)
      expect(problems).toHaveLength(1)
      expect(problems[0]).toMatch(re)
    })

  test('a malformed header list is reported without echoing its (secret) value', () => {
    const { problems } = read({ OTEL_EXPORTER_OTLP_HEADERS: 'api-key-without-value-s3cr3t' })
    expect(problems).toHaveLength(1)
    expect(problems[0]).toStartWith('OTEL_EXPORTER_OTLP_HEADERS:')
    expect(problems[0]).not.toContain('s3cr3t')
  })

  test('loadConfig carries the section and fails fast on it', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }).telemetry.traces.endpoint).toBe('http://c:4318/v1/traces')
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(ConfigError)
  })
})
