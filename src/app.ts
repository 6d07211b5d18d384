import { openapi } from '@elysiajs/openapi'
import { Elysia } from 'elysia'
import { join } from 'node:path'
import type { AppContext } from './context.ts'
import { errorHandler } from './http/error-handler.ts'
import { ApiError } from './http/errors.ts'
import { asyncapiController } from './modules/asyncapi/index.ts'
import { compatController } from './modules/compat/index.ts'
import { mcpController } from './modules/mcp/index.ts'
import { consoleController } from './modules/console/index.ts'
import { publishController } from './modules/publish/index.ts'
import { searchController } from './modules/search/index.ts'
import { jobsController } from './modules/jobs/index.ts'
import { notesController } from './modules/notes/index.ts'
import { systemController } from './modules/system/index.ts'
import { httpTelemetry } from './telemetry/http.ts'
import { webhooksController } from './modules/webhooks/index.ts'
import { wsController } from './modules/realtime/ws.ts'
import { sseController } from './modules/realtime/sse.ts'
import { VERSION } from './version.ts'

const SWAGGER_DIST = join(import.meta.dir, '..', 'node_modules', 'swagger-ui-dist')
/**
 * The API reference page loads its script and stylesheet from this app (works offline), and the document
 * by absolute path so `/docs/` works as well as `/docs` (`url` is passed through at runtime although the
 * plugin's type omits it; a variable, not a literal, keeps the extra property).
 */
const SWAGGER_UI = { url: '/openapi.json', cdn: '/docs/assets/swagger-ui-bundle.js', theme: '/docs/assets/swagger-ui.css', autoDarkMode: false }
const DOC_ASSETS = new Set(['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png'])

export const API_DESCRIPTION = `Notes and jobs API of matric-memory with its real-time event layer.

Events reach browsers over WebSocket (\`/api/v1/ws\`, the HotM protocol), AI and MCP clients over
Server-Sent Events (\`/api/v1/events\`), and integrators over signed webhooks. Authenticate with
\`Authorization: Bearer <jwt>\`; choose a memory with the \`X-Matric-Memory\` header or \`?memory=\`.`

/** Composes the Elysia app from its feature modules. */
export function createApp(ctx: AppContext) {
  const { config } = ctx
  const app = new Elysia({
    websocket: {
      idleTimeout: config.ws.idleTimeoutS,
      sendPings: true,
      maxPayloadLength: config.ws.maxPayloadBytes,
      backpressureLimit: config.ws.backpressureLimit,
      // Bun would close a slow socket with 1006 and no close frame; the WebSocket hub detects it instead
      // (publish reports backpressure) and closes it with 1013 "slow consumer" as docs/websocket.md requires.
      closeOnBackpressureLimit: false,
    },
    // JSON routes refuse bodies over MATRIC_MAX_BODY_BYTES with a JSON 413 (src/http/body.ts); Bun's own limit,
    // a backstop for everything else, answers a bare 413. (No global onRequest check: a global hook costs
    // every request ~18 µs in Elysia, a quarter of a publish.)
    serve: { maxRequestBodySize: config.maxBodyBytes * 2 },
  })
    .use(httpTelemetry(ctx))
    .use(errorHandler(ctx.logger))
    // Group commit: a request that published events answers once they are in the event log (see EventBus).
    .onAfterHandle({ as: 'global' }, async () => {
      if (ctx.bus.pending) await ctx.bus.committed()
    })
    .use(
      openapi({
        path: '/docs',
        specPath: '/openapi.json',
        provider: 'swagger-ui',
        swagger: SWAGGER_UI,
        exclude: { methods: ['ws'], paths: ['/docs/assets/:file'] },
        documentation: {
          info: { title: 'matric-realtime', version: VERSION, description: API_DESCRIPTION },
          tags: [
            { name: 'notes', description: 'Notes: create, read, update, tag, delete; each write queues its pipeline jobs' },
            { name: 'jobs', description: 'Background jobs, queue counts, pause and resume' },
            { name: 'events', description: 'Event publishing and streaming (docs/events.md, docs/sse.md, docs/websocket.md)' },
            { name: 'webhooks', description: 'Webhook management (docs/webhooks.md)' },
            { name: 'system', description: 'Health and metrics (docs/operations.md)' },
          ],
          components: {
            securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
          },
          security: [{ bearer: [] }],
        },
      }),
    )
    .get('/docs/assets/:file', ({ params }) => {
      if (!DOC_ASSETS.has(params.file)) throw new ApiError(404, `no asset ${params.file}`)
      return new Response(Bun.file(join(SWAGGER_DIST, params.file)), { headers: { 'cache-control': 'public, max-age=86400' } })
    })
    .use(systemController(ctx, ctx.live))
    .use(compatController(ctx, { search: true, mcp: true }))
    .use(asyncapiController())
    .use(notesController(ctx))
    .use(searchController(ctx))
    .use(jobsController(ctx))
    .use(publishController(ctx))
    .use(sseController(ctx))
    .use(webhooksController(ctx))
    .use(wsController(ctx))
    .use(mcpController(ctx))
    .use(consoleController(ctx))
  // The WebSocket hub publishes through the listening server, known only once the app listens.
  ctx.bindServer(() => app.server)
  return app
}

export type App = ReturnType<typeof createApp>
