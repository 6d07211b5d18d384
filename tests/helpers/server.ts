import type { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../../src/app.ts'
import { localClaims, signToken, type TokenClaims } from '../../src/auth/sign.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { createContext, type AppContext, type ContextOptions } from '../../src/context.ts'
import type { SqliteStores } from '../../src/store/sqlite/index.ts'
import { createLogger, type Logger } from '../../src/telemetry/log.ts'
import { apiRequest, type RequestInit } from './http.ts'

export const TEST_SECRET = 'test-secret-for-matric-realtime-0123456789abcdef'

export interface TestServer {
  ctx: AppContext
  /** The embedded store's connection (these tests run on SQLite): for looking at rows directly. */
  db: Database
  app: ReturnType<typeof createApp>
  config: Config
  port: number
  url: string
  wsUrl: string
  dataDir: string
  /** Signs a token with the server's secret. Defaults: sub "tester", scope "admin", memory "default", 1 h, the configured aud/iss. */
  token(claims?: Partial<TokenClaims>): Promise<string>
  /** fetch against the server with an optional bearer token and JSON body. */
  request(path: string, init?: RequestInit): Promise<Response>
  stop(): Promise<void>
}

export interface StartOptions extends ContextOptions {
  env?: Record<string, string>
  /** Reuse a data dir (restart tests); a new temp dir otherwise. */
  dataDir?: string
  /** Keep the data dir on stop (for a restart). */
  keepDataDir?: boolean
  logger?: Logger
}

/** Starts the real app in-process on a free port with its own data dir. */
export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'matric-test-'))
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    MATRIC_DATA_DIR: dataDir,
    MATRIC_JWT_SECRET: TEST_SECRET,
    MATRIC_LOG_LEVEL: 'error',
    MATRIC_JOB_RETRY_BASE_MS: '20',
    MATRIC_QUEUE_STATUS_INTERVAL_MS: '50',
    MATRIC_WORKER_POLL_MS: '50',
    ...opts.env,
  })
  const ctx = await createContext(config, { logger: opts.logger ?? createLogger(config.logLevel), handlers: opts.handlers, webhookLookup: opts.webhookLookup, webhookTlsCa: opts.webhookTlsCa, clock: opts.clock })
  const app = createApp(ctx)
  app.listen({ port: 0, hostname: '127.0.0.1' })
  const port = app.server!.port!
  await ctx.start()
  const url = `http://127.0.0.1:${port}`
  const key = ctx.secret.key
  const server: TestServer = {
    ctx,
    db: (ctx.stores as SqliteStores).db,
    app,
    config,
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}/api/v1/ws`,
    dataDir,
    token: (c = {}) => signToken(key, { sub: 'tester', scope: 'admin', memory: 'default', ttlS: 3600, ...localClaims(config), ...c }),
    request: (path, init) => apiRequest(url, path, init),
    stop: async () => {
      await ctx.worker.stop(2000)
      await ctx.close()
      await app.stop(true)
      if (!opts.keepDataDir && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
  return server
}
