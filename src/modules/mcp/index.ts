import { Elysia } from 'elysia'
import type { Config } from '../../config.ts'
import type { McpLoader } from './loader.ts'
import type { McpHub } from './hub.ts'

/** The MCP hub of an app, started if it was not yet (tests and diagnostics). */
export function mcpHub(ctx: { mcp: McpLoader }): Promise<McpHub> {
  return ctx.mcp.get()
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
export function mcpController(ctx: { mcp: McpLoader; config: Config }) {
  const app = new Elysia({ name: 'matric-mcp' })
    // Only `request` and `server` are destructured: anything touching the body would make Elysia read it first.
    .all('/mcp', async ({ request, server }) => (await ctx.mcp.get()).handle(request, server), { parse: 'none', detail: { hide: true } })
  if (!ctx.config.jwksUrl) return app
  const metadata = ({ request }: { request: Request }) =>
    Response.json(protectedResourceMetadata(new URL(request.url).origin, ctx.config.mcp.oauthIssuer), { headers: { 'cache-control': 'public, max-age=3600' } })
  return app
    .get('/.well-known/oauth-protected-resource', metadata, { detail: { hide: true } })
    .get('/.well-known/oauth-protected-resource/mcp', metadata, { detail: { hide: true } })
}
