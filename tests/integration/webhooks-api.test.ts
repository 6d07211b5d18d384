import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'

type Json = Record<string, any>

let s: TestServer
let admin: string
const HOOK = 'http://127.0.0.1:9/hook' // never contacted: no event is published to these webhooks' memories

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000', MATRIC_WEBHOOK_MAX_PER_MEMORY: '3' } })
  admin = await s.token({ memory: '*' })
})
afterAll(() => s.stop())

const create = (body: unknown, token = admin, memory = 'api') =>
  s.request('/api/v1/webhooks', { token, body, headers: { 'x-matric-memory': memory } })

describe('POST /api/v1/webhooks', () => {
  test('201 with the full object and a generated whsec_ secret', async () => {
    const res = await create({ url: HOOK, events: ['job.completed', 'JobFailed', 'note'], description: 'ci' })
    expect(res.status).toBe(201)
    const w = (await res.json()) as Json
    expect(w).toMatchObject({
      url: HOOK,
      events: ['job.completed', 'JobFailed', 'note'],
      description: 'ci',
      memory: 'api',
      max_retries: 3,
      is_active: true,
      disabled_reason: null,
      consecutive_failures: 0,
    })
    expect(w.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(w.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(Date.parse(w.created_at)).toBeGreaterThan(0)
    expect(w.updated_at).toBe(w.created_at)

    // The secret is never returned again.
    const got = (await (await s.request(`/api/v1/webhooks/${w.id}`, { token: admin })).json()) as Json
    expect(got.secret).toBeUndefined()
    expect(got).toEqual(Object.fromEntries(Object.entries(w).filter(([k]) => k !== 'secret')))
    const list = (await (await s.request('/api/v1/webhooks', { token: admin, headers: { 'x-matric-memory': 'api' } })).json()) as Json[]
    expect(list.map((x) => x.id)).toContain(w.id)
    expect(list.every((x) => x.secret === undefined)).toBe(true)
    await s.request(`/api/v1/webhooks/${w.id}`, { token: admin, method: 'DELETE' })
  })

  test('a caller secret and max_retries are kept; memory from the body must be granted', async () => {
    const res = await create({ url: HOOK, events: ['*'], secret: 'my-own-secret-0123456789', max_retries: 0, memory: 'other' })
    expect(res.status).toBe(201)
    const w = (await res.json()) as Json
    expect(w).toMatchObject({ secret: 'my-own-secret-0123456789', max_retries: 0, memory: 'other' })
    const limited = await s.token({ memory: ['api'] })
    const denied = await create({ url: HOOK, events: ['*'], memory: 'other' }, limited)
    expect(denied.status).toBe(403)
    // A webhook of a memory the caller cannot see does not exist for it.
    expect((await s.request(`/api/v1/webhooks/${w.id}`, { token: limited })).status).toBe(404)
    expect((await s.request(`/api/v1/webhooks/${w.id}`, { token: admin, method: 'DELETE' })).status).toBe(204)
  })

  const invalid: [string, unknown, number, string][] = [
    ['unknown event name', { url: HOOK, events: ['job.exploded'] }, 422, 'unknown event name'],
    ['empty events', { url: HOOK, events: [] }, 422, 'events'],
    ['missing url', { events: ['*'] }, 422, 'url'],
    ['ftp url', { url: 'ftp://example.com/x', events: ['*'] }, 422, 'scheme'],
    ['credentials in url', { url: 'http://u:p@127.0.0.1/x', events: ['*'] }, 422, 'credentials'],
    ['not a url', { url: 'hooks', events: ['*'] }, 422, 'url'],
    ['short secret', { url: HOOK, events: ['*'], secret: 'short' }, 422, 'secret'],
    ['bad whsec secret', { url: HOOK, events: ['*'], secret: 'whsec_!!!not-base64!!!' }, 422, 'secret'],
    ['max_retries over 10', { url: HOOK, events: ['*'], max_retries: 11 }, 422, 'max_retries'],
    ['extra field', { url: HOOK, events: ['*'], colour: 'red' }, 422, ''],
    ['malformed memory', { url: HOOK, events: ['*'], memory: '../x' }, 400, 'memory'],
  ]
  for (const [name, body, status, text] of invalid) {
    test(`${name} → ${status}`, async () => {
      const res = await create(body)
      expect(res.status).toBe(status)
      const err = (await res.json()) as Json
      expect(typeof err.error).toBe('string')
      expect(JSON.stringify(err).toLowerCase()).toContain(text)
    })
  }

  test('malformed JSON → 400', async () => {
    const res = await create('{"url": ')
    expect(res.status).toBe(400)
  })

  test('admin scope required; tag-restricted tokens refused', async () => {
    const writer = await s.token({ scope: 'read write', memory: 'api' })
    expect((await create({ url: HOOK, events: ['*'] }, writer)).status).toBe(403)
    expect((await s.request('/api/v1/webhooks', { token: writer })).status).toBe(403)
    expect((await s.request('/api/v1/webhooks')).status).toBe(401)
    const tagged = await s.token({ memory: 'api', tags: ['a'] })
    const res = await create({ url: HOOK, events: ['*'] }, tagged)
    expect(res.status).toBe(403)
    expect(((await res.json()) as Json).message).toContain('tag-restricted')
  })

  test('at most MATRIC_WEBHOOK_MAX_PER_MEMORY per memory → 409', async () => {
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const res = await create({ url: HOOK, events: ['*'] }, admin, 'capped')
      expect(res.status).toBe(201)
      ids.push(((await res.json()) as Json).id)
    }
    const over = await create({ url: HOOK, events: ['*'] }, admin, 'capped')
    expect(over.status).toBe(409)
    expect(((await over.json()) as Json).error).toBe('conflict')
    // Another memory is not affected; deleting frees a slot.
    expect((await create({ url: HOOK, events: ['*'] }, admin, 'capped-2')).status).toBe(201)
    await s.request(`/api/v1/webhooks/${ids[0]}`, { token: admin, method: 'DELETE' })
    expect((await create({ url: HOOK, events: ['*'] }, admin, 'capped')).status).toBe(201)
  })
})

describe('rate limit', () => {
  test('creation beyond MATRIC_WEBHOOK_CREATE_PER_MINUTE per principal → 429 with retry-after', async () => {
    const s2 = await startServer({ env: { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_CREATE_PER_MINUTE: '2' } })
    try {
      const alice = await s2.token({ sub: 'alice' })
      const bob = await s2.token({ sub: 'bob' })
      const body = { url: HOOK, events: ['*'] }
      expect((await s2.request('/api/v1/webhooks', { token: alice, body })).status).toBe(201)
      expect((await s2.request('/api/v1/webhooks', { token: alice, body })).status).toBe(201)
      const limited = await s2.request('/api/v1/webhooks', { token: alice, body })
      expect(limited.status).toBe(429)
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect(((await limited.json()) as Json).error).toBe('too_many_requests')
      expect((await s2.request('/api/v1/webhooks', { token: bob, body })).status).toBe(201)
    } finally {
      await s2.stop()
    }
  })
})

describe('GET/PATCH/DELETE /api/v1/webhooks/{id}', () => {
  let id: string
  beforeAll(async () => {
    id = ((await (await create({ url: HOOK, events: ['job'] }, admin, 'patch')).json()) as Json).id
  })

  test('PATCH updates fields and updated_at; never returns the secret', async () => {
    const res = await s.request(`/api/v1/webhooks/${id}`, {
      token: admin,
      method: 'PATCH',
      body: { events: ['note.created', 'NoteDeleted'], description: 'changed', max_retries: 5, url: 'http://127.0.0.1:9/other' },
    })
    expect(res.status).toBe(200)
    const w = (await res.json()) as Json
    expect(w).toMatchObject({ events: ['note.created', 'NoteDeleted'], description: 'changed', max_retries: 5, url: 'http://127.0.0.1:9/other' })
    expect(w.secret).toBeUndefined()
    expect(w.updated_at >= w.created_at).toBe(true)
    const cleared = (await (await s.request(`/api/v1/webhooks/${id}`, { token: admin, method: 'PATCH', body: { description: null } })).json()) as Json
    expect(cleared.description).toBeNull()
  })

  test('PATCH is_active false/true disables with a reason and re-enables', async () => {
    const off = (await (await s.request(`/api/v1/webhooks/${id}`, { token: admin, method: 'PATCH', body: { is_active: false } })).json()) as Json
    expect(off).toMatchObject({ is_active: false, disabled_reason: 'disabled by tester' })
    const on = (await (await s.request(`/api/v1/webhooks/${id}`, { token: admin, method: 'PATCH', body: { is_active: true } })).json()) as Json
    expect(on).toMatchObject({ is_active: true, disabled_reason: null, consecutive_failures: 0 })
  })

  test('PATCH validation: unknown events 422, bad url 422, unknown field 422', async () => {
    for (const body of [{ events: ['nope'] }, { url: 'gopher://x' }, { secret: 'x'.repeat(20) }, { events: [] }]) {
      const res = await s.request(`/api/v1/webhooks/${id}`, { token: admin, method: 'PATCH', body })
      expect(res.status).toBe(422)
    }
  })

  test('unknown or malformed ids', async () => {
    const missing = '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e71'
    expect((await s.request(`/api/v1/webhooks/${missing}`, { token: admin })).status).toBe(404)
    expect((await s.request(`/api/v1/webhooks/${missing}`, { token: admin, method: 'DELETE' })).status).toBe(404)
    expect((await s.request(`/api/v1/webhooks/${missing}/deliveries`, { token: admin })).status).toBe(404)
    expect((await s.request(`/api/v1/webhooks/${missing}/test`, { token: admin, method: 'POST' })).status).toBe(404)
    expect((await s.request(`/api/v1/webhooks/${missing}/rotate-secret`, { token: admin, method: 'POST' })).status).toBe(404)
    expect((await s.request(`/api/v1/webhooks/${id}/deliveries/${missing}/retry`, { token: admin, method: 'POST' })).status).toBe(404)
    expect((await s.request('/api/v1/webhooks/not-a-uuid', { token: admin })).status).toBe(422)
    expect((await s.request(`/api/v1/webhooks/${id}/deliveries?limit=0`, { token: admin })).status).toBe(422)
  })

  test('rotate-secret returns the new secret and when the old one stops signing', async () => {
    const res = await s.request(`/api/v1/webhooks/${id}/rotate-secret`, { token: admin, method: 'POST' })
    expect(res.status).toBe(200)
    const r = (await res.json()) as Json
    expect(r.webhook_id).toBe(id)
    expect(r.secret).toMatch(/^whsec_/)
    const ends = Date.parse(r.previous_secret_expires_at) - Date.now()
    expect(ends).toBeGreaterThan(23 * 3600_000)
    expect(ends).toBeLessThanOrEqual(24 * 3600_000)
  })

  test('DELETE → 204, then 404', async () => {
    expect((await s.request(`/api/v1/webhooks/${id}`, { token: admin, method: 'DELETE' })).status).toBe(204)
    expect((await s.request(`/api/v1/webhooks/${id}`, { token: admin })).status).toBe(404)
  })
})

describe('OpenAPI', () => {
  test('named schemas with examples, every webhook route documented', async () => {
    const doc = (await (await s.request('/openapi.json')).json()) as Json
    for (const name of ['Webhook', 'WebhookWithSecret', 'CreateWebhook', 'PatchWebhook', 'RotatedSecret', 'DeliveryAttempt', 'Delivery']) {
      expect(doc.components.schemas[name]).toBeDefined()
      expect(doc.components.schemas[name].examples?.length).toBeGreaterThan(0)
    }
    for (const path of [
      '/api/v1/webhooks',
      '/api/v1/webhooks/{id}',
      '/api/v1/webhooks/{id}/deliveries',
      '/api/v1/webhooks/{id}/test',
      '/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry',
      '/api/v1/webhooks/{id}/rotate-secret',
    ]) {
      expect(doc.paths[path]).toBeDefined()
    }
  })
})
