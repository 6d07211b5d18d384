import { Elysia, t } from 'elysia'
import type { Principal } from '../../auth/principal.ts'
import type { AppContext } from '../../context.ts'
import { forbidden } from '../../http/errors.ts'
import { originAllowed } from '../../http/origin.ts'
import { ErrorBody, ownModels } from '../../http/schemas.ts'
import { parseEntityId, parseLastEventId, parseTypes, resyncReason, type StreamFilter } from './sse-filter.ts'
import { resyncFrame, retryFrame } from './sse-frames.ts'
import { streamTokensController, type RealtimeTokensDeps } from './tokens.ts'

/** What this module uses of the composition root (src/context.ts). */
export type RealtimeSseDeps = Pick<AppContext, 'authPlugin' | 'config' | 'sse'> & RealtimeTokensDeps

export { REPLAY_PAGE } from './sse-stream.ts'

export const SseQuery = t.Object({
  types: t.Optional(
    t.String({
      description:
        'Comma list of event types. A dotted name matches itself and its children (`job` = `job.*`); legacy names such as ' +
        '`JobCompleted` are accepted. Omit for every type; an empty list or an unknown name is a 400.',
      examples: ['job.completed,note', 'JobProgress'],
    }),
  ),
  entity_id: t.Optional(t.String({ description: 'Only events whose envelope `entity_id` equals this (a job or note id).' })),
  memory: t.Optional(t.String({ description: 'Memory to stream (or the `X-Matric-Memory` header); default `default`.' })),
  token: t.Optional(
    t.String({ description: 'A JWT when headers are impossible (EventSource). Prefer a short-lived stream token from POST /api/v1/events/tokens.' }),
  ),
  last_event_id: t.Optional(t.String({ description: 'Resume after this event id (the `Last-Event-ID` header wins when both are present).' })),
})

const SseHeaders = t.Object({
  'last-event-id': t.Optional(t.String({ description: 'Resume after this event id (sent by EventSource when it reconnects).' })),
})

const STREAM_DESCRIPTION = `Server-Sent Events (see docs/sse.md). Starts with a \`retry:\` hint, then one frame per event:

\`\`\`
id: <event_id>
event: <event_type>
data: <envelope JSON>
\`\`\`

A comment \`: keepalive\` arrives at least every 15 s. Replay: with \`Last-Event-ID\` (or \`last_event_id\`) the stream
resumes right after that event from the durable event log, also across restarts, then continues live. An unknown or
pruned id yields one \`event: resync_required\` frame \`{reason, last_known_id}\` and then live events. A client that
reads too slowly gets \`event: events.lagged\` \`{dropped_count}\` once it catches up. Synthetic frames carry no \`id:\`.

Authenticate with a bearer header, \`?token=\`, or the \`matric_token\` cookie; short-lived stream tokens
(POST /api/v1/events/tokens) are accepted. The stream is authenticated once, when it opens: it is not cut when the
token later expires, but revoking a stream token ends it.`

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
})

/**
 * Written out in `detail.responses` (the OpenAPI plugin derives responses from `response` schemas only as
 * JSON or text/plain, and a `response` hook would replace these).
 */
const STREAM_RESPONSES = {
  200: {
    description: 'An endless `text/event-stream` (see the description for the framing)',
    content: {
      'text/event-stream': {
        schema: {
          type: 'string' as const,
          example:
            'retry: 3000\n\nid: 01936b2e-7c7a-7cc3-9b1e-4f1d2a3b4c5d\nevent: job.completed\ndata: {"event_id":"01936b2e-7c7a-7cc3-9b1e-4f1d2a3b4c5d","event_type":"job.completed",…}\n\n: keepalive\n\n',
        },
      },
    },
  },
  400: errorResponse('Bad filter: empty or unknown `types`, malformed `entity_id`, memory name or last event id'),
  401: errorResponse('Missing, invalid, expired or revoked token'),
  403: errorResponse('Memory not granted, scope missing, or `Origin` not in MATRIC_ALLOWED_ORIGINS'),
  503: errorResponse('Shutting down, or the identity provider keys are unavailable'),
}

/** GET /api/v1/events (alias /api/v1/events/stream) and the stream-token routes. */
export function sseController(ctx: RealtimeSseDeps) {
  const { config } = ctx
  const hub = ctx.sse

  const checkOrigin = ({ request }: { request: Request }) => {
    const origin = request.headers.get('origin')
    if (!originAllowed(config.allowedOrigins, origin)) throw forbidden(`origin ${JSON.stringify(origin)} is not allowed`)
  }

  const handler = async ({ request, principal, memory, server }: { request: Request; principal: Principal; memory: string; server: { timeout(r: Request, s: number): void } | null }) => {
    const url = new URL(request.url)
    const typesParam = url.searchParams.getAll('types')
    const filter: StreamFilter = {
      memory,
      types: parseTypes(typesParam.length ? typesParam.join(',') : null),
      entityId: parseEntityId(url.searchParams.get('entity_id')),
      tags: principal.tags,
    }
    const lastEventId = parseLastEventId(request.headers.get('last-event-id'), url.searchParams.get('last_event_id'))
    const preamble = [retryFrame(config.sse.retryMs)]
    let replayAfter: number | null = null
    if (lastEventId !== null) {
      replayAfter = await hub.resumePosition(memory, principal.tags, lastEventId)
      if (replayAfter === null) preamble.push(resyncFrame(resyncReason(lastEventId, (await hub.log.oldestInMemory(memory))?.created_ms ?? null), lastEventId))
    }
    // Bun's idle timeout (Elysia: 30 s) would reset a quiet stream; keepalives are for proxies and dead peers.
    server?.timeout(request, 0)
    // Nothing after this line may throw: the stream is registered with the hub from here on.
    const body = hub.open({ filter, principal, replayAfter, lastEventId, preamble, signal: request.signal })
    const headers: Record<string, string> = {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    }
    const origin = request.headers.get('origin')
    // Cross-origin EventSource needs CORS; only for explicitly allowed origins (never reflected blindly,
    // since the cookie would let any site read the stream).
    if (origin && config.allowedOrigins?.length && originAllowed(config.allowedOrigins, origin)) {
      headers['access-control-allow-origin'] = origin
      headers['access-control-allow-credentials'] = 'true'
      headers['vary'] = 'Origin'
    }
    return new Response(body, { headers })
  }

  const route = (summary: string) =>
    ({
      streamAuth: 'read',
      transform: checkOrigin,
      query: SseQuery,
      headers: SseHeaders,
      detail: { summary, description: STREAM_DESCRIPTION, responses: STREAM_RESPONSES },
    }) as const

  const streams = new Elysia({ prefix: '/api/v1/events', tags: ['events'] })
    .use(ctx.authPlugin)
    .model(ownModels({ ErrorBody }))
    .get('', handler, route('Stream events (Server-Sent Events)'))
    .get('/stream', handler, route('Stream events (alias of GET /api/v1/events)'))
  // Siblings, not nested: a nested instance would inherit the `/api/v1/events` prefix.
  return new Elysia({ name: 'matric-sse' }).use(streams).use(streamTokensController(ctx, () => hub.openTokenIds()))
}
