import { hostname } from 'node:os'
import { join } from 'node:path'
import { STREAM_AUDIENCE } from './auth/principal.ts'
import { isLoopbackHost } from './http/origin.ts'
import type { LogLevel } from './telemetry/log.ts'
import { readTelemetryConfig, type TelemetryConfig } from './telemetry/otel-env.ts'

/** Typed, validated configuration. Built from the environment once at start (README.md#configuration + README). */
export interface Config {
  port: number
  host: string
  dataDir: string
  dbPath: string
  /** MATRIC_DATABASE_URL: every store on this PostgreSQL database instead of the SQLite file (a secret: never logged). */
  databaseUrl: string | undefined
  /** HS256 secret; undefined means "generate or load one from the data dir" (see auth/secret.ts). */
  jwtSecret: string | undefined
  jwksUrl: string | undefined
  /** When set, every token except stream tokens must carry one of these in `aud` (HS256 and JWKS alike). */
  jwtAudience: string[] | undefined
  /** When set, every token must carry this `iss` (the server signs its own tokens with it). */
  jwtIssuer: string | undefined
  authMode: 'required' | 'off'
  /** The tenant this deployment serves: `tenant_id` of every envelope; tokens naming another tenant are refused. */
  tenantId: string
  /** MATRIC_AUTH=off is refused on a non-loopback HOST unless this is true. */
  authOffAllowRemote: boolean
  allowedOrigins: string[] | undefined
  logLevel: LogLevel
  maxBodyBytes: number
  /** This instance's name (MATRIC_NODE_ID; default host:pid): the owner of its job and delivery leases, shown by /health. */
  nodeId: string

  worker: {
    /** How long a claimed job stays this instance's without a heartbeat (renewed every third of it). */
    leaseMs: number
    concurrency: number
    maxRetries: number
    retryBaseMs: number
    pollMs: number
  }
  linkThreshold: number
  maxLinks: number
  inference: {
    url: string | undefined
    model: string
    apiKey: string | undefined
    timeoutMs: number
  }

  events: {
    retentionCount: number
    retentionHours: number
    /** Backstop across all memories (per-memory retention alone grows with the number of memories). */
    retentionMaxTotal: number
    queueStatusIntervalMs: number
  }
  ws: {
    maxConnections: number
    backpressureLimit: number
    maxPayloadBytes: number
    idleTimeoutS: number
  }
  sse: {
    keepaliveMs: number
    queueLimit: number
    retryMs: number
    streamTokenTtlS: number
  }
  webhooks: {
    allowPrivate: boolean
    timeoutMs: number
    /** Delays in ms before attempt 2, 3, … (the last one repeats). */
    retryScheduleMs: number[]
    concurrency: number
    perEndpointConcurrency: number
    /** Attempts in flight per memory (default: half of `concurrency`), so one memory never holds every slot. */
    perMemoryConcurrency: number
    pollMs: number
    /**
     * A claimed delivery stays this instance's for the attempt's deadline plus this margin (recording the outcome);
     * after that another instance may take it over (docs/architecture.md#leases). Also how often expired leases are
     * looked for.
     */
    leaseMarginMs: number
    createPerMinute: number
    maxPerMemory: number
    disableAfterFailures: number
    /** Key material for webhook secrets at rest; undefined = the key file in the data dir (see webhooks/secret-box.ts). */
    secretKey: string | undefined
    /** A previous key, still accepted for reading (rotation of an env-provided key). */
    secretKeyPrevious: string | undefined
  }
  mcp: {
    /** Concurrent MCP sessions on this instance; an initialize beyond it is refused (503). */
    maxSessions: number
    /** Sessions one principal may hold; beyond it, its least recently used session without an open stream ends. */
    maxSessionsPerPrincipal: number
    /** A session with no request and no open stream for this long is ended. */
    sessionIdleS: number
    /** Messages each session keeps for `Last-Event-ID` resumption (oldest dropped first). */
    replayEvents: number
    /** OAuth authorization server named in /.well-known/oauth-protected-resource (with MATRIC_JWKS_URL). */
    oauthIssuer: string | undefined
    /** Put in front of this instance's session ids (`<route>.<uuid>`) so a load balancer can route on it. */
    sessionRoute: string | undefined
  }
  /** Standard OTEL_* variables (tracing export, service name); see telemetry/otel-env.ts. */
  telemetry: TelemetryConfig
}

export type { LogLevel }

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

