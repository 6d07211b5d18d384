/** README.md#authentication-and-tenancy on REST: who may call what, on which memory, and what every refusal looks like. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { decodeJwt, SignJWT } from 'jose'
import { signToken } from '../../src/auth/sign.ts'
import { rogueKey, startJwks, type JwksDouble } from '../doubles/jwks.ts'
import { rawWs } from '../helpers/raw-ws.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

interface ErrorBody {
  error: string
  message: string
}
interface Note {
  id: string
  tags: string[]
}
interface Job {
  id: string
  note_id: string | null
  status: string
}

/** Asserts the status, the one error shape and, for 401, the Bearer challenge; returns the body. */
async function expectError(res: Response, status: number, code: string): Promise<ErrorBody> {
  const body = (await res.json()) as ErrorBody
  expect({ status: res.status, error: body.error }).toEqual({ status, error: code })
  expect(typeof body.message).toBe('string')
  expect(body.message.length).toBeGreaterThan(0)
  expect(Object.keys(body).sort()).toEqual(['error', 'message'])
  if (status === 401) expect(res.headers.get('www-authenticate')).toBe('Bearer')
  return body
}

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')

let s: TestServer
beforeAll(async () => {
  s = await startServer()
})
afterAll(() => s.stop())

describe('authentication (401)', () => {
  test('no token', async () => {
    const body = await expectError(await s.request('/api/v1/notes'), 401, 'unauthorized')
    expect(body.message).toContain('missing bearer token')
  })

  test('a malformed Authorization header', async () => {
    await expectError(await s.request('/api/v1/notes', { headers: { authorization: 'Basic dXNlcjpwYXNz' } }), 401, 'unauthorized')
    await expectError(await s.request('/api/v1/notes', { token: 'not-a-jwt' }), 401, 'unauthorized')
  })

  test('a token signed with another secret', async () => {
    const forged = await signToken(new TextEncoder().encode('some-other-secret-of-sufficient-length-000'), { sub: 'mallory', scope: 'admin' })
    const body = await expectError(await s.request('/api/v1/notes', { token: forged }), 401, 'unauthorized')
    expect(body.message).toContain('signature')
  })

  test('an expired token', async () => {
    const body = await expectError(await s.request('/api/v1/notes', { token: await s.token({ ttlS: -120 }) }), 401, 'unauthorized')
    expect(body.message).toContain('expired')
  })

  test('an alg:none token', async () => {
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'mallory', scope: 'admin', memory: '*' })}.`
    const body = await expectError(await s.request('/api/v1/notes', { token: unsigned }), 401, 'unauthorized')
    expect(body.message).toContain('algorithm')
  })

  test('a token without a subject', async () => {
    const noSub = await new SignJWT({ scope: 'admin' }).setProtectedHeader({ alg: 'HS256' }).sign(s.ctx.secret.key)
    const body = await expectError(await s.request('/api/v1/notes', { token: noSub }), 401, 'unauthorized')
    expect(body.message).toContain('sub')
  })

  test('a stream token (audience event-stream) is refused on REST', async () => {
    const stream = await s.token({ scope: 'read', stream: true, jti: crypto.randomUUID(), ttlS: 300 })
    const body = await expectError(await s.request('/api/v1/notes', { token: stream }), 401, 'unauthorized')
    expect(body.message).toContain('stream token')
  })

  test('REST takes the token from the Authorization header only (not ?token=)', async () => {
    const tok = await s.token()
    await expectError(await s.request(`/api/v1/notes?token=${tok}`), 401, 'unauthorized')
  })

  test('an RS256 token when no JWKS is configured', async () => {
    const jwks = await startJwks()
    try {
      const rs = await jwks.sign({ sub: 'oidc-user', scope: 'admin' }, { alg: 'RS256' })
      const body = await expectError(await s.request('/api/v1/notes', { token: rs }), 401, 'unauthorized')
      expect(body.message).toContain('JWKS')
    } finally {
      await jwks.stop()
    }
  })
})

describe('authorisation (403) and memory selection', () => {
  test('a token for memory a used on memory b: header and query', async () => {
    const tokA = await s.token({ memory: 'a' })
    expect((await s.request('/api/v1/notes', { token: tokA, headers: { 'x-matric-memory': 'a' } })).status).toBe(200)
    expect((await s.request('/api/v1/notes?memory=a', { token: tokA })).status).toBe(200)
    const h = await expectError(await s.request('/api/v1/notes', { token: tokA, headers: { 'x-matric-memory': 'b' } }), 403, 'forbidden')
    expect(h.message).toContain("'b'")
    await expectError(await s.request('/api/v1/notes?memory=b', { token: tokA }), 403, 'forbidden')
    await expectError(await s.request('/api/v1/jobs/stats?memory=b', { token: tokA }), 403, 'forbidden')
    await expectError(await s.request('/api/v1/notes?memory=b', { token: tokA, body: { content: 'x' } }), 403, 'forbidden')
  })

  test("a single-memory token acts on its memory by default; notes don't cross memories", async () => {
    const tokA = await s.token({ memory: 'a' })
    const created = (await (await s.request('/api/v1/notes', { token: tokA, body: { content: 'only in a' } })).json()) as Note & { memory: string }
    expect(created.memory).toBe('a')
    const multi = await s.token({ memory: ['a', 'b'] })
    expect((await s.request(`/api/v1/notes/${created.id}?memory=a`, { token: multi })).status).toBe(200)
    // A multi-memory token without a choice acts on "default", which it does not hold.
    await expectError(await s.request(`/api/v1/notes/${created.id}`, { token: multi }), 403, 'forbidden')
    await expectError(await s.request(`/api/v1/notes/${created.id}?memory=b`, { token: multi }), 404, 'not_found')
  })

  test('a malformed memory name is 400', async () => {
    const tok = await s.token({ memory: '*' })
    for (const bad of ['../etc', 'a/b', '-lead', '.hidden', 'x'.repeat(65)]) {
      const body = await expectError(await s.request('/api/v1/notes', { token: tok, headers: { 'x-matric-memory': bad } }), 400, 'bad_request')
      expect(body.message).toContain('invalid memory name')
    }
    for (const bad of ['a b', 'é', 'semi;colon', '%00']) {
      await expectError(await s.request(`/api/v1/notes?memory=${encodeURIComponent(bad)}`, { token: tok }), 400, 'bad_request')
    }
  })

  test('missing scope: read token writing, write token doing admin', async () => {
    const read = await s.token({ scope: 'read' })
    const write = await s.token({ scope: 'write' })
    expect((await s.request('/api/v1/notes', { token: read })).status).toBe(200)
    const body = await expectError(await s.request('/api/v1/notes', { token: read, body: { content: 'x' } }), 403, 'forbidden')
    expect(body.message).toContain("'write'")
    await expectError(await s.request('/api/v1/jobs', { token: read, body: { job_type: 'embedding', note_id: crypto.randomUUID() } }), 403, 'forbidden')
    // write implies read
    expect((await s.request('/api/v1/jobs/stats', { token: write })).status).toBe(200)
    const publish = { payload: { type: 'JobProgress', job_id: 'ext-1', progress: 10 } }
    const admin = await expectError(await s.request('/api/v1/events', { token: write, body: publish }), 403, 'forbidden')
    expect(admin.message).toContain("'admin'")
    expect((await s.request('/api/v1/events', { token: await s.token({ scope: 'admin' }), body: publish })).status).toBe(202)
    // A token with no known scope can do nothing.
    await expectError(await s.request('/api/v1/notes', { token: await s.token({ scope: 'profile email' }) }), 403, 'forbidden')
  })
})

describe('tag-restricted principal', () => {
  let work: Note
  let both: Note
  let personal: Note
  let untagged: Note
  let admin: string
  let restricted: string

  beforeAll(async () => {
    admin = await s.token({ memory: 'tags' })
    restricted = await s.token({ memory: 'tags', scope: 'read write', tags: ['work'] })
    const mk = async (content: string, tags: string[]) =>
      (await (await s.request('/api/v1/notes', { token: admin, body: { content, tags } })).json()) as Note
    work = await mk('Quarterly planning for the work project.', ['work'])
    both = await mk('Team offsite, also a holiday.', ['work', 'personal'])
    personal = await mk('Birthday present ideas.', ['personal'])
    untagged = await mk('A note without tags.', [])
    await waitFor(async () => {
      const st = (await (await s.request('/api/v1/jobs/stats', { token: admin })).json()) as { pending: number; running: number }
      return st.pending + st.running === 0
    }, 'the pipeline of memory "tags" to drain')
  })

  test('list shows only notes carrying one of its tags', async () => {
    const res = await s.request('/api/v1/notes', { token: restricted })
    const { notes } = (await res.json()) as { notes: Note[] }
    expect(notes.map((n) => n.id).sort()).toEqual([work.id, both.id].sort())
    const byTag = (await (await s.request('/api/v1/notes?tag=personal', { token: restricted })).json()) as { notes: Note[] }
    expect(byTag.notes.map((n) => n.id)).toEqual([both.id])
  })

  test('get of another note is 404 (no existence leak)', async () => {
    expect((await s.request(`/api/v1/notes/${work.id}`, { token: restricted })).status).toBe(200)
    for (const other of [personal, untagged]) {
      await expectError(await s.request(`/api/v1/notes/${other.id}`, { token: restricted }), 404, 'not_found')
      await expectError(await s.request(`/api/v1/notes/${other.id}`, { token: restricted, method: 'PATCH', body: { content: 'mine now' } }), 404, 'not_found')
      await expectError(await s.request(`/api/v1/notes/${other.id}`, { token: restricted, method: 'DELETE' }), 404, 'not_found')
      await expectError(await s.request('/api/v1/jobs', { token: restricted, body: { job_type: 'embedding', note_id: other.id } }), 404, 'not_found')
    }
  })

  test('jobs of other notes are invisible; stats count only its jobs', async () => {
    const all = ((await (await s.request('/api/v1/jobs', { token: admin })).json()) as { jobs: Job[] }).jobs
    const mine = all.filter((j) => j.note_id === work.id || j.note_id === both.id)
    const others = all.filter((j) => !mine.includes(j))
    expect(mine.length).toBeGreaterThan(0)
    expect(others.length).toBeGreaterThan(0)

    const seen = ((await (await s.request('/api/v1/jobs', { token: restricted })).json()) as { jobs: Job[] }).jobs
    expect(seen.map((j) => j.id).sort()).toEqual(mine.map((j) => j.id).sort())
    for (const j of others.slice(0, 3)) await expectError(await s.request(`/api/v1/jobs/${j.id}`, { token: restricted }), 404, 'not_found')
    expect((await s.request(`/api/v1/jobs/${mine[0]!.id}`, { token: restricted })).status).toBe(200)

    const stats = await (await s.request('/api/v1/jobs/stats', { token: restricted })).json()
    const count = (list: Job[], st: string) => list.filter((j) => j.status === st).length
    expect(stats).toEqual({
      total_jobs: 0,
      running: 0,
      pending: 0,
      completed: count(mine, 'completed'),
      failed: count(mine, 'failed'),
      processing: 0,
      completed_last_hour: count(mine, 'completed'),
      failed_last_hour: count(mine, 'failed'),
      total: mine.length,
    })
    const adminStats = (await (await s.request('/api/v1/jobs/stats', { token: admin })).json()) as { completed: number }
    expect(adminStats.completed).toBe(count(all, 'completed'))
    expect(adminStats.completed).toBeGreaterThan(count(mine, 'completed'))
  })

  test('it may only write notes it can still see', async () => {
    await expectError(await s.request('/api/v1/notes', { token: restricted, body: { content: 'private', tags: ['personal'] } }), 403, 'forbidden')
    await expectError(await s.request('/api/v1/notes', { token: restricted, body: { content: 'untagged' } }), 403, 'forbidden')
    await expectError(await s.request(`/api/v1/notes/${work.id}/tags`, { token: restricted, method: 'PUT', body: { tags: ['personal'] } }), 403, 'forbidden')
    const ok = await s.request('/api/v1/notes', { token: restricted, body: { content: 'a work note', tags: ['work', 'extra'] } })
    expect(ok.status).toBe(201)
  })
})

describe('MATRIC_AUTH=off', () => {
  let off: TestServer
  beforeAll(async () => {
    off = await startServer({ env: { MATRIC_AUTH: 'off' } })
  })
  afterAll(() => off.stop())

  test('requests without a token act as an admin of every memory', async () => {
    const created = await off.request('/api/v1/notes', { body: { content: 'local mode' }, headers: { 'x-matric-memory': 'anything' } })
    expect(created.status).toBe(201)
    expect(((await created.json()) as { memory: string }).memory).toBe('anything')
    expect((await off.request('/api/v1/notes')).status).toBe(200)
    const published = await off.request('/api/v1/events', { body: { payload: { type: 'JobProgress', job_id: 'ext-1', progress: 10 } } })
    expect(published.status).toBe(202)
  })

  test('a page of another site cannot borrow anonymous local access (REST, SSE, WebSocket); same-origin pages can', async () => {
    const evil = { origin: 'https://evil.example' }
    const post = await off.request('/api/v1/notes', { body: { content: 'csrf' }, headers: evil })
    const e = await expectError(post, 403, 'forbidden')
    expect(e.message).toContain('loopback')
    expect((await fetch(`${off.url}/api/v1/events`, { headers: evil })).status).toBe(403)
    const ws = await fetch(`${off.url}/api/v1/ws`, {
      headers: { ...evil, upgrade: 'websocket', connection: 'upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
    })
    expect(ws.status).toBe(403)
    // The page the server (or its proxy) serves itself: Origin host = Host.
    const same = await off.request('/api/v1/notes', { body: { content: 'same origin' }, headers: { origin: off.url } })
    expect(same.status).toBe(201)
    // DNS rebinding: attacker.example resolved to 127.0.0.1 is "same-origin" by Host, but not a loopback host.
    const port = new URL(off.url).port
    const rebound = await off.request('/api/v1/notes', { body: { content: 'rebound' }, headers: { origin: `http://attacker.example:${port}`, host: `attacker.example:${port}` } })
    expect(rebound.status).toBe(403)
  })

  test('a token that is presented is still verified', async () => {
    await expectError(await off.request('/api/v1/notes', { token: 'garbage' }), 401, 'unauthorized')
    const read = await off.token({ scope: 'read' })
    await expectError(await off.request('/api/v1/notes', { token: read, body: { content: 'x' } }), 403, 'forbidden')
  })
})

