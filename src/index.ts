import { createApp } from './app.ts'
import { ConfigError, loadConfig, startupWarnings, type Config } from './config.ts'
import { localClaims, signToken } from './auth/sign.ts'
import { createContext, type AppContext } from './context.ts'
import { createLogger } from './telemetry/log.ts'
import { VERSION } from './version.ts'

/** Starts the service: config → context → app → listen → worker; graceful shutdown on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`matric-realtime: ${e.message}\n`)
      process.exit(2)
    }
    throw e
  }
  const logger = createLogger(config.logLevel)
  let ctx: AppContext
  let app: ReturnType<typeof createApp>
  try {
    ctx = await createContext(config, { logger })
    app = createApp(ctx)
  } catch (e) {
    // A part refused what it found at start (e.g. webhook secrets sealed with an unknown key); createContext
    // closed what it had opened.
    if (e instanceof ConfigError) {
      process.stderr.write(`matric-realtime: ${e.message}\n`)
      process.exit(2)
    }
    throw e
  }
  // Before listening: a SIGTERM that arrives as soon as `listening` is logged must close the store too (it
  // used to kill the process with the default handler, exit 143, when it came before the registration).
  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info('shutting down', { signal })
    // Stop accepting connections, let running jobs finish (bounded), tell WebSocket/SSE clients
    // (1012 / end of stream), then close the store.
    void app.server?.stop(false)
    await ctx.worker.stop(5000)
    await ctx.close()
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
  app.listen({ port: config.port, hostname: config.host })
  const port = app.server!.port
  // `auth_mode`, not `auth`: the log redacts fields named like credentials (`auth` among them).
  logger.info('listening', { version: VERSION, host: config.host, port, store: config.databaseUrl ? 'postgres' : config.dbPath, node_id: config.nodeId, auth_mode: config.authMode })
  for (const w of startupWarnings(config)) logger.warn(w)
  await ctx.start()

  if (ctx.secret.source !== 'env') {
    // The one place a token is printed, on purpose: a ready-to-use local admin token for the generated
    // secret. It goes to stderr as plain text, never through the JSON log.
    const token = await signToken(ctx.secret.key, { sub: 'local-admin', scope: 'admin', memory: '*', ttlS: 30 * 86_400, ...localClaims(config) })
    const first = ctx.secret.source === 'generated' ? 'generated a new JWT secret in ' + ctx.secret.path : 'using the JWT secret in ' + ctx.secret.path
    process.stderr.write(`\nmatric-realtime: ${first}\nLocal admin token (valid 30 days):\n\n  ${token}\n\nTry: curl -H "Authorization: Bearer <token>" http://localhost:${port}/api/v1/jobs/stats\n\n`)
  }
}

await main()