/** Reads and validates the environment; throws ConfigError listing every bad value at once. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = []
  const r = new Reader(env, problems)

  const dataDir = r.str('MATRIC_DATA_DIR', './data')
  const webhookConcurrency = r.int('MATRIC_WEBHOOK_CONCURRENCY', 16, 1, 1024)
  const cfg: Config = {
    port: r.int('PORT', 3000, 0, 65535),
    host: r.str('HOST', '0.0.0.0'),
    dataDir,
    dbPath: r.str('MATRIC_DB_PATH', join(dataDir, 'matric.db')),
    databaseUrl: r.postgresUrl('MATRIC_DATABASE_URL'),
    jwtSecret: r.secret('MATRIC_JWT_SECRET', 32),
    jwksUrl: r.url('MATRIC_JWKS_URL'),
    jwtAudience: r.list('MATRIC_JWT_AUDIENCE'),
    jwtIssuer: r.optional('MATRIC_JWT_ISSUER'),
    authMode: r.oneOf('MATRIC_AUTH', ['required', 'off'] as const, 'required'),
    tenantId: r.name('MATRIC_TENANT_ID', 'default'),
    authOffAllowRemote: r.bool('MATRIC_AUTH_OFF_ALLOW_REMOTE', false),
    allowedOrigins: r.origins('MATRIC_ALLOWED_ORIGINS'),
    logLevel: r.oneOf('MATRIC_LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
    maxBodyBytes: r.int('MATRIC_MAX_BODY_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    nodeId: r.nodeId('MATRIC_NODE_ID', `${hostname()}:${process.pid}`),
    worker: {
      leaseMs: r.int('MATRIC_JOB_LEASE_MS', 30_000, 1000, 3_600_000),
      concurrency: r.int('MATRIC_WORKER_CONCURRENCY', 4, 1, 64),
      maxRetries: r.int('MATRIC_JOB_MAX_RETRIES', 3, 0, 20),
      retryBaseMs: r.int('MATRIC_JOB_RETRY_BASE_MS', 1000, 1, 3_600_000),
      pollMs: r.int('MATRIC_WORKER_POLL_MS', 1000, 10, 60_000),
    },
    linkThreshold: r.num('MATRIC_LINK_THRESHOLD', 0.3, 0, 1),
    maxLinks: r.int('MATRIC_MAX_LINKS', 5, 1, 100),
    inference: {
      url: r.url('MATRIC_INFERENCE_URL'),
      model: r.str('MATRIC_INFERENCE_MODEL', 'gpt-4o-mini'),
      apiKey: r.optional('MATRIC_INFERENCE_API_KEY'),
      timeoutMs: r.int('MATRIC_INFERENCE_TIMEOUT_MS', 60_000, 100, 600_000),
    },
    events: {
      retentionCount: r.int('MATRIC_EVENT_RETENTION_COUNT', 10_000, 100, 10_000_000),
      retentionHours: r.num('MATRIC_EVENT_RETENTION_HOURS', 24, 0.01, 24 * 365),
      retentionMaxTotal: r.int('MATRIC_EVENT_RETENTION_MAX_TOTAL', 1_000_000, 1000, 1_000_000_000),
      queueStatusIntervalMs: r.int('MATRIC_QUEUE_STATUS_INTERVAL_MS', 2000, 10, 60_000),
    },
    ws: {
      maxConnections: r.int('MATRIC_WS_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
      backpressureLimit: r.int('MATRIC_WS_BACKPRESSURE_BYTES', 1024 * 1024, 1024, 256 * 1024 * 1024),
      maxPayloadBytes: r.int('MATRIC_WS_MAX_MESSAGE_BYTES', 4096, 16, 1024 * 1024),
      idleTimeoutS: r.int('MATRIC_WS_IDLE_TIMEOUT_S', 120, 5, 960),
    },
    sse: {
      keepaliveMs: r.int('MATRIC_SSE_KEEPALIVE_MS', 15_000, 10, 15_000),
      queueLimit: r.int('MATRIC_SSE_QUEUE_LIMIT', 1000, 1, 1_000_000),
      retryMs: r.int('MATRIC_SSE_RETRY_MS', 3000, 0, 600_000),
      streamTokenTtlS: r.int('MATRIC_STREAM_TOKEN_TTL_S', 300, 10, 86_400),
    },
    webhooks: {
      allowPrivate: r.bool('MATRIC_WEBHOOK_ALLOW_PRIVATE', false),
      timeoutMs: r.int('MATRIC_WEBHOOK_TIMEOUT_MS', 10_000, 10, 120_000),
      retryScheduleMs: r.intList('MATRIC_WEBHOOK_RETRY_SCHEDULE_MS', [1000, 5000, 25_000, 125_000, 625_000]),
      concurrency: webhookConcurrency,
      perEndpointConcurrency: r.int('MATRIC_WEBHOOK_ENDPOINT_CONCURRENCY', 4, 1, 256),
      perMemoryConcurrency: r.int('MATRIC_WEBHOOK_MEMORY_CONCURRENCY', Math.max(1, Math.floor(webhookConcurrency / 2)), 1, 1024),
      pollMs: r.int('MATRIC_WEBHOOK_POLL_MS', 500, 10, 60_000),
      leaseMarginMs: r.int('MATRIC_WEBHOOK_LEASE_MARGIN_MS', 30_000, 100, 3_600_000),
      createPerMinute: r.int('MATRIC_WEBHOOK_CREATE_PER_MINUTE', 30, 1, 100_000),
      maxPerMemory: r.int('MATRIC_WEBHOOK_MAX_PER_MEMORY', 100, 1, 100_000),
      disableAfterFailures: r.int('MATRIC_WEBHOOK_DISABLE_AFTER', 10, 1, 1000),
      secretKey: r.secret('MATRIC_WEBHOOK_SECRET_KEY', 32),
      secretKeyPrevious: r.secret('MATRIC_WEBHOOK_SECRET_KEY_PREVIOUS', 32),
    },
    mcp: {
      maxSessions: r.int('MATRIC_MCP_MAX_SESSIONS', 1000, 1, 100_000),
      maxSessionsPerPrincipal: r.int('MATRIC_MCP_MAX_SESSIONS_PER_PRINCIPAL', 20, 1, 100_000),
      sessionIdleS: r.int('MATRIC_MCP_SESSION_IDLE_S', 1800, 1, 86_400),
      replayEvents: r.int('MATRIC_MCP_REPLAY_EVENTS', 1000, 10, 100_000),
      oauthIssuer: r.url('MATRIC_OAUTH_ISSUER'),
      sessionRoute: sessionRoute(r.optional('MATRIC_MCP_SESSION_ROUTE'), problems),
    },
    telemetry: readTelemetryConfig(env, problems),
  }
  if (cfg.jwtAudience?.includes(STREAM_AUDIENCE))
    problems.push(`MATRIC_JWT_AUDIENCE: "${STREAM_AUDIENCE}" is reserved for stream tokens (POST /api/v1/events/tokens); name this API's own audience`)
  // Local mode makes every anonymous request an admin of every memory: only for this machine, unless asked.
  if (cfg.authMode === 'off' && !cfg.authOffAllowRemote && !isLoopbackHost(cfg.host))
    problems.push(
      `MATRIC_AUTH=off with HOST=${cfg.host} would make anyone who can reach this port an admin of every memory; ` +
        'bind a loopback address (HOST=127.0.0.1), or set MATRIC_AUTH_OFF_ALLOW_REMOTE=true if something in front of the service authenticates',
    )
  if (problems.length) throw new ConfigError(problems)
  return cfg
}

export { isLoopbackHost }

/** Things that work but deserve a loud line at start (logged as warnings by src/index.ts). */
export function startupWarnings(cfg: Config): string[] {
  const out: string[] = []
  if (cfg.jwksUrl && !cfg.jwtAudience)
    out.push('MATRIC_JWT_AUDIENCE is unset: tokens from the JWKS provider are accepted whatever their audience (aud), also tokens it issued for other applications; set it to this API\'s audience')
  if (cfg.jwksUrl && !cfg.jwtIssuer)
    out.push('MATRIC_JWT_ISSUER is unset: tokens signed with the JWKS keys are accepted whatever their issuer (iss); set it to the provider\'s issuer URL')
  if (cfg.authMode === 'off') {
    out.push('MATRIC_AUTH=off: requests without a token act as an admin of every memory')
    if (!isLoopbackHost(cfg.host))
      out.push(`MATRIC_AUTH_OFF_ALLOW_REMOTE=true: every client that can reach ${cfg.host} is an admin of every memory unless something in front authenticates`)
  }
  return out
}