describe('JWKS (MATRIC_JWKS_URL)', () => {
  let jwks: JwksDouble
  let j: TestServer
  beforeAll(async () => {
    jwks = await startJwks()
    j = await startServer({ env: { MATRIC_JWKS_URL: jwks.url } })
  })
  afterAll(async () => {
    await j.stop()
    await jwks.stop()
  })

  test('RS256 and ES256 tokens from the provider are accepted', async () => {
    for (const alg of ['RS256', 'ES256'] as const) {
      const tok = await jwks.sign({ sub: `oidc-${alg}`, scope: 'read write', memory: 'default' }, { alg })
      const res = await j.request('/api/v1/notes', { token: tok, body: { content: `created with ${alg}` } })
      expect(res.status).toBe(201)
    }
    expect(jwks.fetches()).toBeGreaterThan(0)
  })

  test('claims of provider tokens apply (scope, memory)', async () => {
    const read = await jwks.sign({ sub: 'oidc-reader', scope: 'read' }, { alg: 'ES256' })
    await expectError(await j.request('/api/v1/notes', { token: read, body: { content: 'x' } }), 403, 'forbidden')
    const other = await jwks.sign({ sub: 'oidc-other', scope: 'read', memory: 'other' }, { alg: 'RS256' })
    await expectError(await j.request('/api/v1/notes?memory=default', { token: other }), 403, 'forbidden')
  })

  test('HS256 tokens signed with the local secret still work', async () => {
    expect((await j.request('/api/v1/notes', { token: await j.token() })).status).toBe(200)
  })

  test('an RS256 token signed by a key not in the JWKS is 401', async () => {
    const rogue = await rogueKey('RS256')
    const unknownKid = await jwks.sign({ sub: 'mallory', scope: 'admin' }, { alg: 'RS256', kid: 'rogue-1', privateKey: rogue })
    await expectError(await j.request('/api/v1/notes', { token: unknownKid }), 401, 'unauthorized')
    const stolenKid = await jwks.sign({ sub: 'mallory', scope: 'admin' }, { alg: 'RS256', privateKey: rogue })
    await expectError(await j.request('/api/v1/notes', { token: stolenKid }), 401, 'unauthorized')
  })

  test('an expired provider token is 401', async () => {
    const expired = await jwks.sign({ sub: 'oidc-late', scope: 'read' }, { alg: 'RS256', ttlS: -120 })
    const body = await expectError(await j.request('/api/v1/notes', { token: expired }), 401, 'unauthorized')
    expect(body.message).toContain('expired')
  })

  test('an RS256 token cannot be replayed as HS256 with the public key (algorithm confusion)', async () => {
    const res = await fetch(jwks.url)
    const { keys } = (await res.json()) as { keys: unknown[] }
    const forged = await new SignJWT({ sub: 'mallory', scope: 'admin', memory: '*' })
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
      .sign(new TextEncoder().encode(JSON.stringify(keys[0])))
    await expectError(await j.request('/api/v1/notes', { token: forged }), 401, 'unauthorized')
  })
})

