import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import {
  CallToolRequestSchema,
  ErrorCode,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js'
import type { Principal } from '../../auth/principal.ts'
import { ApiError } from '../../http/errors.ts'
import { VERSION } from '../../version.ts'
import { callerOf } from '../notes/service.ts'
import type { Caller } from '../notes/service.ts'
import { Coalescer } from './coalesce.ts'
import { SessionEventStore } from './event-store.ts'
import type { Config } from '../../config.ts'
import type { McpDeps } from './deps.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { SearchService } from '../search/service.ts'
import type { EventsSince } from './events-since.ts'
import type { Waits } from './waits.ts'
import { listResources, parseResourceUri, readResource, RESOURCE_NOT_FOUND, RESOURCE_TEMPLATES } from './resources.ts'
import { checkArguments, ensureScope, listedTools, toolByName, type ToolCall } from './tools.ts'

/** At most one notifications/resources/updated per resource per this interval (and one list_changed). */
export const NOTIFY_INTERVAL_MS = 250
/** Resources one session may subscribe to. */
export const MAX_SUBSCRIPTIONS = 1000
/** Waiting tool calls (wait_for_job, wait_for_note_ready, revise_note) one session may have in progress. */
export const MAX_WAITS = 16
const WAITING_TOOLS = new Set(['wait_for_job', 'wait_for_note_ready', 'revise_note'])
/** Bytes of messages a session keeps for resumption (on top of the count limit). */
export const REPLAY_MAX_BYTES = 8 * 1024 * 1024
const LIST_KEY = '\u0000list'

const INSTRUCTIONS = `matric-memory notes with background jobs (title, embedding, links, AI revision).
Prefer the waiting tools to polling: after create_note or update_note call wait_for_note_ready; after create_job call wait_for_job; revise_note waits by itself.
Each wait returns within timeout_s (at most 50 s); when it answers timed_out: true, call it again.
Subscribe to matric://notes/{id}, matric://jobs/{id} or matric://queue/status to be told when they change; events_since pages through everything that happened.`

/** Who a session belongs to: requests presenting its id with another identity are refused as unknown. */
export function identityKey(p: Principal, memory: string): string {
  return JSON.stringify([p.sub, memory, p.tags ? [...new Set(p.tags)].sort() : null, p.tenant ?? null])
}

export type CloseReason = 'client' | 'idle' | 'expired' | 'revoked' | 'evicted' | 'shutdown'

/** What a session needs of the hub that owns it (hub.ts). */
export interface SessionHost {
  readonly ctx: McpDeps
  readonly config: Config['mcp']
  readonly logger: Logger
  readonly maxBodyBytes: number
  readonly search: SearchService
  readonly waits: Waits
  readonly eventsSince: EventsSince
  register(s: McpSession): void
  unregister(s: McpSession, reason: CloseReason): void
}

/** One MCP session: its transport and protocol server, its principal, subscriptions and resumption store. */
export class McpSession {
  readonly id: string
  readonly transport: WebStandardStreamableHTTPServerTransport
  readonly server: Server
  readonly store: SessionEventStore
  readonly subscriptions = new Set<string>()
  readonly coalescer: Coalescer
  readonly key: string
  readonly jtis = new Set<string>()
  principal: Principal
  /** ms epoch at which the newest token presented expires (Infinity: never). */
  expiresAt = Infinity
  lastActivity = Date.now()
  /** Order of last use among the hub's sessions (ties of lastActivity within a millisecond are common). */
  lastUse = 0
  /** Responses (SSE streams included) still being written. */
  open = 0
  registered = false
  closed = false
  private waiting = 0
  private firstSeen = true

  constructor(
    private hub: SessionHost,
    principal: Principal,
    readonly memory: string,
  ) {
    // A route prefix (MATRIC_MCP_SESSION_ROUTE) tells a load balancer which instance holds the session (docs/mcp.md).
    this.id = hub.config.sessionRoute ? `${hub.config.sessionRoute}.${crypto.randomUUID()}` : crypto.randomUUID()
    this.principal = principal
    this.key = identityKey(principal, memory)
    this.seen(principal)
    this.store = new SessionEventStore(crypto.randomUUID().replaceAll('-', '').slice(0, 16), hub.config.replayEvents, REPLAY_MAX_BYTES)
    this.transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => this.id,
      eventStore: this.store,
      onsessioninitialized: () => hub.register(this),
      // The bodies are read and size-checked before the transport sees them (hub.ts).
      maxRequestBodySize: hub.maxBodyBytes,
    })
    this.transport.onclose = () => this.close('client')
    this.coalescer = new Coalescer(NOTIFY_INTERVAL_MS, (key) => this.notify(key))
    this.server = new Server(
      { name: 'matric-realtime', title: 'matric-memory', version: VERSION },
      { capabilities: { tools: { listChanged: false }, resources: { subscribe: true, listChanged: true } }, instructions: INSTRUCTIONS },
    )
    this.handlers()
  }

  /** Waiting tool calls in progress. */
  get waitingCalls(): number {
    return this.waiting
  }

  get caller(): Caller {
    return callerOf({ principal: this.principal, memory: this.memory })
  }

  /** A request of this session's identity arrived with this (possibly newer) token. */
  seen(p: Principal): void {
    this.principal = p
    this.lastActivity = Date.now()
    const exp = p.exp === undefined ? Infinity : p.exp * 1000
    // The session lives as long as the newest token presented (a client refreshing its token keeps its session).
    this.expiresAt = this.firstSeen ? exp : Math.max(this.expiresAt, exp)
    this.firstSeen = false
    if (p.jti && this.jtis.size < 64) this.jtis.add(p.jti)
  }

  /** A resource changed (or the list did): tell the client, coalesced. */
  touch(uri: string): void {
    if (this.subscriptions.has(uri)) this.coalescer.touch(uri)
  }

  listChanged(): void {
    this.coalescer.touch(LIST_KEY)
  }

  private notify(key: string): void {
    if (this.closed) return
    const sent = key === LIST_KEY ? this.server.sendResourceListChanged() : this.server.sendResourceUpdated({ uri: key })
    sent.catch((err: unknown) => this.hub.logger.warn('MCP notification failed', { err, session: this.id.slice(0, 8) }))
  }

  close(reason: CloseReason): void {
    if (this.closed) return
    this.closed = true
    this.coalescer.close()
    this.subscriptions.clear()
    this.hub.unregister(this, reason)
    void this.transport.close().catch(() => {})
  }

  private handlers(): void {
    const s = this.server
    s.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listedTools() }))
    s.setRequestHandler(CallToolRequestSchema, (req, extra) => this.callTool(req.params.name, req.params.arguments, extra.signal, extra._meta?.progressToken, extra.sendNotification))
    s.setRequestHandler(ListResourcesRequestSchema, (req) => listResources(this.hub.ctx, this.caller, req.params?.cursor))
    s.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({ resourceTemplates: RESOURCE_TEMPLATES }))
    s.setRequestHandler(ReadResourceRequestSchema, (req) => this.guard(async () => ({ contents: [await readResource(this.hub.ctx, this.caller, req.params.uri)] })))
    // The SDK's McpServer has no subscription handling: declared in the capabilities above, handled here.
    s.setRequestHandler(SubscribeRequestSchema, (req) =>
      this.guard(async () => {
        const ref = parseResourceUri(req.params.uri)
        await readResource(this.hub.ctx, this.caller, req.params.uri) // only what the caller may read
        if (!this.subscriptions.has(ref!.uri) && this.subscriptions.size >= MAX_SUBSCRIPTIONS)
          throw new McpError(ErrorCode.InvalidRequest, `a session may subscribe to at most ${MAX_SUBSCRIPTIONS} resources; unsubscribe from some first`)
        this.subscriptions.add(ref!.uri)
        return {}
      }),
    )
    s.setRequestHandler(UnsubscribeRequestSchema, (req) => {
      const ref = parseResourceUri(req.params.uri)
      if (ref) this.subscriptions.delete(ref.uri)
      return {}
    })
  }

  /** Protocol errors for resource requests: ApiErrors become MCP errors with their message (never a stack). */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      if (e instanceof McpError) throw e
      if (e instanceof ApiError) throw new McpError(e.status === 404 ? RESOURCE_NOT_FOUND : e.status === 403 ? ErrorCode.InvalidRequest : ErrorCode.InvalidParams, e.message)
      this.hub.logger.error('MCP request failed', { err: e })
      throw new McpError(ErrorCode.InternalError, 'internal error (logged on the server)')
    }
  }

  private async callTool(
    name: string,
    args: unknown,
    signal: AbortSignal,
    progressToken: string | number | undefined,
    sendNotification: (n: { method: 'notifications/progress'; params: { progressToken: string | number; progress: number; total?: number; message?: string } }) => Promise<void>,
  ): Promise<CallToolResult> {
    const tool = toolByName(name)
    // An unknown tool is a protocol error (the client has a stale or wrong list), not a tool result.
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `unknown tool ${JSON.stringify(String(name).slice(0, 80))}: call tools/list for the tools this server offers`)
    const metrics = this.hub.ctx.metrics
    const checked = checkArguments(tool, args)
    if (!checked.ok) {
      metrics.mcpToolCall(tool.name, 'error')
      return errorResult(checked.message)
    }
    const call: ToolCall = {
      ctx: this.hub.ctx,
      principal: this.principal,
      caller: this.caller,
      search: this.hub.search,
      waits: this.hub.waits,
      events: this.hub.eventsSince,
      signal,
      progress:
        progressToken === undefined
          ? () => {}
          : (progress, total, message) =>
              void sendNotification({ method: 'notifications/progress', params: { progressToken, progress, ...(total !== undefined ? { total } : {}), ...(message ? { message } : {}) } }).catch(() => {}),
    }
    const waits = WAITING_TOOLS.has(tool.name)
    if (waits && this.waiting >= MAX_WAITS) {
      metrics.mcpToolCall(tool.name, 'error')
      return errorResult(`too_many_requests: ${MAX_WAITS} waiting calls are already in progress on this session; wait for one to return`)
    }
    if (waits) this.waiting++
    try {
      ensureScope(this.principal, tool)
      const out = await tool.run(call, checked.value as never)
      metrics.mcpToolCall(tool.name, 'ok')
      return { content: [{ type: 'text', text: JSON.stringify(out) }], structuredContent: out }
    } catch (e) {
      metrics.mcpToolCall(tool.name, 'error')
      if (e instanceof ApiError) return errorResult(`${e.code}: ${e.message}`)
      if (e instanceof McpError) return errorResult(e.message)
      this.hub.logger.error('MCP tool failed', { err: e, tool: tool.name })
      return errorResult(`internal error in ${tool.name} (logged on the server); the request may be retried`)
    } finally {
      if (waits) this.waiting--
    }
  }
}

function errorResult(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true }
}

export { parseResourceUri }
