import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js'
import type { McpDeps } from './deps.ts'
import type { Config } from '../../config.ts'
import type { PublishedEvent } from '../../events/published.ts'
import { canSeeTags } from '../../auth/principal.ts'
import { authenticate, bearerFromHeader, requestedMemory, type Authenticated } from '../../auth/plugin.ts'
import { ApiError, errorResponse, forbidden } from '../../http/errors.ts'
import { originAllowed } from '../../http/origin.ts'
import { parseJsonBody, readLimited } from '../../http/body.ts'
import { addTo, removeFrom } from '../../util/set-index.ts'
import type { Logger } from '../../telemetry/log.ts'
import { CursorCodec } from '../realtime/cursor.ts'
import { SearchService } from '../search/service.ts'
import { EventsSince } from './events-since.ts'
import { jobUri, noteUri, QUEUE_URI } from './resources.ts'
import { identityKey, McpSession, type CloseReason, type SessionHost } from './session.ts'
import { TOOL_NAMES } from './tools.ts'
import { Waits, Watchers } from './waits.ts'

/** Job events that change the queue counts (progress does not). */
const COUNT_EVENTS = new Set(['JobQueued', 'JobStarted', 'JobCompleted', 'JobFailed', 'QueueStatus'])
const SWEEP_MS = 1000

type BunServer = { timeout(r: Request, seconds: number): void } | null

/** A JSON-RPC error answer outside any session (the shape the SDK's transport uses). */
export function rpcError(status: number, code: number, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ jsonrpc: '2.0', error: { code, message }, id: null }, { status, headers })
}

/**
 * The MCP endpoint (docs/mcp.md): authenticates every request like REST, routes it to its session (one SDK
 * transport + protocol server per session, bound to the principal and memory that opened it), caps and expires
 * sessions, and turns bus events into resource notifications and wake-ups for the waiting tools.
 */
export class McpHub implements SessionHost {
  readonly config: Config['mcp']
  readonly logger: Logger
  readonly maxBodyBytes: number
  readonly search: SearchService
  readonly waits: Waits
  readonly eventsSince: EventsSince
  private watchers = new Watchers()
  private sessions = new Map<string, McpSession>()
  private byMemory = new Map<string, Set<McpSession>>()
  private sweeper: ReturnType<typeof setInterval>
  private unsubscribe: (() => void)[]
  private shuttingDown = false
  private uses = 0