describe('audience and issuer (MATRIC_JWT_AUDIENCE, MATRIC_JWT_ISSUER)', () => {
  const AUD = 'matric-api'
  const ISS = 'https://idp.test/'
  let jwks: JwksDouble
  let j: TestServer
  const secret = () => j.ctx.secret.key
  beforeAll(async () => {
    jwks = await startJwks()
    j = await startServer({ env: { MATRIC_JWKS_URL: jwks.url, MATRIC_JWT_AUDIENCE: `other-name, ${AUD}`, MATRIC_JWT_ISSUER: ISS } })
  })
  afterAll(async () => {
    await j.stop()
    await jwks.stop()
  })

  test('a provider token for this audience and issuer is accepted (aud as a string or an array)', async () => {
    for (const aud of [AUD, ['someone-else', AUD], 'other-name']) {
      const tok = await jwks.sign({ sub: 'oidc', scope: 'read', aud, iss: ISS }, { alg: 'RS256' })
      expect((await j.request('/api/v1/notes', { token: tok })).status).toBe(200)
    }
  })

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['another audience', { aud: 'billing-app', iss: ISS }, /aud/],
    ['no audience', { iss: ISS }, /aud/],
    ['another issuer', { aud: AUD, iss: 'https://evil.test/' }, /iss/],
    ['no issuer', { aud: AUD }, /iss/],
    ['the stream-token audience', { aud: 'event-stream', iss: ISS }, /aud/],
  ])('a provider token with %s is 401', async (_name, claims, message) => {
    const tok = await jwks.sign({ sub: 'oidc', scope: 'admin', memory: '*', ...claims }, { alg: 'ES256' })
    const body = await expectError(await j.request('/api/v1/notes', { token: tok }), 401, 'unauthorized')
    expect(body.message).toMatch(message)
  })

  test('HS256 tokens are checked too: without aud/iss 401, signed with them (as the server signs its own) 200', async () => {
    const bare = await signToken(secret(), { sub: 'local', scope: 'read', ttlS: 60 })
    await expectError(await j.request('/api/v1/notes', { token: bare }), 401, 'unauthorized')
    const wrongIss = await signToken(secret(), { sub: 'local', scope: 'read', ttlS: 60, audience: AUD, issuer: 'someone' })
    await expectError(await j.request('/api/v1/notes', { token: wrongIss }), 401, 'unauthorized')
    const good = await signToken(secret(), { sub: 'local', scope: 'read', ttlS: 60, audience: AUD, issuer: ISS })
    expect((await j.request('/api/v1/notes', { token: good })).status).toBe(200)
  })

  test('stream tokens keep their own audience and still open SSE and WebSocket; REST still refuses them', async () => {
    const provider = await jwks.sign({ sub: 'oidc', scope: 'read', aud: AUD, iss: ISS }, { alg: 'RS256' })
    const minted = await j.request('/api/v1/events/tokens', { token: provider, body: {} })
    expect(minted.status).toBe(201)
    const { token } = (await minted.json()) as { token: string }
    const claims = decodeJwt(token)
    expect({ aud: claims.aud, iss: claims.iss }).toEqual({ aud: 'event-stream', iss: ISS })
    const ctrl = new AbortController()
    const sse = await fetch(`${j.url}/api/v1/events?token=${token}`, { signal: ctrl.signal })
    expect(sse.status).toBe(200)
    ctrl.abort()
    const ws = await rawWs(j.port, `/api/v1/ws?token=${token}`)
    expect(ws.status).toBe(101)
    ws.destroy()
    await expectError(await j.request('/api/v1/notes', { token }), 401, 'unauthorized')
    // a stream token from another issuer is not one of ours
    const foreign = await signToken(secret(), { sub: 'oidc', scope: 'read', stream: true, jti: 'x1', ttlS: 60, issuer: 'https://evil.test/' })
    expect((await fetch(`${j.url}/api/v1/events?token=${foreign}`)).status).toBe(401)
  })
})

