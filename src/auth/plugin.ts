import { Elysia } from 'elysia'
import { rejectInvalidBody } from '../http/body.ts'
import { ApiError, forbidden, unauthorized } from '../http/errors.ts'
import { ambientCredentialAllowed, anonymousLocalAllowed } from '../http/origin.ts'
import { LOCAL_PRINCIPAL, requireScope, selectMemory, type Principal, type Scope } from './principal.ts'
import { AuthError, AuthUnavailableError, type Verifier } from './verify.ts'

export interface AuthDeps {
  verifier: Verifier
  authMode: 'required' | 'off'
  /** This deployment's tenant (MATRIC_TENANT_ID): a token issued for another tenant is refused. */
  tenantId?: string
  /** MATRIC_ALLOWED_ORIGINS: cross-origin pages that may also use the cookie. */
  allowedOrigins?: readonly string[]
}

export const TOKEN_COOKIE = 'matric_token'

/** REST: `Authorization: Bearer <jwt>` only. */
export function bearerFromHeader(header: string | null | undefined): string | undefined {
  if (!header) return undefined
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m?.[1]
}

/** `Sec-WebSocket-Protocol: bearer, <jwt>` → the jwt. */
export function tokenFromSubprotocol(header: string | null | undefined): string | undefined {
  if (!header) return undefined
  const parts = header.split(',').map((s) => s.trim())
  const i = parts.findIndex((p) => p.toLowerCase() === 'bearer')
  return i >= 0 && parts[i + 1] ? parts[i + 1] : undefined
}

function tokenFromCookie(header: string | null | undefined): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === TOKEN_COOKIE) return safeDecode(part.slice(eq + 1).trim())
  }
  return undefined
}

/** Percent-decoding that cannot throw: a malformed escape (`%E0%A4%A`) stays as is and fails verification (401). */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

export interface Credentials {
  token: string | undefined
  via: 'header' | 'query' | 'cookie' | 'subprotocol' | 'none'
}

/** WebSocket and SSE: header, then `?token=`, then the cookie, then the `bearer` subprotocol. */
export function streamCredentials(headers: Headers, url: URL): Credentials {
  const h = bearerFromHeader(headers.get('authorization'))
  if (h) return { token: h, via: 'header' }
  const q = url.searchParams.get('token')
  if (q) return { token: q, via: 'query' }
  const c = tokenFromCookie(headers.get('cookie'))
  if (c) return { token: c, via: 'cookie' }
  const s = tokenFromSubprotocol(headers.get('sec-websocket-protocol'))
  if (s) return { token: s, via: 'subprotocol' }
  return { token: undefined, via: 'none' }
}

/**
 * The memory a request names: `X-Matric-Memory`, or `X-Fortemi-Memory` (what the HotM UI sends), or `?memory=`.
 * REST prefers the header, WebSocket and SSE the query (a URL is all EventSource can set).
 */
export function requestedMemory(request: Request, url: URL, prefer: 'header' | 'query'): string | null {
  const header = request.headers.get('x-matric-memory') ?? request.headers.get('x-fortemi-memory')
  const query = url.searchParams.get('memory')
  return prefer === 'header' ? (header ?? query) : (query ?? header)
}

// A type alias, not an interface: Elysia's resolve() needs a type assignable to Record<string, unknown>.
export type Authenticated = {
  principal: Principal
  memory: string
}

/** Resolves who calls and which memory they act on; throws ApiError 400/401/403. */
export async function authenticate(
  deps: AuthDeps,
  token: string | undefined,
  requestedMemory: string | null | undefined,
  scope: Scope,
  allowStreamToken: boolean,
  /** The request's Origin and Host: anonymous local access is for same-origin pages and non-browser clients. */
  from?: { origin: string | null; host: string | null },
): Promise<Authenticated> {
  let principal: Principal
  if (!token) {
    if (deps.authMode !== 'off') throw unauthorized('missing bearer token')
    // Without auth every request is an admin: a page on another site must not borrow that (it could post
    // notes or read streams through the user's browser). Same-origin pages, listed origins and clients that
    // send no Origin are fine.
    if (from && !anonymousLocalAllowed(deps.allowedOrigins, from.origin, from.host))
      throw forbidden(
        `anonymous local access is refused from origin ${JSON.stringify(from.origin?.slice(0, 200))}: only pages served from a loopback host (localhost, 127.0.0.1) or origins listed in MATRIC_ALLOWED_ORIGINS`,
      )
    principal = LOCAL_PRINCIPAL
  } else {
    try {
      principal = await deps.verifier.verify(token)
    } catch (e) {
      if (e instanceof AuthUnavailableError) throw new ApiError(503, e.message, undefined, { 'retry-after': '5' })
      if (e instanceof AuthError) throw unauthorized(e.message)
      throw e
    }
    if (principal.stream && !allowStreamToken) throw unauthorized('stream tokens are only accepted on /api/v1/ws and /api/v1/events')
    if (principal.tenant !== undefined && principal.tenant !== (deps.tenantId ?? 'default'))
      throw forbidden(`token was issued for tenant '${principal.tenant.slice(0, 64)}', not the one this server serves`)
  }
  requireScope(principal, scope)
  return { principal, memory: selectMemory(principal, requestedMemory) }
}

/**
 * Auth macros: `auth: 'read'|'write'|'admin'` for REST routes and `streamAuth: …` for WebSocket/SSE routes
 * (which also take the token from the query, cookie or subprotocol, and accept stream tokens).
 * Both resolve `principal` and `memory`.
 */
export function authPlugin(deps: AuthDeps) {
  const rest = (request: Request, scope: Scope) => {
    const url = new URL(request.url)
    return authenticate(
      deps,
      bearerFromHeader(request.headers.get('authorization')),
      requestedMemory(request, url, 'header'),
      scope,
      false,
      { origin: request.headers.get('origin'), host: request.headers.get('host') },
    )
  }
  // REST authenticates in `transform`, which runs before schema validation: an anonymous caller gets
  // 401, not a 422 describing the schema. (`resolve` runs after validation; it hands the result on.)
  const early = new WeakMap<Request, Authenticated>()
  return new Elysia({ name: 'matric-auth', seed: deps }).macro({
    auth: (scope: Scope) => ({
      async transform({ request }) {
        early.set(request, await rest(request, scope))
        // A body the JSON parser refused is answered now: after the 401/403, before Elysia validates it.
        rejectInvalidBody(request)
      },
      resolve({ request }) {
        const a = early.get(request)
        if (!a) return rest(request, scope)
        early.delete(request)
        return a
      },
    }),
    streamAuth: (scope: Scope) => ({
      async resolve({ request }) {
        const url = new URL(request.url)
        const creds = streamCredentials(request.headers, url)
        // The cookie travels with any page's request: only same-origin (or listed) pages may use it.
        if (creds.via === 'cookie' && !ambientCredentialAllowed(deps.allowedOrigins, request.headers.get('origin'), request.headers.get('host')))
          throw forbidden(`the ${TOKEN_COOKIE} cookie is not accepted from origin ${JSON.stringify(request.headers.get('origin'))}: cross-site request (list the origin in MATRIC_ALLOWED_ORIGINS)`)
        return authenticate(deps, creds.token, requestedMemory(request, url, 'query'), scope, true, { origin: request.headers.get('origin'), host: request.headers.get('host') })
      },
    }),
  })
}