/** MATRIC_MCP_SESSION_ROUTE: 1–32 letters, digits, `_` or `-` (it ends at the first `.` of a session id). */
function sessionRoute(raw: string | undefined, problems: string[]): string | undefined {
  if (raw === undefined) return undefined
  if (/^[A-Za-z0-9_-]{1,32}$/.test(raw)) return raw
  problems.push(`MATRIC_MCP_SESSION_ROUTE=${JSON.stringify(raw)}: expected 1-32 letters, digits, '_' or '-'`)
  return undefined
}

class Reader {
  constructor(
    private env: Env,
    private problems: string[],
  ) {}

  optional(name: string): string | undefined {
    const v = this.env[name]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }

  str(name: string, def: string): string {
    return this.optional(name) ?? def
  }

  /** An instance name: letters, digits, `_ . : @ -`, 1–128 characters, starting with a letter or digit. */
  nodeId(name: string, def: string): string {
    const raw = this.optional(name)
    if (raw === undefined) return def
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/.test(raw)) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected 1-128 letters, digits, '_', '.', ':', '@' or '-', starting with a letter or digit`)
      return def
    }
    return raw
  }

  /** An identifier: letters, digits, `_ . -`, 1–64 characters, starting with a letter or digit. */
  name(name: string, def: string): string {
    const raw = this.optional(name)
    if (raw === undefined) return def
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(raw)) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`)
      return def
    }
    return raw
  }

  num(name: string, def: number, min: number, max: number): number {
    const raw = this.optional(name)
    if (raw === undefined) return def
    const n = Number(raw)
    if (!Number.isFinite(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected a number between ${min} and ${max}`)
      return def
    }
    return n
  }

  int(name: string, def: number, min: number, max: number): number {
    const raw = this.optional(name)
    if (raw === undefined) return def
    if (!/^-?\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected an integer between ${min} and ${max}`)
      return def
    }
    return Number(raw)
  }

  intList(name: string, def: number[]): number[] {
    const raw = this.optional(name)
    if (raw === undefined) return def
    const parts = raw.split(',').map((s) => s.trim())
    if (!parts.length || parts.some((p) => !/^\d+$/.test(p))) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected a comma list of non-negative integers (milliseconds)`)
      return def
    }
    return parts.map(Number)
  }

  bool(name: string, def: boolean): boolean {
    const raw = this.optional(name)?.toLowerCase()
    if (raw === undefined) return def
    if (['true', '1', 'yes', 'on'].includes(raw)) return true
    if (['false', '0', 'no', 'off'].includes(raw)) return false
    this.problems.push(`${name}=${JSON.stringify(raw)}: expected true or false`)
    return def
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], def: T): T {
    const raw = this.optional(name)
    if (raw === undefined) return def
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected one of ${allowed.join(', ')}`)
      return def
    }
    return raw as T
  }

  url(name: string): string | undefined {
    const raw = this.optional(name)
    if (raw === undefined) return undefined
    try {
      const u = new URL(raw)
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme')
      return raw
    } catch {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected an http(s) URL`)
      return undefined
    }
  }

  /** A postgres:// (or postgresql://) URL; it may hold a password, so the value never appears in a message. */
  postgresUrl(name: string): string | undefined {
    const raw = this.optional(name)
    if (raw === undefined) return undefined
    let ok = false
    try {
      const u = new URL(raw)
      ok = (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.hostname !== ''
    } catch {
      // not a URL
    }
    if (!ok) this.problems.push(`${name}: expected postgres://[user[:password]@]host[:port]/database (value not shown: it may hold a password)`)
    return ok ? raw : undefined
  }

  /** A secret of at least `minLength` characters; the value itself never appears in a message. */
  secret(name: string, minLength: number): string | undefined {
    const raw = this.optional(name)
    if (raw !== undefined && raw.length < minLength) {
      this.problems.push(`${name}: too short (${raw.length} characters); use at least ${minLength} random characters, e.g. \`openssl rand -base64 48\``)
      return undefined
    }
    return raw
  }

  /** Comma list of browser origins (`https://app.example.com[:port]`), normalised as browsers send them. */
  origins(name: string): string[] | undefined {
    const items = this.list(name)
    if (items === undefined) return undefined
    const out: string[] = []
    for (const item of items) {
      let origin: string | undefined
      try {
        const u = new URL(item)
        if ((u.protocol === 'http:' || u.protocol === 'https:') && (u.pathname === '/' || u.pathname === '') && !u.search && !u.hash && !u.username)
          origin = u.origin
      } catch {
        // reported below
      }
      if (!origin) {
        this.problems.push(`${name}: ${JSON.stringify(item)} is not an origin; expected scheme://host[:port], e.g. https://app.example.com`)
        continue
      }
      out.push(origin)
    }
    return out
  }

  list(name: string): string[] | undefined {
    const raw = this.optional(name)
    if (raw === undefined) return undefined
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  }
}
