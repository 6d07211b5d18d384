import { describe, expect, test } from 'bun:test'
import { discoveryDocument } from '../../src/modules/compat/discovery.ts'
import { hotmWouldBlock } from '../helpers/hotm-admission.ts'

describe('discoveryDocument', () => {
  const cases: [string, Parameters<typeof discoveryDocument>[0], Parameters<typeof discoveryDocument>[1], Record<string, unknown>][] = [
    ['auth required, HS256 only', { authMode: 'required', jwksUrl: undefined }, { search: false, mcp: false, storeWritable: true }, { 'auth.mode': 'oauth', 'auth.oauth_issuer_configured': false, 'capabilities.search.state': 'unavailable' }],
    ['auth required with a JWKS issuer', { authMode: 'required', jwksUrl: 'https://idp.example/jwks' }, { search: true, mcp: true, storeWritable: true }, { 'auth.oauth_issuer_configured': true, 'capabilities.search.state': 'available', 'capabilities.mcp_scope_gate.state': 'available' }],
    ['auth off', { authMode: 'off', jwksUrl: undefined }, { search: false, mcp: false, storeWritable: true }, { 'auth.mode': 'anonymous_local', 'auth.required': false, 'deployment.mode': 'local_sidecar' }],
    ['store not writable', { authMode: 'required', jwksUrl: undefined }, { search: true, mcp: false, storeWritable: false }, { 'capabilities.core_notes.state': 'degraded', 'capabilities.realtime_activity.reason_code': 'store_unwritable' }],
  ]
  for (const [name, config, features, want] of cases)
    test(name, () => {
      const doc = discoveryDocument(config, features)
      expect(hotmWouldBlock(doc)).toBeNull()
      for (const [path, value] of Object.entries(want)) expect(path.split('.').reduce((o: any, k) => o?.[k], doc)).toEqual(value)
      expect(JSON.stringify(doc)).not.toContain('idp.example') // the issuer is a yes/no, never its URL
    })

  test('HotM admission rules block what they should (the helper is not vacuous)', () => {
    const ok = discoveryDocument({ authMode: 'required', jwksUrl: undefined }, { search: false, mcp: false, storeWritable: true })
    const bad: [string, (d: any) => void][] = [
      ['unsupported_revision', (d) => (d.contract_revision = '2026-06-01')],
      ['invalid_api_version', (d) => (d.api.version = '2026.7.x')],
      ['server_api_too_new', (d) => (d.api.version = '2027.0.0')],
      ['unsupported_auth_contract', (d) => delete d.auth.claim_contract_version],
      ['invalid_minimum_client', (d) => delete d.api.minimum_hotm_enterprise_client],
    ]
    for (const [reason, spoil] of bad) {
      const d = structuredClone(ok)
      spoil(d)
      expect(hotmWouldBlock(d)).toBe(reason)
    }
  })
})
