import type { Config } from './config.ts'
import { authPlugin } from './auth/plugin.ts'
import { Revocations } from './auth/revocations.ts'
import { resolveSecret, type ResolvedSecret } from './auth/secret.ts'
import { createVerifier, type Verifier } from './auth/verify.ts'
import { EventBus } from './events/bus.ts'
import { LocalBroker, type Broker } from './events/broker.ts'
import { PgBroker } from './store/postgres/broker.ts'
import { SQL } from 'bun'
import { QueueStatusScheduler } from './events/queue-status.ts'
import { JobService } from './modules/jobs/service.ts'
import { JobPauses } from './modules/jobs/pause.ts'
import { Worker } from './modules/jobs/worker.ts'
import type { JobHandler } from './modules/jobs/handlers/types.ts'
import type { JobTypeName } from './events/catalog.ts'
import { NoteEvents } from './modules/notes/events.ts'
import { NoteService } from './modules/notes/service.ts'
import type { Stores } from './store/ports.ts'
import { openPostgresStores } from './store/postgres/index.ts'
import { openSqliteStores } from './store/sqlite/index.ts'
import type { Server } from 'bun'
import { createWebhooks, webhookKeys, type Webhooks } from './modules/webhooks/compose.ts'
import { CursorCodec } from './modules/realtime/cursor.ts'
import { SseHub } from './modules/realtime/sse-hub.ts'
import { WsHub } from './modules/realtime/ws-hub.ts'
import { McpLoader } from './modules/mcp/loader.ts'
import { createLogger, type Logger } from './telemetry/log.ts'
import { Metrics } from './telemetry/metrics.ts'
import { Tracing } from './telemetry/tracing.ts'
import { VERSION } from './version.ts'
import type { Lookup } from './modules/webhooks/ssrf.ts'
import { systemClock, type Clock } from './util/poll-loop.ts'

/** Live counts the transports register; read by /health and the Prometheus gauges. */
export interface LiveCounts {
  wsConnections: () => number
  sseConnections: () => number
  /** Deliveries waiting, as last read from the store (what the gauge reports; `readQueueDepth` refreshes it). */
  webhookQueueDepth: () => number
  /** Reads the webhook queue depth from the store now (/health, and /metrics before each scrape). */
  readQueueDepth: () => Promise<number>
}

/** Everything a module needs, built once per app (tests build several apps per process). */
export interface AppContext {
  config: Config
  /** Every store of the chosen backend (the embedded SQLite store by default). */
  stores: Stores
  logger: Logger
  metrics: Metrics
  /** OpenTelemetry traces (`tracing.enabled` false without an OTLP endpoint); see telemetry/tracing.ts. */
  tracing: Tracing
  secret: ResolvedSecret
  verifier: Verifier
  revocations: Revocations
  authPlugin: ReturnType<typeof authPlugin>
  bus: EventBus
  queueStatus: QueueStatusScheduler
  notes: Stores['notes']
  jobs: Stores['jobs']
  noteEvents: NoteEvents
  noteService: NoteService
  jobService: JobService
  /** Job processing pause/resume (global or per memory). */
  jobPauses: JobPauses
  worker: Worker
  startedAt: number
  /** Resolver of webhook target names (SSRF guard and pinned connection); undefined = the OS resolver. */
  webhookLookup: Lookup | undefined
  /** Extra CA certificates (PEM) trusted for https webhook targets (tests with a self-signed receiver). */
  webhookTlsCa: string | undefined
  /** Time for the job worker and the webhook outbox. */
  clock: Clock
  /** Live counts the transports register (health and gauges). */
  live: LiveCounts
  /** The webhook store, outbox and service. */
  webhooks: Webhooks
  /** The SSE fan-out. */
  sse: SseHub
  /** The WebSocket (HotM) fan-out. */
  ws: WsHub
  /** The MCP endpoint's hub (loaded on the first /mcp request). */
  mcp: McpLoader
  /** Tells the WebSocket hub how to reach the listening server (known once the app is built). */
  bindServer: (get: () => Server<unknown> | null) => void
  /** Starts the background work: the job worker and the webhook outbox. */
  start: () => Promise<void>
  close: () => Promise<void>
}

export interface ContextOptions {
  logger?: Logger
  /** Replace job handlers (tests of failure paths). */
  handlers?: Partial<Record<JobTypeName, JobHandler>>
  /** Replace the resolver of webhook target names (tests: names that resolve to chosen addresses). */
  webhookLookup?: Lookup
  /** Trust this CA (PEM) for https webhook targets as well (tests: a self-signed receiver). */
  webhookTlsCa?: string
  /** Time for the job worker and the webhook outbox (tests of retries and schedules move it by hand). */
  clock?: Clock
}

