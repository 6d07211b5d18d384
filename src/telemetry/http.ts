import { Elysia, StatusMap } from 'elysia'
import type { Logger } from './log.ts'
import type { RequestSpan, Tracing } from './tracing.ts'

export interface HttpTelemetryDeps {
  tracing: Tracing
  logger: Logger
}

interface RequestState {
  start: number
  span: RequestSpan | undefined
}

/** Scrapes and probes are not traced: they would drown the traces that matter. */
const UNTRACED = new Set(['/health', '/metrics'])

/**
 * The final status of a request as Elysia's afterResponse sees it: a returned Response wins; an unmatched
 * route leaves `set.status` at 200 with the error (status 404) beside it; otherwise `set.status`, which may
 * be a status name.
 */
export function responseStatus(responseValue: unknown, setStatus: unknown, error?: unknown): number {
  if (responseValue instanceof Response) return responseValue.status
  if (error && (setStatus === 200 || setStatus === undefined)) {
    const s = (error as { status?: unknown }).status
    return typeof s === 'number' && s >= 400 && s <= 599 ? s : 500
  }
  if (typeof setStatus === 'number') return setStatus
  if (typeof setStatus === 'string' && setStatus in StatusMap) return StatusMap[setStatus as keyof typeof StatusMap]
  return 200
}

/** Path of a request URL without the query string (which may hold `?token=`). */
export function pathOf(url: string): string {
  try {
    return new URL(url).pathname
  } catch {
    return '/'
  }
}

/**
 * Per-request telemetry (docs/operations.md): a SERVER span named `METHOD /route/pattern` (child of an incoming W3C
 * `traceparent`) that is the parent of the `event.publish` spans the request causes, and a debug-level
 * access log line `{method, route, status, duration_ms}` — the route pattern, never the query string.
 * With tracing off and the log above debug, the plugin registers no hooks at all.
 */
export function httpTelemetry({ tracing, logger }: HttpTelemetryDeps) {
  const plugin = new Elysia({ name: 'matric-http-telemetry' })
  const access = logger.enabled('debug')
  if (!tracing.enabled && !access) return plugin
  const states = new WeakMap<Request, RequestState>()

  const close = (request: Request) => states.get(request)?.span?.close()

  return plugin
    .onRequest(({ request }) => {
      const traced = tracing.enabled && !UNTRACED.has(pathOf(request.url))
      const span = traced ? tracing.startRequest(request.method, request.headers.get('traceparent'), request.headers.get('tracestate')) : undefined
      states.set(request, { start: performance.now(), span })
    })
    // The handler is done: timers and jobs it started are not children of this request any more.
    .onAfterHandle({ as: 'global' }, ({ request }) => {
      close(request)
    })
    .onError({ as: 'global' }, ({ request }) => {
      close(request)
    })
    .onAfterResponse({ as: 'global' }, (c) => {
      const { request, route, set, responseValue } = c
      const state = states.get(request)
      if (!state) return
      states.delete(request)
      // `error` is on the context of requests that failed (not in Elysia's afterResponse type).
      let status = responseStatus(responseValue, set.status, (c as { error?: unknown }).error)
      // A completed WebSocket upgrade has no response object; Elysia leaves 200 where the wire said 101.
      if (status === 200 && request.headers.get('upgrade')?.toLowerCase() === 'websocket') status = 101
      // `route` is the matched pattern (`/api/v1/notes/:id`); unmatched requests log the bare path.
      const pattern = typeof route === 'string' && route ? route : undefined
      state.span?.end(pattern, status)
      if (access) {
        const fields: Record<string, unknown> = {
          method: request.method,
          ...(pattern ? { route: pattern } : { path: pathOf(request.url) }),
          status,
          duration_ms: Math.round((performance.now() - state.start) * 1000) / 1000,
        }
        if (state.span) fields.trace_id = state.span.traceId
        logger.debug('http request', fields)
      }
    })
}
