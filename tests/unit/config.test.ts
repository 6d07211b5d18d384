import { describe, expect, test } from 'bun:test'
import { ConfigError, isLoopbackHost, loadConfig, startupWarnings, type Config } from '../../src/config.ts'

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (e) {
    if (e instanceof ConfigError) return e.problems
    throw e
  }
  return []
}

describe('loadConfig defaults', () => {
  const c = loadConfig({})
  test.each<[string, (c: Config) => unknown, unknown]>([
    ['PORT', (c) => c.port, 3000],
    ['HOST', (c) => c.host, '0.0.0.0'],
    ['MATRIC_DATA_DIR', (c) => c.dataDir, './data'],
    ['MATRIC_DB_PATH', (c) => c.dbPath, 'data/matric.db'],
    ['MATRIC_JWT_SECRET', (c) => c.jwtSecret, undefined],
    ['MATRIC_JWKS_URL', (c) => c.jwksUrl, undefined],
    ['MATRIC_AUTH', (c) => c.authMode, 'required'],
    ['MATRIC_AUTH_OFF_ALLOW_REMOTE', (c) => c.authOffAllowRemote, false],
    ['MATRIC_JWT_AUDIENCE', (c) => c.jwtAudience, undefined],
    ['MATRIC_JWT_ISSUER', (c) => c.jwtIssuer, undefined],
    ['MATRIC_ALLOWED_ORIGINS', (c) => c.allowedOrigins, undefined],
    ['MATRIC_WEBHOOK_ALLOW_PRIVATE', (c) => c.webhooks.allowPrivate, false],
    ['MATRIC_LOG_LEVEL', (c) => c.logLevel, 'info'],
    ['MATRIC_MAX_BODY_BYTES', (c) => c.maxBodyBytes, 1024 * 1024],
    ['MATRIC_WORKER_CONCURRENCY', (c) => c.worker.concurrency, 4],
    ['MATRIC_JOB_MAX_RETRIES', (c) => c.worker.maxRetries, 3],
    ['MATRIC_LINK_THRESHOLD', (c) => c.linkThreshold, 0.3],
    ['MATRIC_MAX_LINKS', (c) => c.maxLinks, 5],
    ['MATRIC_INFERENCE_URL', (c) => c.inference.url, undefined],
    ['MATRIC_INFERENCE_TIMEOUT_MS', (c) => c.inference.timeoutMs, 60_000],
    ['MATRIC_EVENT_RETENTION_COUNT', (c) => c.events.retentionCount, 10_000],
    ['MATRIC_EVENT_RETENTION_HOURS', (c) => c.events.retentionHours, 24],
    ['MATRIC_SSE_KEEPALIVE_MS', (c) => c.sse.keepaliveMs, 15_000],
    ['MATRIC_STREAM_TOKEN_TTL_S', (c) => c.sse.streamTokenTtlS, 300],
    ['MATRIC_WS_BACKPRESSURE_BYTES', (c) => c.ws.backpressureLimit, 1024 * 1024],
    ['MATRIC_WEBHOOK_TIMEOUT_MS', (c) => c.webhooks.timeoutMs, 10_000],
    ['MATRIC_WEBHOOK_RETRY_SCHEDULE_MS', (c) => c.webhooks.retryScheduleMs, [1000, 5000, 25_000, 125_000, 625_000]],
    ['MATRIC_WEBHOOK_CREATE_PER_MINUTE', (c) => c.webhooks.createPerMinute, 30],
    ['MATRIC_WEBHOOK_MAX_PER_MEMORY', (c) => c.webhooks.maxPerMemory, 100],
    ['MATRIC_WEBHOOK_MEMORY_CONCURRENCY', (c) => c.webhooks.perMemoryConcurrency, 8],
  ])('%s', (_name, read, expected) => {
    expect(read(c)).toEqual(expected)
  })
})

