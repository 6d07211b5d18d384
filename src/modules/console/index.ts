import { Elysia } from 'elysia'
import type { AppContext } from '../../context.ts'
import { forbidden, notFound } from '../../http/errors.ts'
import { ErrorBody, ownModels } from '../../http/schemas.ts'
import { consoleBundle } from './bundle.ts'
import { SummaryReader, SystemSummary, type ConsoleSummaryDeps } from './summary.ts'

/** What this module uses of the composition root (src/context.ts). */
export type ConsoleDeps = Pick<AppContext, 'authPlugin' | 'logger'> & ConsoleSummaryDeps

/**
 * The page only talks to this origin (CSP), runs no inline script, and may not be framed. It holds no data:
 * everything comes from the API with the caller's own token.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const errors = { 400: 'ErrorBody', 401: 'ErrorBody', 403: 'ErrorBody' } as const

/**
 * GET /console (docs/console.md): the operators' page, its bundled assets, and the JSON summary its
 * Overview polls (GET /api/v1/system/summary, admin of the request memory). The bundle is built when the
 * app starts and kept in memory.
 */
export function consoleController(ctx: ConsoleDeps) {
  const bundle = consoleBundle()
  bundle.catch((err) => ctx.logger.error('console bundle failed to build', { err }))
  const summary = new SummaryReader(ctx)

  const page = async () =>
    new Response((await bundle).html, {
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-cache',
        'content-security-policy': CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      },
    })

  const api = new Elysia({ prefix: '/api/v1/system', tags: ['system'] })
    .use(ctx.authPlugin)
    .model(ownModels({ SystemSummary, ErrorBody }))
    .get(
      '/summary',
      async ({ memory, principal, set }) => {
        // Its figures cover every note of the memory (events/s, webhook health): not for a tag-restricted token.
        if (principal.tags !== null) throw forbidden('the summary covers every note of a memory: tag-restricted tokens cannot read it')
        set.headers['cache-control'] = 'no-store'
        return summary.read(memory)
      },
      {
        auth: 'admin',
        response: { 200: 'SystemSummary', ...errors },
        detail: {
          summary: 'Live summary of one memory (the console Overview)',
          description:
            'Admin of the request memory, without a tag restriction. Events per second, job counts and webhook health of that memory; connection counts and the last ' +
            "minute's latency percentiles per transport of this instance (every memory, the figures /health and /metrics already show). " +
            'There is no cluster mode yet: `instance` is this process.',
        },
      },
    )

  return new Elysia({ name: 'matric-console' })
    .get('/console', page, { detail: { hide: true } })
    .get('/console/', page, { detail: { hide: true } })
    .get(
      '/console/assets/:file',
      async ({ params, request }) => {
        const asset = (await bundle).assets.get(params.file)
        if (!asset) throw notFound(`no console asset ${params.file}`)
        const gzip = /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '')
        const headers: Record<string, string> = {
          'content-type': asset.type,
          // Referenced as ?v=<content hash>: a new build is a new URL.
          'cache-control': 'public, max-age=31536000, immutable',
          'x-content-type-options': 'nosniff',
          vary: 'accept-encoding',
        }
        if (gzip) headers['content-encoding'] = 'gzip'
        return new Response(gzip ? asset.gzip : asset.body, { headers })
      },
      { detail: { hide: true } },
    )
    .use(api)
}