  constructor(readonly ctx: McpDeps) {
    this.config = ctx.config.mcp
    this.logger = ctx.logger
    this.maxBodyBytes = ctx.config.maxBodyBytes
    this.search = new SearchService(ctx.notes)
    this.waits = new Waits(ctx, this.watchers)
    this.eventsSince = new EventsSince(ctx.events, new CursorCodec(ctx.secret.key))
    this.unsubscribe = [ctx.bus.onDelivered('mcp', (e) => this.onEvent(e)), ctx.revocations.onRevoke((jti) => this.onRevoke(jti))]
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS)
    ctx.metrics.gauge('matric_mcp_sessions_active', 'Open MCP sessions on this instance', () => this.sessions.size)
    ctx.metrics.mcpTools(TOOL_NAMES)
  }

  get count(): number {
    return this.sessions.size
  }

  memories(): Iterable<string> {
    return this.byMemory.keys()
  }

  /** The session with this id (tests and diagnostics). */
  session(id: string): McpSession | undefined {
    return this.sessions.get(id)
  }

  /** One HTTP request to /mcp. Never throws: every failure is an HTTP answer. */
  async handle(request: Request, server: BunServer): Promise<Response> {
    try {
      return await this.route(request, server)
    } catch (e) {
      if (e instanceof ApiError) return this.apiError(request, e)
      this.logger.error('MCP request failed', { err: e })
      return rpcError(500, -32603, 'internal error (logged on the server)')
    }
  }

  private async route(request: Request, server: BunServer): Promise<Response> {
    const method = request.method
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE')
      return rpcError(405, -32000, `method ${method} not allowed on /mcp: POST messages, GET the notification stream, DELETE the session`, { allow: 'GET, POST, DELETE' })
    const url = new URL(request.url)
    const origin = request.headers.get('origin')
    const { allowedOrigins, authMode } = this.ctx.config
    const token = bearerFromHeader(request.headers.get('authorization'))
    // Browsers only (other clients send no Origin). MATRIC_ALLOWED_ORIGINS applies as on WebSocket and SSE.
    if (origin !== null && allowedOrigins && !originAllowed(allowedOrigins, origin))
      return errorResponse(forbidden(`origin ${JSON.stringify(origin.slice(0, 200))} is not allowed on /mcp; list it in MATRIC_ALLOWED_ORIGINS`))
    // Exactly REST's authentication: bearer header, scopes, memory selection, tenant, the anonymous-origin rule; no
    // stream tokens.
    const auth = await authenticate(
      { verifier: this.ctx.verifier, authMode, tenantId: this.ctx.config.tenantId, allowedOrigins },
      token,
      requestedMemory(request, url, 'header'),
      'read',
      false,
      { origin, host: request.headers.get('host') },
    )
    let body: unknown
    if (method === 'POST') {
      const bytes = await readLimited(request, this.maxBodyBytes).catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 413) return e
        throw e
      })
      if (bytes instanceof ApiError) return rpcError(413, -32600, bytes.message)
      try {
        body = parseJsonBody(bytes)
      } catch (e) {
        return rpcError(400, -32700, `parse error: ${e instanceof ApiError ? e.message : 'invalid JSON'}`)
      }
    }
    const sessionId = request.headers.get('mcp-session-id')
    if (sessionId) {
      const s = this.sessions.get(sessionId)
      // Another principal's (or memory's) session id is answered exactly like an unknown one.
      if (!s || s.key !== identityKey(auth.principal, auth.memory))
        return rpcError(404, -32001, 'session not found: it ended (DELETE, idle timeout, token expiry) or belongs to another token or memory; initialize a new one')
      s.seen(auth.principal)
      return this.forward(s, request, body, server)
    }
    if (method !== 'POST' || !(Array.isArray(body) ? body.some(isInitializeRequest) : isInitializeRequest(body)))
      return rpcError(400, -32000, 'Mcp-Session-Id header is required: start a session with an initialize request first')
    if (this.shuttingDown) return rpcError(503, -32000, 'server is shutting down', { 'retry-after': '5' })
    const key = identityKey(auth.principal, auth.memory)
    // One principal cannot take every session of the instance: past its own cap its least recently used session
    // without an open stream makes room (a client that never DELETEs keeps working); if all are in use, 503.
    const own = [...this.sessions.values()].filter((x) => x.key === key)
    if (own.length >= this.config.maxSessionsPerPrincipal) {
      const idlest = own.filter((x) => x.open === 0).sort((a, b) => a.lastUse - b.lastUse)[0]
      if (!idlest)
        return rpcError(503, -32000, `this token already holds ${own.length} MCP sessions with open streams on this instance (MATRIC_MCP_MAX_SESSIONS_PER_PRINCIPAL); end one first`, { 'retry-after': '30' })
      idlest.close('evicted')
    }
    if (this.sessions.size >= this.config.maxSessions)
      return rpcError(503, -32000, `too many MCP sessions on this instance (${this.config.maxSessions}); end unused ones (DELETE /mcp) or retry later`, { 'retry-after': '30' })
    const s = new McpSession(this, auth.principal, auth.memory)
    await s.server.connect(s.transport)
    const res = await this.forward(s, request, body, server)
    // An initialize the transport refused never registered the session: nothing may keep it alive.
    if (!s.registered) s.close('client')
    return res
  }

  private async forward(s: McpSession, request: Request, body: unknown, server: BunServer): Promise<Response> {
    // Bun's idle timeout (10 s) would cut quiet SSE responses (the GET stream, a long wait) before the SDK's
    // 15 s keepalive; authenticated session requests only, so an anonymous slow client cannot hold a socket.
    server?.timeout(request, 0)
    s.open++
    s.lastUse = ++this.uses
    let res: Response
    try {
      res = await s.transport.handleRequest(request, body === undefined ? undefined : { parsedBody: body })
    } catch (e) {
      this.ended(s)
      throw e
    }
    return this.tracked(s, res, request.signal)
  }

  /** Counts the response as open until its body is fully written or the client goes away (idle detection). */
  private tracked(s: McpSession, res: Response, signal: AbortSignal): Response {
    if (!res.body) {
      this.ended(s)
      return res
    }
    let done = false
    const end = () => {
      if (done) return
      done = true
      signal.removeEventListener('abort', end)
      this.ended(s)
    }
    signal.addEventListener('abort', end, { once: true })
    const reader = res.body.getReader()
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        try {
          const r = await reader.read()
          if (r.done) {
            end()
            c.close()
          } else c.enqueue(r.value)
        } catch (err) {
          end()
          c.error(err)
        }
      },
      cancel(reason) {
        end()
        return reader.cancel(reason)
      },
    })
    return new Response(body, { status: res.status, headers: res.headers })
  }

  private ended(s: McpSession): void {
    s.open = Math.max(0, s.open - 1)
    s.lastActivity = Date.now()
    s.lastUse = ++this.uses
  }

  private apiError(request: Request, e: ApiError): Response {
    const res = errorResponse(e)
    // MCP clients find the authorization server through this header (RFC 9728) when one is configured.
    if (e.status === 401 && this.ctx.config.jwksUrl) {
      const u = new URL(request.url)
      res.headers.set('www-authenticate', `Bearer resource_metadata="${u.origin}/.well-known/oauth-protected-resource/mcp"`)
    }
    return res
  }

  register(s: McpSession): void {
    s.registered = true
    this.sessions.set(s.id, s)
    addTo(this.byMemory, s.memory, s)
    if (this.logger.enabled('debug')) this.logger.debug('MCP session opened', { session: s.id.slice(0, 8), memory: s.memory, open: this.sessions.size })
  }

  unregister(s: McpSession, reason: CloseReason): void {
    if (!this.sessions.delete(s.id)) return
    removeFrom(this.byMemory, s.memory, s)
    if (this.logger.enabled('debug')) this.logger.debug('MCP session closed', { session: s.id.slice(0, 8), reason, open: this.sessions.size })
  }

  /** Idle sessions (no request, no open response for MATRIC_MCP_SESSION_IDLE_S) and expired tokens end here. */
  private sweep(): void {
    const now = Date.now()
    const idleMs = this.config.sessionIdleS * 1000
    for (const s of [...this.sessions.values()]) {
      if (now >= s.expiresAt) s.close('expired')
      else if (s.open === 0 && now - s.lastActivity >= idleMs) s.close('idle')
    }
  }

  private onRevoke(jti: string): void {
    for (const s of [...this.sessions.values()]) if (s.jtis.has(jti)) s.close('revoked')
  }

  /** Bus subscriber: wakes waiting tools, and notifies the sessions of the event's memory that may see it. */
  private onEvent(e: PublishedEvent): void {
    this.watchers.dispatch(e)
    const set = this.byMemory.get(e.memory)
    if (!set) return
    const env = e.envelope
    const type = e.legacyType
    for (const s of set) {
      // The SSE visibility rule: a tag-restricted session sees only events of notes it may read.
      if (!canSeeTags(s.principal.tags, e.tags)) continue
      if (env.entity_type === 'note' && env.entity_id) s.touch(noteUri(env.entity_id))
      else if (env.entity_type === 'job' && env.entity_id) s.touch(jobUri(env.entity_id))
      if (COUNT_EVENTS.has(type)) s.touch(QUEUE_URI)
      if (type === 'NoteCreated' || type === 'NoteDeleted') s.listChanged()
    }
  }

  shutdown(): void {
    this.shuttingDown = true
    clearInterval(this.sweeper)
    for (const u of this.unsubscribe) u()
    for (const s of [...this.sessions.values()]) s.close('shutdown')
  }
}
