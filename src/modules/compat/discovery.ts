import type { Config } from '../../config.ts'

/**
 * The Fortemi compatibility discovery document (`GET /api/v1/system/compatibility`, schema_version 1,
 * contract revision 2026-07-06) that today's HotM UI checks before it opens any stream. Pure: built from the
 * configuration and the features this build has, so the answer is honest and the same for every caller. It says
 * nothing an outsider should not learn: no product or dependency versions, no build provenance, no memory or
 * tenant names, no provider URLs. See docs/decisions.md ("How this server identifies itself").
 */

export type CapabilityState = 'available' | 'degraded' | 'preview' | 'unavailable' | 'unknown'
export interface Capability {
  state: CapabilityState
  reason_code?: string
}

/**
 * The Fortemi API contract this server implements (notes, jobs, the realtime event envelope and its SSE/WebSocket
 * transports) — a protocol version, not this product's version. HotM accepts 2026.7.0 ≤ version < 2027.0.0.
 */
export const FORTEMI_API_VERSION = '2026.7.0'
export const CONTRACT_REVISION = '2026-07-06'
/** Every HotM client version works: the seed-era WebSocket client and today's SSE-first client. */
export const MINIMUM_HOTM_CLIENT = '0.0.0'
/** The token claims contract of docs/websocket.md#authentication (sub, scope, memory, tags, tenant, exp). */
export const CLAIM_CONTRACT_VERSION = '1'

export interface Features {
  /** GET /api/v1/search exists. */
  search: boolean
  /** /mcp exists. */
  mcp: boolean
  /** The store accepts writes right now (health's write probe). */
  storeWritable: boolean
}

export function discoveryDocument(config: Pick<Config, 'authMode' | 'jwksUrl'>, f: Features) {
  const required = config.authMode === 'required'
  const unavailable = (reason_code: string): Capability => ({ state: 'unavailable', reason_code })
  const live: Capability = f.storeWritable ? { state: 'available' } : { state: 'degraded', reason_code: 'store_unwritable' }
  return {
    schema_version: 1 as const,
    contract_revision: CONTRACT_REVISION,
    api: {
      name: 'fortemi' as const,
      version: FORTEMI_API_VERSION,
      minimum_hotm_enterprise_client: MINIMUM_HOTM_CLIENT,
      git_sha_present: false,
      build_date_present: false,
    },
    deployment: {
      mode: required ? 'single_tenant_server' : 'local_sidecar',
      edition: 'community',
      hosted_multi_tenant_ready: false,
    },
    auth: {
      required,
      mode: required ? ('oauth' as const) : ('anonymous_local' as const),
      oauth_issuer_configured: required && config.jwksUrl !== undefined,
      // Every envelope carries the deployment's tenant_id, so a client can bind to it.
      tenant_context_available: true,
      claim_contract_version: CLAIM_CONTRACT_VERSION,
    },
    capabilities: {
      core_notes: live,
      search: f.search ? live : unavailable('contract_not_implemented'),
      jobs: live,
      realtime_activity: live,
      hosted_auth: unavailable('hosted_auth_not_configured'),
      premium_components: unavailable('contract_not_implemented'),
      backoffice_api: unavailable('contract_not_implemented'),
      audit_posture: unavailable('contract_not_implemented'),
      quota_status: unavailable('quota_policy_not_implemented'),
      kms_status: unavailable('key_provider_not_implemented'),
      mcp_scope_gate: f.mcp ? { state: 'available' } : unavailable('contract_not_implemented'),
      // Additive keys (clients ignore unknown ones): what this server adds to the Fortemi surface.
      webhooks: live,
      sse_replay: live,
    } satisfies Record<string, Capability>,
    links: {
      openapi: '/openapi.json',
      asyncapi: '/asyncapi.json',
      health: '/health',
      streaming_health: '/api/v1/health/streaming',
    },
  }
}

export type DiscoveryDocument = ReturnType<typeof discoveryDocument>
