import { Elysia, t } from 'elysia'
import type { AppContext } from '../../context.ts'
import { ownModels } from '../../http/schemas.ts'
import { dbCheck } from '../system/index.ts'
import { discoveryDocument, type Features } from './discovery.ts'

/** What this module uses of the composition root (src/context.ts). */
export type CompatDeps = Pick<AppContext, 'config' | 'live' | 'logger' | 'stores'>

const Capability = t.Object(
  {
    state: t.Union([t.Literal('available'), t.Literal('degraded'), t.Literal('preview'), t.Literal('unavailable'), t.Literal('unknown')]),
    reason_code: t.Optional(t.String()),
  },
  { additionalProperties: false },
)

export const Compatibility = t.Object(
  {
    schema_version: t.Literal(1),
    contract_revision: t.String({ description: 'Fortemi discovery contract revision' }),
    api: t.Object(
      {
        name: t.Literal('fortemi'),
        version: t.String({ description: 'the Fortemi API contract version implemented (not this product’s version)' }),
        minimum_hotm_enterprise_client: t.String(),
        git_sha_present: t.Boolean(),
        build_date_present: t.Boolean(),
      },
      { additionalProperties: false },
    ),
    deployment: t.Object({ mode: t.String(), edition: t.String(), hosted_multi_tenant_ready: t.Boolean() }, { additionalProperties: false }),
    auth: t.Object(
      {
        required: t.Boolean({ description: 'false only with MATRIC_AUTH=off' }),
        mode: t.Union([t.Literal('oauth'), t.Literal('anonymous_local')]),
        oauth_issuer_configured: t.Boolean(),
        tenant_context_available: t.Boolean(),
        claim_contract_version: t.String(),
      },
      { additionalProperties: false },
    ),
    capabilities: t.Record(t.String(), Capability),
    links: t.Object({ openapi: t.String(), asyncapi: t.String(), health: t.String(), streaming_health: t.String() }, { additionalProperties: false }),
  },
  { additionalProperties: false },
)

export const StreamingHealth = t.Object(
  {
    status: t.Union([t.Literal('ok'), t.Literal('degraded')]),
    sse: t.Object({ state: t.String(), connections: t.Integer() }, { additionalProperties: false }),
    websocket: t.Object({ state: t.String(), connections: t.Integer() }, { additionalProperties: false }),
    replay: t.Object({ state: t.String() }, { additionalProperties: false }),
  },
  { additionalProperties: false },
)

/** The store's write health, probed at most once per second (these routes are public: bounded work per request). */
function cachedWritable(probe: () => Promise<'ok' | 'error'>): () => Promise<boolean> {
  let at = -Infinity
  let last: Promise<boolean> = Promise.resolve(true)
  return () => {
    const now = performance.now()
    if (now - at >= 1000) {
      at = now
      last = probe().then((r) => r === 'ok')
    }
    return last
  }
}

/**
 * GET /api/v1/system/compatibility (the Fortemi discovery document HotM checks first) and
 * GET /api/v1/health/streaming (the realtime transports' health it links to). Both public, never cached.
 */
export function compatController(ctx: CompatDeps, features: Omit<Features, 'storeWritable'>) {
  const writable = cachedWritable(dbCheck(ctx.stores.probe, ctx.logger))
  const noStore = { 'cache-control': 'no-store' }
  return new Elysia({ name: 'matric-compat', tags: ['system'] })
    .model(ownModels({ Compatibility, StreamingHealth }))
    .get(
      '/api/v1/system/compatibility',
      async ({ set }) => {
        Object.assign(set.headers, noStore)
        return discoveryDocument(ctx.config, { ...features, storeWritable: await writable() })
      },
      {
        response: { 200: 'Compatibility' },
        detail: {
          summary: 'Fortemi compatibility discovery',
          description:
            'Public (no authentication; any Authorization or memory header is ignored), `Cache-Control: no-store`. The Fortemi ' +
            'discovery document (schema_version 1) that the HotM UI checks before opening any stream: the API contract implemented, ' +
            'whether auth is required, and the state of each capability. See docs/hotm.md.',
          security: [],
        },
      },
    )
    .get(
      '/api/v1/health/streaming',
      async ({ set }) => {
        Object.assign(set.headers, noStore)
        const ok = await writable()
        const state = ok ? 'available' : 'degraded'
        return {
          status: ok ? ('ok' as const) : ('degraded' as const),
          sse: { state, connections: ctx.live.sseConnections() },
          websocket: { state, connections: ctx.live.wsConnections() },
          replay: { state },
        }
      },
      {
        response: { 200: 'StreamingHealth' },
        detail: {
          summary: 'Realtime transports health',
          description: 'Public, `Cache-Control: no-store`: whether SSE, the WebSocket and replay are serving, and how many clients are connected.',
          security: [],
        },
      },
    )
}
