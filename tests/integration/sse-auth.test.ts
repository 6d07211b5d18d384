/** README.md#authentication-and-tenancy, docs/sse.md against a real server: how an SSE stream authenticates, and the stream-token lifecycle. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { decodeJwt } from 'jose'
import { signToken } from '../../src/auth/sign.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'
import { SseClient } from '../helpers/sse-client.ts'

let s: TestServer
let admin: string
let alice: string
const open: SseClient[] = []

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_STREAM_TOKEN_TTL_S: '300' } })
  admin = await s.token({ sub: 'root', memory: '*' })
  alice = await s.token({ sub: 'alice', scope: 'read write', memory: ['m1', 'default'], tags: ['alpha'] })
})
afterEach(() => {
  for (const c of open.splice(0)) c.close()
})
afterAll(() => s.stop())

async function connect(query: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const c = await SseClient.open(`${s.url}/api/v1/events${query}`, { headers })
  open.push(c)
  if (c.status === 200) await c.frame((f) => f.retry !== undefined, 'the retry hint')
  return c
}

interface Minted {
  token: string
  token_id: string
  expires_at: string
}

async function mint(bearer: string, body?: unknown): Promise<Minted> {
  const res = await s.request('/api/v1/events/tokens', { method: 'POST', token: bearer, body })
  expect(res.status).toBe(201)
  return (await res.json()) as Minted
}

async function errorOf(res: Response): Promise<{ status: number; error: string; message: string }> {
  const body = (await res.json()) as { error: string; message: string }
  return { status: res.status, ...body }
}

describe('where the token travels', () => {
  const ways: [string, (t: string) => [string, Record<string, string>]][] = [
    ['Authorization header', (t) => ['', { authorization: `Bearer ${t}` }]],
    ['?token= query', (t) => [`?token=${t}`, {}]],
    ['matric_token cookie', (t) => ['', { cookie: `theme=dark; matric_token=${t}` }]],
  ]
  for (const [name, how] of ways)
    test(`${name} opens the stream`, async () => {
      const [q, h] = how(admin)
      const c = await connect(q, h)
      expect(c.status).toBe(200)
    })

  const refused: [string, () => Promise<[string, Record<string, string>]>, RegExp][] = [
    ['no token', async () => ['', {}], /missing bearer token/],
    ['garbage token', async () => ['?token=not-a-jwt', {}], /malformed token/],
    ['wrong signature', async () => [`?token=${await signToken(new TextEncoder().encode('x'.repeat(48)), { sub: 'a', scope: 'read' })}`, {}], /signature/],
    ['expired token', async () => [`?token=${await s.token({ ttlS: -60 })}`, {}], /expired/],
    [
      'expired stream token',
      async () => [`?token=${await signToken(s.ctx.secret.key, { sub: 'alice', scope: 'read', stream: true, jti: 'old', ttlS: -60 })}`, {}],
      /expired/,
    ],
  ]
  for (const [name, how, message] of refused)
    test(`${name} → 401 with the JSON error shape`, async () => {
      const [q, h] = await how()
      const res = await fetch(`${s.url}/api/v1/events${q}`, { headers: h })
      const e = await errorOf(res)
      expect(e).toMatchObject({ status: 401, error: 'unauthorized' })
      expect(e.message).toMatch(message)
    })
})

describe('POST /api/v1/events/tokens', () => {
  test('mints a read-only event-stream token bound to the caller\u2019s memories and tags', async () => {
    const before = Math.floor(Date.now() / 1000)
    const m = await mint(alice)
    const claims = decodeJwt(m.token)
    expect(claims).toMatchObject({ sub: 'alice', scope: 'read', aud: 'event-stream', memory: ['m1', 'default'], tags: ['alpha'], jti: m.token_id })
    expect(claims.exp).toBe(Date.parse(m.expires_at) / 1000)
    expect(claims.exp! - before).toBeGreaterThanOrEqual(299)
    expect(claims.exp! - before).toBeLessThanOrEqual(301)
  })

  test('ttl_s is honoured below the maximum and capped above it', async () => {
    const now = Math.floor(Date.now() / 1000)
    const short = decodeJwt((await mint(admin, { ttl_s: 60 })).token).exp! - now
    const capped = decodeJwt((await mint(admin, { ttl_s: 86_400 })).token).exp! - now
    expect(short).toBeGreaterThanOrEqual(59)
    expect(short).toBeLessThanOrEqual(61)
    expect(capped).toBeGreaterThanOrEqual(299)
    expect(capped).toBeLessThanOrEqual(301)
  })

  test('an admin token still yields a read-only token', async () => {
    expect(decodeJwt((await mint(admin, {})).token).scope).toBe('read')
  })

  const bad: [string, unknown, number][] = [
    ['ttl_s 0', { ttl_s: 0 }, 422],
    ['ttl_s not a number', { ttl_s: 'soon' }, 422],
    ['unknown field', { memory: 'x' }, 422],
    ['not JSON', '{', 400],
  ]
  for (const [name, body, status] of bad)
    test(`${name} → ${status}`, async () => {
      const res = await s.request('/api/v1/events/tokens', { token: admin, body })
      expect(res.status).toBe(status)
      expect(((await res.json()) as { error: string }).error).toBeString()
    })

  test('needs a regular token: no token → 401, a stream token → 401', async () => {
    expect((await s.request('/api/v1/events/tokens', { method: 'POST' })).status).toBe(401)
    const m = await mint(alice)
    const e = await errorOf(await s.request('/api/v1/events/tokens', { method: 'POST', token: m.token }))
    expect(e).toMatchObject({ status: 401, error: 'unauthorized' })
  })
})

describe('using a stream token', () => {
  test('opens a stream via ?token= within its memories; other memories → 403', async () => {
    const m = await mint(alice)
    expect((await connect(`?token=${m.token}&memory=m1`)).status).toBe(200)
    const c = await connect(`?token=${m.token}&memory=m2`)
    expect(c.status).toBe(403)
  })

  test('is refused by the REST API', async () => {
    const m = await mint(admin)
    const e = await errorOf(await s.request('/api/v1/notes', { token: m.token }))
    expect(e).toMatchObject({ status: 401, error: 'unauthorized' })
    expect(e.message).toMatch(/stream tokens/)
  })
})

describe('DELETE /api/v1/events/tokens/{token_id}', () => {
  test('revocation closes the open streams of that token and refuses it afterwards', async () => {
    const m = await mint(alice)
    const other = await mint(alice)
    const doomed = await connect(`?token=${m.token}`)
    const survivor = await connect(`?token=${other.token}`)
    expect(doomed.status).toBe(200)
    await waitFor(() => s.ctx.live.sseConnections() === 2, 'two open streams')

    const res = await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE', token: alice })
    expect(res.status).toBe(204)
    await doomed.ended
    expect(doomed.frames.at(-1)).toEqual({ comment: 'stream closed: token revoked' })
    await waitFor(() => s.ctx.live.sseConnections() === 1, 'only the other stream open')

    const e = await errorOf(await fetch(`${s.url}/api/v1/events?token=${m.token}`))
    expect(e).toMatchObject({ status: 401, error: 'unauthorized' })
    expect(e.message).toMatch(/revoked/)
    // The other token's stream is untouched.
    const tagged = await s.request('/api/v1/notes', { token: admin, body: { title: 't', content: 'c', tags: ['alpha'] } })
    const noteId = ((await tagged.json()) as { id: string }).id
    await survivor.frame((f) => f.event === 'note.created' && f.data!.includes(noteId), 'an event on the other stream')
    expect(s.ctx.live.sseConnections()).toBe(1)
  })

  test('revoking again is harmless (204)', async () => {
    const m = await mint(alice)
    for (let i = 0; i < 2; i++) expect((await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE', token: alice })).status).toBe(204)
  })

  test('only the minting subject or an admin may revoke', async () => {
    const m = await mint(alice)
    const bob = await s.token({ sub: 'bob', scope: 'read write', memory: '*' })
    const e = await errorOf(await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE', token: bob }))
    expect(e).toMatchObject({ status: 403, error: 'forbidden' })
    expect((await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE', token: admin })).status).toBe(204)
  })

  test('an admin may revoke only tokens whose memories it administers all of', async () => {
    const m = await mint(alice) // memories m1 and default
    for (const memory of ['b', 'default', ['m1', 'b']]) {
      const otherAdmin = await s.token({ sub: 'carol', scope: 'admin', memory })
      const e = await errorOf(await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE', token: otherAdmin }))
      expect({ memory, status: e.status }).toEqual({ memory, status: 403 })
    }
    // still usable: nothing was revoked
    expect((await connect(`?token=${m.token}&memory=m1`)).status).toBe(200)
    const both = await s.token({ sub: 'carol', scope: 'admin', memory: ['default', 'm1', 'x'] })
    expect((await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE', token: both })).status).toBe(204)
  })

  test('a token for every memory (*) can only be revoked by its subject or an admin of every memory', async () => {
    const m = await mint(admin) // sub root, memory *
    const wide = await s.token({ sub: 'carol', scope: 'admin', memory: ['default', 'm1', 'm2'] })
    expect((await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE', token: wide })).status).toBe(403)
    const star = await s.token({ sub: 'dave', scope: 'admin', memory: '*' })
    expect((await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE', token: star })).status).toBe(204)
  })

  test('unknown id → 404; no token → 401; a stream token cannot revoke → 401', async () => {
    const e = await errorOf(await s.request('/api/v1/events/tokens/nope', { method: 'DELETE', token: admin }))
    expect(e).toMatchObject({ status: 404, error: 'not_found' })
    const m = await mint(alice)
    expect((await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE' })).status).toBe(401)
    expect((await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE', token: m.token })).status).toBe(401)
  })

  test('a revocation survives a restart', async () => {
    const m = await mint(alice)
    expect((await s.request(`/api/v1/events/tokens/${m.token_id}`, { method: 'DELETE', token: alice })).status).toBe(204)
    const again = await startServer({ dataDir: s.dataDir })
    try {
      const res = await fetch(`${again.url}/api/v1/events?token=${m.token}`)
      expect(res.status).toBe(401)
    } finally {
      await again.stop()
    }
  })
})