describe('loadConfig accepted values', () => {
  test.each<[Record<string, string>, (c: Config) => unknown, unknown]>([
    [{ PORT: '0' }, (c) => c.port, 0],
    [{ PORT: ' 8080 ' }, (c) => c.port, 8080],
    [{ PORT: '' }, (c) => c.port, 3000],
    [{ MATRIC_DATA_DIR: '/srv/m' }, (c) => c.dbPath, '/srv/m/matric.db'],
    [{ MATRIC_DATA_DIR: '/srv/m', MATRIC_DB_PATH: ':memory:' }, (c) => c.dbPath, ':memory:'],
    [{ MATRIC_AUTH: 'off', HOST: '127.0.0.1' }, (c) => c.authMode, 'off'],
    [{ MATRIC_AUTH: 'off', HOST: '0.0.0.0', MATRIC_AUTH_OFF_ALLOW_REMOTE: 'true' }, (c) => c.authOffAllowRemote, true],
    [{ MATRIC_JWT_AUDIENCE: 'matric-api' }, (c) => c.jwtAudience, ['matric-api']],
    [{ MATRIC_JWT_AUDIENCE: 'a, https://api.example/ ,b' }, (c) => c.jwtAudience, ['a', 'https://api.example/', 'b']],
    [{ MATRIC_JWT_ISSUER: 'https://idp.example/' }, (c) => c.jwtIssuer, 'https://idp.example/'],
    [{ MATRIC_LOG_LEVEL: 'debug' }, (c) => c.logLevel, 'debug'],
    [{ MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true' }, (c) => c.webhooks.allowPrivate, true],
    [{ MATRIC_WEBHOOK_ALLOW_PRIVATE: 'YES' }, (c) => c.webhooks.allowPrivate, true],
    [{ MATRIC_WEBHOOK_ALLOW_PRIVATE: '0' }, (c) => c.webhooks.allowPrivate, false],
    [{ MATRIC_LINK_THRESHOLD: '0.25' }, (c) => c.linkThreshold, 0.25],
    [{ MATRIC_JWKS_URL: 'https://idp.example/.well-known/jwks.json' }, (c) => c.jwksUrl, 'https://idp.example/.well-known/jwks.json'],
    [{ MATRIC_JWT_SECRET: 'x'.repeat(32) }, (c) => c.jwtSecret, 'x'.repeat(32)],
    [{ MATRIC_ALLOWED_ORIGINS: 'https://a.example, http://localhost:5173/,HTTPS://B.Example' }, (c) => c.allowedOrigins, ['https://a.example', 'http://localhost:5173', 'https://b.example']],
    [{ MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '10, 20,30' }, (c) => c.webhooks.retryScheduleMs, [10, 20, 30]],
    // The per-memory default follows the global one: half of it, at least 1.
    [{ MATRIC_WEBHOOK_CONCURRENCY: '40' }, (c) => c.webhooks.perMemoryConcurrency, 20],
    [{ MATRIC_WEBHOOK_CONCURRENCY: '1' }, (c) => c.webhooks.perMemoryConcurrency, 1],
    [{ MATRIC_WEBHOOK_CONCURRENCY: '40', MATRIC_WEBHOOK_MEMORY_CONCURRENCY: '40' }, (c) => c.webhooks.perMemoryConcurrency, 40],
  ])('%j', (env, read, expected) => {
    expect(read(loadConfig(env))).toEqual(expected)
  })
})

describe('loadConfig rejects bad values with a message naming the variable', () => {
  test.each<[string, string, string]>([
    ['PORT', 'abc', 'expected an integer between 0 and 65535'],
    ['PORT', '70000', 'expected an integer between 0 and 65535'],
    ['PORT', '-1', 'expected an integer between 0 and 65535'],
    ['PORT', '80.5', 'expected an integer'],
    ['MATRIC_AUTH', 'maybe', 'expected one of required, off'],
    ['MATRIC_LOG_LEVEL', 'verbose', 'expected one of debug, info, warn, error'],
    ['MATRIC_JWKS_URL', 'not a url', 'expected an http(s) URL'],
    ['MATRIC_JWKS_URL', 'ftp://idp.example/jwks', 'expected an http(s) URL'],
    ['MATRIC_INFERENCE_URL', 'localhost:11434', 'expected an http(s) URL'],
    ['MATRIC_WEBHOOK_ALLOW_PRIVATE', 'perhaps', 'expected true or false'],
    ['MATRIC_LINK_THRESHOLD', '1.5', 'expected a number between 0 and 1'],
    ['MATRIC_LINK_THRESHOLD', 'high', 'expected a number between 0 and 1'],
    ['MATRIC_MAX_BODY_BYTES', '10', 'expected an integer between 1024'],
    ['MATRIC_WORKER_CONCURRENCY', '0', 'expected an integer between 1 and 64'],
    ['MATRIC_JOB_MAX_RETRIES', 'lots', 'expected an integer between 0 and 20'],
    ['MATRIC_WEBHOOK_MEMORY_CONCURRENCY', '0', 'expected an integer between 1 and 1024'],
    ['MATRIC_WEBHOOK_RETRY_SCHEDULE_MS', '1000,soon', 'expected a comma list of non-negative integers'],
    ['MATRIC_SSE_KEEPALIVE_MS', '60000', 'expected an integer between 10 and 15000'],
    ['MATRIC_JWT_SECRET', 'short', 'too short (5 characters)'],
    ['MATRIC_WEBHOOK_SECRET_KEY', 'short', 'too short (5 characters)'],
    ['MATRIC_WEBHOOK_SECRET_KEY_PREVIOUS', 'x'.repeat(31), 'too short (31 characters)'],
    ['MATRIC_ALLOWED_ORIGINS', 'app.example.com', 'is not an origin'],
    ['MATRIC_ALLOWED_ORIGINS', 'https://app.example.com/path', 'is not an origin'],
    ['MATRIC_AUTH_OFF_ALLOW_REMOTE', 'sure', 'expected true or false'],
    ['MATRIC_JWT_AUDIENCE', 'event-stream', 'reserved for stream tokens'],
    ['MATRIC_DATABASE_URL', 'mysql://db.example/matric', 'expected postgres://'],
    ['MATRIC_DATABASE_URL', 'db.example:5432/matric', 'expected postgres://'],
    ['MATRIC_NODE_ID', 'node a', "expected 1-128 letters, digits"],
  ])('%s=%s', (name, value, expected) => {
    const problems = problemsOf({ [name]: value })
    expect(problems.length).toBe(1)
    expect(problems[0]).toStartWith(name)
    expect(problems[0]).toContain(expected)
  })

  test('the message names the bad value but never a secret', () => {
    expect(problemsOf({ PORT: 'abc' })[0]).toContain('"abc"')
    expect(problemsOf({ MATRIC_JWT_SECRET: 'hunter2' })[0]).not.toContain('hunter2')
    expect(problemsOf({ MATRIC_DATABASE_URL: 'mysql://u:hunter2@db.example/m' })[0]).not.toContain('hunter2')
  })

  test('MATRIC_DATABASE_URL chooses PostgreSQL; unset, the SQLite file', () => {
    expect(loadConfig({}).databaseUrl).toBeUndefined()
    expect(loadConfig({ MATRIC_DATABASE_URL: 'postgres://u:p@db.example:5432/matric' }).databaseUrl).toBe('postgres://u:p@db.example:5432/matric')
    expect(loadConfig({ MATRIC_DATABASE_URL: 'postgresql://db.example/matric' }).databaseUrl).toBe('postgresql://db.example/matric')
    expect(loadConfig({ MATRIC_NODE_ID: 'node-a' }).nodeId).toBe('node-a')
    expect(loadConfig({}).nodeId).toMatch(/^.+:\d+$/)
  })

  test('several problems are reported at once', () => {
    let err: unknown
    try {
      loadConfig({ PORT: 'abc', MATRIC_AUTH: 'maybe', MATRIC_LINK_THRESHOLD: '2', HOST: 'fine' })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    const ce = err as ConfigError
    expect(ce.problems.map((p) => p.split(/[=:]/)[0])).toEqual(['PORT', 'MATRIC_AUTH', 'MATRIC_LINK_THRESHOLD'])
    expect(ce.message).toStartWith('invalid configuration:')
    for (const p of ce.problems) expect(ce.message).toContain(p)
  })
})

describe('MATRIC_AUTH=off is local-only unless allowed', () => {
  test.each<[Record<string, string>, boolean]>([
    [{ MATRIC_AUTH: 'off' }, true], // default HOST=0.0.0.0
    [{ MATRIC_AUTH: 'off', HOST: '0.0.0.0' }, true],
    [{ MATRIC_AUTH: 'off', HOST: '::' }, true],
    [{ MATRIC_AUTH: 'off', HOST: '192.168.1.10' }, true],
    [{ MATRIC_AUTH: 'off', HOST: 'myhost.example' }, true],
    [{ MATRIC_AUTH: 'off', HOST: '0.0.0.0', MATRIC_AUTH_OFF_ALLOW_REMOTE: 'false' }, true],
    [{ MATRIC_AUTH: 'off', HOST: '127.0.0.1' }, false],
    [{ MATRIC_AUTH: 'off', HOST: '127.8.9.10' }, false],
    [{ MATRIC_AUTH: 'off', HOST: 'localhost' }, false],
    [{ MATRIC_AUTH: 'off', HOST: '::1' }, false],
    [{ MATRIC_AUTH: 'off', HOST: '0.0.0.0', MATRIC_AUTH_OFF_ALLOW_REMOTE: 'true' }, false],
    [{ HOST: '0.0.0.0' }, false], // auth required: any HOST
  ])('%j refused: %p', (env, refused) => {
    const problems = problemsOf(env)
    expect(problems.some((p) => p.startsWith('MATRIC_AUTH=off') && p.includes('MATRIC_AUTH_OFF_ALLOW_REMOTE=true') && p.includes('HOST=127.0.0.1'))).toBe(refused)
  })

  test.each<[string, boolean]>([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['::1', true],
    ['[::1]', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['', false],
    ['128.0.0.1', false],
    ['127.0.0.1.example.com', false],
    ['localhost.example.com', false],
    ['10.0.0.1', false],
  ])('isLoopbackHost(%j) = %p', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected)
  })
})

describe('startupWarnings', () => {
  const jwks = { MATRIC_JWKS_URL: 'https://idp.example/.well-known/jwks.json' }
  test.each<[Record<string, string>, RegExp[]]>([
    [{}, []],
    [jwks, [/MATRIC_JWT_AUDIENCE is unset/, /MATRIC_JWT_ISSUER is unset/]],
    [{ ...jwks, MATRIC_JWT_AUDIENCE: 'matric' }, [/MATRIC_JWT_ISSUER is unset/]],
    [{ ...jwks, MATRIC_JWT_AUDIENCE: 'matric', MATRIC_JWT_ISSUER: 'https://idp.example/' }, []],
    [{ MATRIC_AUTH: 'off', HOST: '127.0.0.1' }, [/MATRIC_AUTH=off/]],
    [{ MATRIC_AUTH: 'off', HOST: '0.0.0.0', MATRIC_AUTH_OFF_ALLOW_REMOTE: 'true' }, [/MATRIC_AUTH=off/, /every client that can reach 0\.0\.0\.0/]],
  ])('%j', (env, expected) => {
    const warnings = startupWarnings(loadConfig(env))
    expect(warnings.length).toBe(expected.length)
    expected.forEach((re, i) => expect(warnings[i]).toMatch(re))
  })
})