describe('token lifetime claims (exp, iat)', () => {
  let jwks: JwksDouble
  let j: TestServer
  const now = () => Math.floor(Date.now() / 1000)
  beforeAll(async () => {
    jwks = await startJwks()
    j = await startServer({ env: { MATRIC_JWKS_URL: jwks.url } })
  })
  afterAll(async () => {
    await j.stop()
    await jwks.stop()
  })

  test('a provider token without exp is 401', async () => {
    const tok = await jwks.sign({ sub: 'oidc', scope: 'read' }, { alg: 'RS256', ttlS: null })
    const body = await expectError(await j.request('/api/v1/notes', { token: tok }), 401, 'unauthorized')
    expect(body.message).toContain('exp')
  })

  test('a token issued in the future (beyond the clock tolerance) is 401, provider or local', async () => {
    const provider = await jwks.sign({ sub: 'oidc', scope: 'read' }, { alg: 'ES256', iat: now() + 3600 })
    expect((await expectError(await j.request('/api/v1/notes', { token: provider }), 401, 'unauthorized')).message).toContain('iat')
    const local = await new SignJWT({ scope: 'read' }).setProtectedHeader({ alg: 'HS256' }).setSubject('local').setIssuedAt(now() + 120).setExpirationTime(now() + 3600).sign(j.ctx.secret.key)
    expect((await expectError(await j.request('/api/v1/notes', { token: local }), 401, 'unauthorized')).message).toContain('iat')
  })

  test('clock skew within the tolerance is fine', async () => {
    const tok = await jwks.sign({ sub: 'oidc', scope: 'read' }, { alg: 'RS256', iat: now() + 3 })
    expect((await j.request('/api/v1/notes', { token: tok })).status).toBe(200)
  })

  test('local HS256 tokens may omit exp (npm run token -- --ttl 0)', async () => {
    expect((await j.request('/api/v1/notes', { token: await j.token({ ttlS: 0 }) })).status).toBe(200)
  })
})

describe('JWKS unavailable', () => {
  test('a provider token cannot be checked: 503 (retry later), not 401; local tokens still work', async () => {
    const gone = await startJwks()
    const token = await gone.sign({ sub: 'oidc-user', scope: 'read' }, { alg: 'RS256' })
    await gone.stop()
    const notJwks = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('<html>maintenance</html>', { status: 502 }) })
    const servers = [
      await startServer({ env: { MATRIC_JWKS_URL: gone.url } }),
      await startServer({ env: { MATRIC_JWKS_URL: `http://127.0.0.1:${notJwks.port}/jwks.json` } }),
    ]
    try {
      for (const srv of servers) {
        const res = await srv.request('/api/v1/notes', { token })
        const body = await expectError(res, 503, 'service_unavailable')
        expect(body.message).toContain('JWKS')
        expect(res.headers.get('retry-after')).not.toBeNull()
        expect((await srv.request('/api/v1/notes', { token: await srv.token() })).status).toBe(200)
      }
    } finally {
      for (const srv of servers) await srv.stop()
      await notJwks.stop(true)
    }
  })
})
