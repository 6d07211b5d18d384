import { SQL } from 'bun'
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
import { createTestDatabase, type TestDatabase } from './pg-admin.ts'

export const TEST_SECRET = 'test-secret-for-matric-realtime-0123456789abcdef'

/**
 * The store the integration tests run on: SQLite (the embedded default), or PostgreSQL when
 * MATRIC_TEST_BACKEND=postgres (the second pass of `npm test`, scripts/test.ts).
 */
export const TEST_BACKEND: 'sqlite' | 'postgres' = process.env.MATRIC_TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite'
export const onPostgres = TEST_BACKEND === 'postgres'

/**
 * Test databases are named after the test process, so that the runner can drop what a crashed or timed-out
 * file left behind (scripts/test.ts) without touching the databases of other runs.
 */
export const TEST_DB_PREFIX = `matric_it_${process.pid}_`

/** Data dir → its PostgreSQL database (a restart on the same dir finds the same store). */
const databases = new Map<string, Promise<TestDatabase>>()

/**
 * The environment that puts a server on `dataDir`'s store on the test backend: nothing on SQLite (the file is in the
 * dir); on PostgreSQL `MATRIC_DATABASE_URL` of a fresh database for that dir, created on first use and reused by a
 * restart on the same dir. For child processes (`spawnServer`) as well; free it with `dropBackend(dataDir)`.
 */
export async function backendEnv(dataDir: string): Promise<Record<string, string>> {
  if (!onPostgres) return {}
  let db = databases.get(dataDir)
  if (!db) {
    db = createTestDatabase(TEST_DB_PREFIX)
    databases.set(dataDir, db)
    db.catch(() => databases.delete(dataDir))
  }
  return { MATRIC_DATABASE_URL: (await db).url }
}

/** Drops the PostgreSQL database of `dataDir`, if it has one (a no-op on SQLite). */
export async function dropBackend(dataDir: string): Promise<void> {
  const db = databases.get(dataDir)
  if (!db) return
  databases.delete(dataDir)
  await (await db).drop()
}

export interface TestServer {
  ctx: AppContext
  /**
   * The embedded store's connection, for looking at rows directly: SQLite only (it throws on PostgreSQL). A test
   * that runs on both backends reads through the ports (`ctx.stores`) instead.
   */
  db: Database
  /**
   * Rows of a query on the server's store, on either backend (both schemas name tables and columns alike): `?`
   * placeholders, run on the SQLite connection or on a connection of the server's PostgreSQL database.
   */
  query<T = Record<string, unknown>>(text: string, ...params: unknown[]): Promise<T[]>
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
  /** Reuse a data dir (restart tests): on PostgreSQL, its database too; a new temp dir (and database) otherwise. */
  dataDir?: string
  /**
   * Keep the store on stop, for a restart on the same `dataDir`: the temp dir (one the helper made) and, on
   * PostgreSQL, the database. Without it the database is dropped on stop; a dir passed in is never removed.
   */
  keepDataDir?: boolean
  logger?: Logger
}

/** Starts the real app in-process on a free port with its own data dir (and, on PostgreSQL, database). */
export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'matric-test-'))
  const release = async () => {
    if (!opts.keepDataDir) await dropBackend(dataDir)
    if (!opts.keepDataDir && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    return await start(opts, dataDir, release)
  } catch (err) {
    await release().catch(() => {})
    throw err
  }
}

async function start(opts: StartOptions, dataDir: string, release: () => Promise<void>): Promise<TestServer> {
  const config = loadConfig({
    ...(opts.env?.MATRIC_DATABASE_URL === undefined ? await backendEnv(dataDir) : {}),
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
  let pg: SQL | undefined
  const query = async <T,>(text: string, ...params: unknown[]): Promise<T[]> => {
    if (ctx.stores.kind === 'sqlite') return (ctx.stores as SqliteStores).db.query(text).all(...(params as never[])) as T[]
    pg ??= new SQL(config.databaseUrl!, { max: 1 })
    let n = 0
    return [...(await pg.unsafe<T[]>(text.replace(/\?/g, () => `$${++n}`), params))]
  }
  const server: TestServer = {
    ctx,
    get db(): Database {
      if (ctx.stores.kind !== 'sqlite') throw new Error('TestServer.db is the SQLite connection: on PostgreSQL read through ctx.stores, or keep the test SQLite-only')
      return (ctx.stores as SqliteStores).db
    },
    query,
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
      await pg?.close()
      await release()
    },
  }
  return server
}
