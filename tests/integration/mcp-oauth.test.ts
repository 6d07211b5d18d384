/** /mcp with an identity provider (MATRIC_JWKS_URL): RFC 9728 metadata, WWW-Authenticate, RS256/ES256 tokens. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startJwks, type JwksDouble } from '../doubles/jwks.ts'
import { connectMcp, toolJson } from '../helpers/mcp-client.ts'
import { startServer, type TestServer } from '../helpers/server.ts'

let idp: JwksDouble
let s: TestServer
let plain: TestServer
const ISSUER = 'https://idp.example.test/realms/matric'

beforeAll(async () => {
  idp = await startJwks()
  s = await startServer({ env: { MATRIC_JWKS_URL: idp.url, MATRIC_OAUTH_ISSUER: ISSUER } })
  plain = await startServer()
})
afterAll(async () => {
  await s.stop()
  await plain.stop()
  await idp.stop()
})

test('protected-resource metadata names /mcp and the authorization server', async () => {
  for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
    const res = await s.request(path)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      resource: `${s.url}/mcp`,
      authorization_servers: [ISSUER],
      bearer_methods_supported: ['header'],
      scopes_supported: ['read', 'write', 'admin'],
    })
  }
  // Without an identity provider there is nothing to discover.
  expect((await plain.request('/.well-known/oauth-protected-resource')).status).toBe(404)
})

test('a 401 on /mcp points to the metadata', async () => {
  const res = await fetch(`${s.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' })
  expect(res.status).toBe(401)
  expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${s.url}/.well-known/oauth-protected-resource/mcp"`)
})

test('an RS256 token of the identity provider opens a session like a local one', async () => {
  const token = await idp.sign({ sub: 'oauth-user', scope: 'write', memory: 'default' }, { alg: 'RS256' })
  const c = await connectMcp(s.url, token)
  const note = toolJson<{ id: string }>(await c.client.callTool({ name: 'create_note', arguments: { content: 'via OAuth' } }))
  expect(toolJson<{ id: string }>(await c.client.callTool({ name: 'get_note', arguments: { note_id: note.id } })).id).toBe(note.id)
  await c.transport.terminateSession()
  await c.close()
})
