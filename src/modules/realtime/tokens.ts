import { Elysia, t } from 'elysia'
import { JsonInt } from '../../http/schemas.ts'
import { decodeJwt } from 'jose'
import type { Principal } from '../../auth/principal.ts'
import { localClaims, signToken } from '../../auth/sign.ts'
import type { AppContext } from '../../context.ts'
import { jsonBody } from '../../http/body.ts'
import { forbidden, notFound } from '../../http/errors.ts'
import { ErrorBody, ownModels } from '../../http/schemas.ts'
import type { StreamTokenRow } from './token-store.ts'

/** What this module uses of the composition root (src/context.ts). */
export type RealtimeTokensDeps = Pick<AppContext, 'authPlugin' | 'config' | 'revocations' | 'secret' | 'stores'>

export const MintStreamToken = t.Object(
  {
    ttl_s: t.Optional(
      JsonInt({ minimum: 1, description: 'Lifetime in seconds; capped at the server maximum (MATRIC_STREAM_TOKEN_TTL_S, default 300)' }),
    ),
  },
  { additionalProperties: false, examples: [{ ttl_s: 120 }] },
)

export const StreamToken = t.Object(
  {
    token: t.String({ description: 'JWT with audience `event-stream`, scope `read`; accepted only by /api/v1/events and /api/v1/ws' }),
    token_id: t.String({ description: 'The token id (jti), for DELETE /api/v1/events/tokens/{token_id}' }),
    expires_at: t.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [
      { token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.…', token_id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f', expires_at: '2026-11-27T10:05:00.000Z' },
    ],
  },
)

export const StreamTokenParams = t.Object({ token_id: t.String({ minLength: 1, maxLength: 128 }) })

/**
 * Who may revoke a stream token: its subject, or an admin of every memory it grants (an admin of memory b
 * must not cut a memory-a user's stream). A token whose memories are unknown (minted before they were
 * kept) needs an admin of every memory.
 */
export function mayRevoke(p: Pick<Principal, 'sub' | 'scopes' | 'memories'>, row: Pick<StreamTokenRow, 'sub' | 'memories'>): boolean {
  if (row.sub === p.sub) return true
  if (!p.scopes.has('admin')) return false
  if (p.memories === '*') return true
  let granted: unknown
  try {
    granted = row.memories === null ? '*' : JSON.parse(row.memories)
  } catch {
    granted = '*'
  }
  return Array.isArray(granted) && granted.every((m) => typeof m === 'string' && p.memories.includes(m))
}

/** The token's lifetime: what the caller asked for, capped at the configured maximum. */
export function streamTokenTtl(requested: number | undefined, maxS: number): number {
  return requested === undefined ? maxS : Math.min(Math.max(1, Math.floor(requested)), maxS)
}

const mintErrors = { 400: 'ErrorBody', 401: 'ErrorBody', 403: 'ErrorBody', 422: 'ErrorBody' } as const
const revokeErrors = { 401: 'ErrorBody', 403: 'ErrorBody', 404: 'ErrorBody', 422: 'ErrorBody' } as const

/** POST /api/v1/events/tokens and DELETE /api/v1/events/tokens/{token_id} (README.md#authentication-and-tenancy). */
export function streamTokensController(ctx: RealtimeTokensDeps, openTokenIds: () => readonly string[]) {
  const store = ctx.stores.streamTokens
  const maxTtl = ctx.config.sse.streamTokenTtlS

  return new Elysia({ name: 'matric-stream-tokens', prefix: '/api/v1/events/tokens', tags: ['events'] })
    .use(ctx.authPlugin)
    .model(ownModels({ MintStreamToken, StreamToken, ErrorBody }))
    .post(
      '',
      async ({ body, set, principal }) => {
        const nowS = Math.floor(Date.now() / 1000)
        // Housekeeping on the (rare) mint path: forget expired tokens and expired revocations.
        await store.prune(nowS, openTokenIds())
        await ctx.revocations.prune(nowS)
        const jti = crypto.randomUUID()
        const token = await signToken(ctx.secret.key, {
          sub: principal.sub,
          scope: 'read',
          memory: principal.memories === '*' ? '*' : [...principal.memories],
          tags: principal.tags === null ? undefined : [...principal.tags],
          tenant: principal.tenant,
          ttlS: streamTokenTtl(body.ttl_s, maxTtl),
          jti,
          stream: true,
          ...localClaims(ctx.config),
        })
        const exp = decodeJwt(token).exp!
        await store.insert(jti, principal.sub, principal.memories, exp)
        set.status = 201
        return { token, token_id: jti, expires_at: new Date(exp * 1000).toISOString() }
      },
      {
        auth: 'read',
        ...jsonBody(ctx.config.maxBodyBytes, MintStreamToken, { optional: true }),
        body: 'MintStreamToken',
        response: { 201: 'StreamToken', ...mintErrors },
        detail: {
          summary: 'Mint a short-lived stream token',
          description:
            'A read-only JWT with audience `event-stream`, bound to the caller\u2019s memories and tags, for URLs where headers are ' +
            'impossible (`EventSource`, `?token=`). Accepted only by /api/v1/events and /api/v1/ws. Requires a regular token: ' +
            'stream tokens cannot mint stream tokens. The body is optional; without `ttl_s` the token lives for the maximum ' +
            '(MATRIC_STREAM_TOKEN_TTL_S, default 300 s).',
        },
      },
    )
    .delete(
      '/:token_id',
      async ({ params, set, principal }) => {
        const row = await store.get(params.token_id)
        if (!row) throw notFound(`no stream token ${JSON.stringify(params.token_id)} (unknown, or expired and forgotten)`)
        if (!mayRevoke(principal, row))
          throw forbidden('only the subject that minted a stream token, or an admin of all its memories, may revoke it')
        // Revocations notify open streams, which end (README.md#authentication-and-tenancy); expiry alone does not end them.
        await ctx.revocations.revoke(row.jti, row.expires_at)
        await store.markRevoked(row.jti)
        set.status = 204
      },
      {
        auth: 'read',
        params: StreamTokenParams,
        response: { 204: t.Void({ description: 'Revoked' }), ...revokeErrors },
        detail: {
          summary: 'Revoke a stream token',
          description:
            'The token is refused from now on and the streams opened with it are closed. Allowed for the subject that minted it and for ' +
            'admins of every memory the token grants.',
        },
      },
    )
}
