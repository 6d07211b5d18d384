import { Elysia } from 'elysia'
import type { AppContext } from '../../context.ts'
import type { McpHub } from './hub.ts'

const hubs = new WeakMap<AppContext, () => Promise<McpHub>>()

/** The MCP hub of an app, started if it was not yet (tests and diagnostics). */
export function mcpHub(ctx: AppContext): Promise<McpHub> {
  const get = hubs.get(ctx)
  if (!get) throw new Error('this app has no MCP endpoint')
  return get()
}

/**
 * RFC 9728 protected-resource metadata for /mcp, so MCP clients can discover the OAuth authorization server.
 * Served only when tokens from an identity provider are accepted (MATRIC_JWKS_URL).
 */
export function protectedResourceMetadata(origin: string, issuer: string | undefined): Record<string, unknown> {
  return {
    resource: `${origin}/mcp`,
    ...(issuer ? { authorization_servers: [issuer] } : {}),
    bearer_methods_supported: ['header'],
    scopes_supported: ['read', 'write', 'admin'],
    resource_name: 'matric-memory MCP',
    resource_documentation: `${origin}/docs`,
  }
}

/**
 * POST/GET/DELETE /mcp (MCP Streamable HTTP, see docs/mcp.md) and its OAuth metadata. Kept out of the OpenAPI
 * document: its contract is the MCP protocol, not these routes.
 */
export function mcpController(ctx: AppContext) {
  // The MCP SDK and the hub load on the first /mcp request: a server no agent talks to does not carry them
  // (≈ 9 MB of resident memory at start; see BENCHMARKS.md).
  let hub: McpHub | undefined
  let loading: Promise<McpHub> | undefined
  let closed = false
  const get = (): Promise<McpHub> =>
    hub
      ? Promise.resolve(hub)
      : (loading ??= import('./hub.ts').then(({ McpHub }) => {
          if (closed) throw new Error('the server is shutting down')
          return (hub = new McpHub(ctx))
        }))
  hubs.set(ctx, get)
  ctx.openMemories.push(() => hub?.memories() ?? [])
  ctx.onClose(() => {
    closed = true
    hub?.shutdown()
  })
  const app = new Elysia({ name: 'matric-mcp' })
    // Only `request` and `server` are destructured: anything touching the body would make Elysia read it first.
    .all('/mcp', async ({ request, server }) => (await get()).handle(request, server), { parse: 'none', detail: { hide: true } })
  if (!ctx.config.jwksUrl) return app
  const metadata = ({ request }: { request: Request }) =>
    Response.json(protectedResourceMetadata(new URL(request.url).origin, ctx.config.mcp.oauthIssuer), { headers: { 'cache-control': 'public, max-age=3600' } })
  return app
    .get('/.well-known/oauth-protected-resource', metadata, { detail: { hide: true } })
    .get('/.well-known/oauth-protected-resource/mcp', metadata, { detail: { hide: true } })
}
