/** GET /api/v1/system/compatibility: the Fortemi discovery document today's HotM checks before anything else. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { hotmWouldBlock } from '../helpers/hotm-admission.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { VERSION } from '../../src/version.ts'

const REQUIRED_CAPABILITIES = [
  'core_notes',
  'search',
  'jobs',
  'realtime_activity',
  'hosted_auth',
  'premium_components',
  'backoffice_api',
  'audit_posture',
  'quota_status',
  'kms_status',
  'mcp_scope_gate',
]

let required: TestServer
let off: TestServer

beforeAll(async () => {
  required = await startServer({ env: { MATRIC_TENANT_ID: 'secret-tenant-name' } })
  off = await startServer({ env: { MATRIC_AUTH: 'off' } })
})
afterAll(async () => {
  await required.stop()
  await off.stop()
})

const get = async (s: TestServer, headers: Record<string, string> = {}) => {
  const res = await fetch(`${s.url}/api/v1/system/compatibility`, { headers })
  return { res, body: (await res.json()) as Record<string, any> }
}

describe('GET /api/v1/system/compatibility', () => {
  test('public, no-store, and accepted by the HotM admission rules with auth required', async () => {
    const { res, body } = await get(required)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('content-type')).toContain('application/json')
    expect(hotmWouldBlock(body)).toBeNull()
    expect(body.auth).toMatchObject({ required: true, mode: 'oauth', claim_contract_version: '1', oauth_issuer_configured: false })
    expect(body.deployment).toMatchObject({ mode: 'single_tenant_server', hosted_multi_tenant_ready: false })
  })

  test('with MATRIC_AUTH=off it advertises anonymous_local (HotM then also opens its WebSocket)', async () => {
    const { body } = await get(off)
    expect(hotmWouldBlock(body)).toBeNull()
    expect(body.auth).toMatchObject({ required: false, mode: 'anonymous_local' })
    expect(body.deployment.mode).toBe('local_sidecar')
  })

  test('ignores the Authorization and memory headers HotM sends along (even a bad token)', async () => {
    const { res, body } = await get(required, { authorization: 'Bearer not-a-token', 'x-fortemi-memory': 'nope', 'content-type': 'application/json' })
    expect(res.status).toBe(200)
    expect(hotmWouldBlock(body)).toBeNull()
  })

  test('every capability HotM branches on is present, with a state and, unless available, a reason', async () => {
    const { body } = await get(required)
    for (const key of REQUIRED_CAPABILITIES) {
      expect(body.capabilities[key]).toBeDefined()
      const c = body.capabilities[key] as { state: string; reason_code?: string }
      expect(['available', 'degraded', 'preview', 'unavailable', 'unknown']).toContain(c.state)
      if (c.state !== 'available') expect(c.reason_code).toMatch(/^[a-z_]+$/)
    }
    // What really exists here.
    for (const key of ['core_notes', 'jobs', 'realtime_activity']) expect(body.capabilities[key].state).toBe('available')
    for (const key of ['hosted_auth', 'backoffice_api', 'kms_status', 'quota_status']) expect(body.capabilities[key].state).toBe('unavailable')
  })

  test('every link points at a route that answers', async () => {
    const { body } = await get(required)
    for (const [name, path] of Object.entries(body.links as Record<string, string>)) {
      const res = await fetch(`${required.url}${path}`)
      expect(`${name} ${res.status}`).toBe(`${name} 200`)
    }
  })

  test('discloses nothing an outsider should not learn', async () => {
    await required.request('/api/v1/notes', { token: await required.token({ memory: 'private-memory-name' }), body: { content: 'x' } })
    const { body } = await get(required)
    const text = JSON.stringify(body)
    for (const secret of ['secret-tenant-name', 'private-memory-name', VERSION, 'bun', 'elysia', 'sqlite', required.dataDir]) expect(text).not.toContain(secret)
    expect(body.api.git_sha_present).toBe(false)
    expect(body.api.build_date_present).toBe(false)
  })
})

describe('GET /api/v1/health/streaming', () => {
  test('public, no-store, with the transports and their connection counts', async () => {
    const res = await fetch(`${required.url}/api/v1/health/streaming`)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = (await res.json()) as Record<string, any>
    expect(body).toMatchObject({ status: 'ok', sse: { state: 'available' }, websocket: { state: 'available' }, replay: { state: 'available' } })
    expect(typeof body.sse.connections).toBe('number')
  })
})