/**
 * The composition root: opens the store and builds every long-lived part (bus, broker, hubs, outbox, worker) here
 * and only here; `start()` starts the background work and `close()` stops everything in order.
 */
export async function createContext(config: Config, opts: ContextOptions = {}): Promise<AppContext> {
  const logger = opts.logger ?? createLogger(config.logLevel)
  const keys = webhookKeys({ config, logger })
  const retention = { count: config.events.retentionCount, hours: config.events.retentionHours, maxTotal: config.events.retentionMaxTotal }
  // The one place the backend is chosen: PostgreSQL when MATRIC_DATABASE_URL is set, else the embedded file.
  if (config.databaseUrl) logger.addSecrets(config.databaseUrl, decodeURIComponent(new URL(config.databaseUrl).password))
  const stores: Stores = config.databaseUrl
    ? await openPostgresStores(config.databaseUrl, { retention, box: keys.box, logger })
    : await openSqliteStores(config.dbPath, { retention, box: keys.box, logger, exclusive: true })
  const metrics = new Metrics()
  const secret = resolveSecret(config.jwtSecret, config.dataDir)
  // Whatever a log line quotes, these values never appear in it.
  logger.addSecrets(
    config.jwtSecret,
    new TextDecoder().decode(secret.key),
    config.inference.apiKey,
    ...Object.values(config.telemetry.traces.headers),
  )
  const tracing = new Tracing(config.telemetry, { logger, serviceVersion: VERSION })
  if (config.databaseUrl && (!config.jwtSecret || !config.webhooks.secretKey)) {
    // Each instance would make its own in its data dir: tokens and sealed webhook secrets of one would not open on another.
    logger.warn('MATRIC_DATABASE_URL without MATRIC_JWT_SECRET and MATRIC_WEBHOOK_SECRET_KEY: several instances on this database need the same values (docs/cluster.md)')
  }
  const revocations = await Revocations.load(stores.revocations)
  const verifier = createVerifier({
    secret: secret.key,
    jwksUrl: config.jwksUrl,
    audience: config.jwtAudience,
    issuer: config.jwtIssuer,
    isRevoked: (jti) => revocations.has(jti),
    onJwksUnavailable: (err) => logger.warn('JWKS unavailable: RS256/ES256 tokens are refused with 503 until it answers', { err }),
  })
  const { notes, jobs } = stores
  const startSeq = await stores.events.lastSeq()
  // On PostgreSQL every instance of the database is one service: batches and signals cross instances
  // (docs/cluster.md). The broker has a pool of its own: its LISTEN connection, and NOTIFYs that never queue
  // behind the store's queries.
  const pgBroker = config.databaseUrl
    ? new PgBroker({ sql: new SQL(config.databaseUrl, { max: 2 }), log: stores.events, nodeId: config.nodeId, startSeq, logger })
    : undefined
  const broker: Broker = pgBroker ?? new LocalBroker()
  const bus = new EventBus({ log: stores.events, startSeq, metrics, logger, tracing, tenantId: config.tenantId, broker })
  revocations.announceWith((jti) => broker.signal('revoked', jti))
  broker.onSignal('revoked', (jti) => {
    if (jti !== null) revocations.heard(jti)
    else revocations.reload().catch((err: unknown) => logger.error('reloading revocations failed', { err }))
  })
  // What the transports have clients on, read when asked (the hubs are built below): the memories (a global pause
  // is announced to them) and each memory's tag groups (their QueueStatus counts are taken with the memory's).
  const openMemories = (): string[] => [...sse.memories(), ...ctx.ws.memories(), ...ctx.mcp.memories()]
  const restrictionsOf = (m: string): (readonly string[])[] => [...sse.restrictions(m), ...ctx.ws.restrictions(m)]
  const queueStatus = new QueueStatusScheduler(
    bus,
    (m, r) => jobs.counts(m, r),
    config.events.queueStatusIntervalMs,
    restrictionsOf,
    (err) => logger.error('QueueStatus counts failed', { err }),
  )
  const noteEvents = new NoteEvents(bus, notes)
  let worker: Worker | undefined
  const jobService = new JobService({ jobs, notes, bus, queueStatus, maxRetries: config.worker.maxRetries, wake: () => worker?.wake() })
  worker = new Worker({ config, jobs, notes, service: jobService, noteEvents, logger, handlers: opts.handlers, clock: opts.clock })
  const noteService = new NoteService({ notes, jobs, jobService, events: noteEvents })
  const jobPauses = new JobPauses(
    stores.pauses,
    bus,
    () => {
      worker?.wake()
      broker.signal('jobs', 'resumed')
    },
    openMemories,
  )
  broker.onSignal('jobs', () => worker?.wake())

  // Long-lived parts with lifecycles, built here and only here (controllers are side-effect free).
  let webhooks: Webhooks
  try {
    webhooks = await createWebhooks({
      config,
      store: stores.webhooks,
      keys,
      compactable: stores.kind === 'sqlite' && config.dbPath !== ':memory:',
      bus,
      metrics,
      logger,
      tracing,
      clock: opts.clock ?? systemClock,
      queueCounts: (m) => jobs.counts(m),
      lookup: opts.webhookLookup,
      tlsCa: opts.webhookTlsCa,
    })
  } catch (e) {
    // e.g. webhook secrets sealed with an unknown key (a ConfigError): nothing is left open.
    await metrics.shutdown()
    await broker.close()
    await stores.close()
    throw e
  }
  webhooks.outbox.announceWith((memory) => broker.signal('webhooks', memory))
  broker.onSignal('webhooks', (memory) => {
    webhooks.outbox.heard(memory).catch((err: unknown) => logger.error('refreshing the webhook index failed', { memory, err }))
  })
  const sse = new SseHub({
    bus,
    log: stores.events,
    revocations,
    metrics,
    logger,
    config: config.sse,
    cursors: new CursorCodec(secret.key),
    queueCounts: (memory, tags) => jobs.counts(memory, tags),
    tenantId: config.tenantId,
  })
  let serverOf: () => Server<unknown> | null = () => null
  let queueDepth = 0
  const live: LiveCounts = {
    wsConnections: () => 0,
    sseConnections: () => sse.count,
    webhookQueueDepth: () => queueDepth,
    readQueueDepth: async () => (queueDepth = await webhooks.store.queueDepth()),
  }

  let closed = false
  let started = false
  const ctx: AppContext = {
    config,
    stores,
    logger,
    metrics,
    tracing,
    secret,
    verifier,
    revocations,
    authPlugin: authPlugin({ verifier, authMode: config.authMode, tenantId: config.tenantId, allowedOrigins: config.allowedOrigins }),
    bus,
    queueStatus,
    notes,
    jobs,
    noteEvents,
    noteService,
    jobService,
    jobPauses,
    worker,
    startedAt: Date.now(),
    webhookLookup: opts.webhookLookup,
    webhookTlsCa: opts.webhookTlsCa,
    clock: opts.clock ?? systemClock,
    live,
    webhooks,
    sse,
    ws: undefined as unknown as WsHub, // set right below: the hub reads the context
    mcp: undefined as unknown as McpLoader, // likewise
    bindServer: (get) => void (serverOf = get),
    start: async () => {
      if (started) return
      started = true
      await worker.start()
      await webhooks.outbox.start()
    },
    close: async () => {
      if (closed) return
      closed = true
      // Events already published are logged and delivered before the transports close.
      queueStatus.stop()
      await bus.flush()
      for (const fn of [() => ctx.mcp.shutdown(), () => ctx.ws.shutdown(), () => webhooks.outbox.stop(), () => sse.shutdown()]) {
        try {
          await fn()
        } catch (err) {
          logger.error('shutdown step failed', { err })
        }
      }
      await bus.flush() // anything a shutdown hook published (nothing reaches the transports now; it is logged)
      await bus.committed() // and the durable work it set off (delivery rows)
      await broker.close()
      // After the modules' hooks (their last spans are ended), before the store goes away.
      await tracing.shutdown()
      await metrics.shutdown()
      await stores.close()
    },
  }
  ctx.ws = new WsHub(ctx, () => serverOf())
  live.wsConnections = () => ctx.ws.count
  ctx.mcp = new McpLoader({ ...ctx, events: stores.events })
  // Read at scrape time.
  metrics.gauge('matric_ws_connections_active', 'Open WebSocket connections', () => live.wsConnections())
  metrics.gauge('matric_sse_connections_active', 'Open SSE streams', () => live.sseConnections())
  metrics.gauge('matric_webhook_queue_depth', 'Webhook deliveries waiting (pending or retrying)', () => live.webhookQueueDepth())
  // LISTEN before serving: from here on no wake-up is missed (and the first LISTEN catches up anyway).
  try {
    await pgBroker?.start()
  } catch (e) {
    await ctx.close()
    throw e
  }
  return ctx
}
