/**
 * What today's HotM client (2026.7.x) demands of the discovery document before it opens any stream, restated in
 * our own words from its behaviour: schema 1, revision 2026-07-06, API "fortemi" with a SemVer version in
 * [2026.7.0, 2027.0.0), a SemVer minimum client not above the client's version, and a claim contract "1" when auth
 * is required or the anonymous_local mode when it is not. Returns the reason it would block, or null.
 */
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$/

function parse(v: unknown): number[] | null {
  const m = typeof v === 'string' ? SEMVER.exec(v) : null
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null
}
const cmp = (a: number[], b: number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!

export function hotmWouldBlock(doc: Record<string, any>, clientVersion = '2026.7.1'): string | null {
  if (!doc || typeof doc !== 'object' || !doc.api || typeof doc.api !== 'object') return 'malformed_contract'
  if (Number(doc.schema_version) !== 1) return 'unsupported_schema'
  if (doc.contract_revision !== '2026-07-06') return 'unsupported_revision'
  if (doc.api.name !== 'fortemi') return 'malformed_contract'
  const min = parse(doc.api.minimum_hotm_enterprise_client)
  const client = parse(clientVersion)
  if (!min || !client) return 'invalid_minimum_client'
  if (cmp(client, min) < 0) return 'minimum_client_not_met'
  const server = parse(doc.api.version)
  if (!server) return 'invalid_api_version'
  if (cmp(server, [2026, 7, 0]) < 0) return 'server_api_too_old'
  if (cmp(server, [2027, 0, 0]) >= 0) return 'server_api_too_new'
  if (!doc.auth || typeof doc.auth !== 'object') return 'malformed_contract'
  if (doc.auth.required) {
    if (doc.auth.claim_contract_version !== '1') return 'unsupported_auth_contract'
  } else if (doc.auth.mode !== 'anonymous_local') return 'unsupported_auth_contract'
  return null
}
