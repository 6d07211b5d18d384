import type { Server } from 'bun'
import { Elysia } from 'elysia'
import type { AppContext } from '../../context.ts'
import { ApiError } from '../../http/errors.ts'
import { originAllowed } from '../../http/origin.ts'
import { ErrorBody } from '../../http/schemas.ts'
import { Connection } from './ws-hub.ts'

/** What this module uses of the composition root (src/context.ts). */
export type RealtimeWsDeps = Pick<AppContext, 'authPlugin' | 'config' | 'ws'>

/** `Sec-WebSocket-Protocol: bearer, <jwt>`: the client must get `bearer` back. */
const BEARER_OFFERED = /(^|,)\s*bearer\s*(,|$)/i

/** GET /api/v1/ws — the HotM WebSocket endpoint. */
export function wsController(ctx: RealtimeWsDeps) {
  const hub = ctx.ws

  return new Elysia({ name: 'matric-ws', tags: ['events'] })
    .use(ctx.authPlugin)
    .get(
      '/api/v1/ws',
      ({ request, server: srv, principal, memory }) => {
        // Everything that can refuse happens before the upgrade, as plain HTTP: auth (the macro), origin, cap.
        if (!originAllowed(ctx.config.allowedOrigins, request.headers.get('origin')))
          throw new ApiError(403, `origin ${request.headers.get('origin')} is not allowed`)
        if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket' || !srv)
          throw new ApiError(426, 'this endpoint speaks WebSocket: send an HTTP/1.1 upgrade request', undefined, { upgrade: 'websocket' })
        hub.admit()
        const offered = request.headers.get('sec-websocket-protocol')
        const headers = offered && BEARER_OFFERED.test(offered) ? { 'sec-websocket-protocol': 'bearer' } : undefined
        if (!(srv as Server<Connection>).upgrade(request, { data: new Connection(hub, memory, principal), headers }))
          throw new ApiError(400, 'WebSocket upgrade failed: malformed handshake')
      },
      {
        streamAuth: 'read',
        detail: {
          summary: 'HotM WebSocket',
          description:
            'Live job and note events in the HotM protocol (see docs/websocket.md). Authenticate with a bearer header, `?token=`, the ' +
            '`matric_token` cookie or `Sec-WebSocket-Protocol: bearer, <jwt>`; 401/403/503 are answered before the upgrade. ' +
            'A GET without an upgrade gets 426.',
        },
        response: { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 426: ErrorBody, 503: ErrorBody },
      },
    )
}
