/**
 * MCP bad input and session lifecycle (docs/mcp.md): unknown tools, bad arguments, missing scopes, oversized and
 * malformed requests, unknown sessions, the session cap, DELETE, idle timeout, token expiry and revocation — each a
 * clear error, never a stack or a secret, and the server stays healthy.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { mcpHub } from '../../src/modules/mcp/index.ts'
import { connectMcp, toolError, toolJson, type McpConnection } from '../helpers/mcp-client.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

const LIMIT = 64 * 1024
let s: TestServer
let tok: string
let mcp: McpConnection

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }
function raw(server: TestServer, token: string | undefined, init: { method?: string; session?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  return fetch(`${server.url}/mcp`, {
    method: init.method ?? 'POST',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      ...(init.session ? { 'mcp-session-id': init.session } : {}),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  })
}
/** A session opened with raw HTTP (no GET stream): its id. */
async function rawSession(server: TestServer, token: string): Promise<string> {
  const res = await raw(server, token, { body: INIT })
  expect(res.status).toBe(200)
  const sid = res.headers.get('mcp-session-id')!
  await res.text()
  expect((await raw(server, token, { session: sid, body: { jsonrpc: '2.0', method: 'notifications/initialized' } })).status).toBe(202)
  return sid
}
async function rpcError(res: Response): Promise<{ code: number; message: string }> {
  return ((await res.json()) as { error: { code: number; message: string } }).error
}
async function healthy(server: TestServer): Promise<void> {
  expect((await server.request('/health')).status).toBe(200)
}

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_MAX_BODY_BYTES: String(LIMIT), MATRIC_MCP_MAX_SESSIONS: '4' } })
  tok = await s.token({ sub: 'agent', scope: 'write' })
  mcp = await connectMcp(s.url, tok)
})
afterAll(async () => {
  await mcp.close()
  await s.stop()
})

describe('tool calls', () => {
  test('an unknown tool is a protocol error naming it', async () => {
    const err = await mcp.client.callTool({ name: 'drop_database', arguments: {} }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(McpError)
    expect((err as McpError).code).toBe(-32602)
    expect((err as McpError).message).toContain('unknown tool "drop_database": call tools/list')
  })

  test.each([
    ['search_notes', { query: 'x', limit: 500 }, 'invalid arguments for search_notes: /limit: Expected integer to be less or equal to 50'],
    ['search_notes', { q: 'x' }, 'invalid arguments for search_notes: /query: Expected required property; /q: unknown property'],
    ['get_note', {}, 'invalid arguments for get_note: /note_id: Expected required property'],
    ['get_note', { note_id: "1' OR 1=1" }, 'invalid arguments for get_note: /note_id: Expected string to match'],
    ['create_note', { content: 42 }, 'invalid arguments for create_note: /content: Expected string'],
    ['wait_for_job', { job_id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f', timeout_s: 3600 }, 'invalid arguments for wait_for_job: /timeout_s: Expected integer to be less or equal to 50'],
    ['update_note', { note_id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f' }, 'bad_request: pass at least one of content, title, tags'],
    ['get_note', { note_id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f' }, 'not_found: note 0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f not found'],
    ['list_notes', { cursor: 'garbage' }, 'bad_request: invalid cursor'],
  ] as const)('%s %j → a tool error the model can act on', async (name, args, message) => {
    const text = toolError(await mcp.client.callTool({ name, arguments: args as Record<string, unknown> }))
    expect(text).toStartWith(message)
    expect(text).not.toMatch(/\bat \S+:\d+|node_modules|Error:/)
  })

  test('a write tool with a read-only token: forbidden, and the note is not created', async () => {
    const reader = await connectMcp(s.url, await s.token({ sub: 'reader', scope: 'read' }))
    expect(toolError(await reader.client.callTool({ name: 'create_note', arguments: { content: 'x' } }))).toBe("forbidden: token lacks the 'write' scope")
    expect(toolJson<{ notes: unknown[] }>(await reader.client.callTool({ name: 'list_notes', arguments: {} })).notes).toEqual([])
    await reader.close()
  })

  test('outcomes are counted per tool in matric_mcp_tool_calls_total; sessions in matric_mcp_sessions_active', async () => {
    toolJson(await mcp.client.callTool({ name: 'queue_stats', arguments: {} }))
    const text = await (await s.request('/metrics')).text()
    expect(text).toMatch(/matric_mcp_tool_calls_total\{tool="queue_stats",outcome="ok"\} [1-9]/)
    expect(text).toMatch(/matric_mcp_tool_calls_total\{tool="search_notes",outcome="error"\} [1-9]/)
    expect(text).toContain('matric_mcp_tool_calls_total{tool="events_since",outcome="ok"} 0')
    expect(text).not.toContain('drop_database')
    expect(text).toMatch(/matric_mcp_sessions_active [1-9]/)
  })
})

describe('HTTP', () => {
  test('no token, a bad token, a stream token: 401 like REST; a memory not granted: 403', async () => {
    const none = await raw(s, undefined, { body: INIT })
    expect(none.status).toBe(401)
    expect(await none.json()).toEqual({ error: 'unauthorized', message: 'missing bearer token' })
    expect((await raw(s, 'not.a.jwt', { body: INIT })).status).toBe(401)
    const minted = (await (await s.request('/api/v1/events/tokens', { token: tok, body: {} })).json()) as { token: string }
    expect((await raw(s, minted.token, { body: INIT })).status).toBe(401)
    expect((await raw(s, tok, { body: INIT, headers: { 'x-matric-memory': 'elsewhere' } })).status).toBe(403)
  })

  test('an oversized request: 413 with a JSON-RPC error, before anything is parsed', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'create_note', arguments: { content: 'x'.repeat(LIMIT) } } })
    const res = await raw(s, tok, { session: mcp.transport.sessionId, body: big })
    expect(res.status).toBe(413)
    expect((await rpcError(res)).message).toContain(`exceeds the limit of ${LIMIT} bytes`)
    // chunked, no Content-Length
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big))
        c.close()
      },
    })
    const chunked = await fetch(`${s.url}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: stream })
    expect(chunked.status).toBe(413)
    await healthy(s)
  })

  test('malformed JSON, JSON that is not JSON-RPC, no session, unknown session, wrong method', async () => {
    const bad = await raw(s, tok, { body: '{"jsonrpc":' })
    expect(bad.status).toBe(400)
    expect((await rpcError(bad)).code).toBe(-32700)
    const notRpc = await raw(s, tok, { session: mcp.transport.sessionId, body: { hello: 'world' } })
    expect(notRpc.status).toBe(400)
    const noSession = await raw(s, tok, { body: { jsonrpc: '2.0', id: 3, method: 'tools/list' } })
    expect(noSession.status).toBe(400)
    expect((await rpcError(noSession)).message).toContain('Mcp-Session-Id header is required')
    expect((await raw(s, tok, { method: 'GET', headers: { accept: 'text/event-stream' } })).status).toBe(400)
    const unknown = await raw(s, tok, { session: crypto.randomUUID(), body: { jsonrpc: '2.0', id: 4, method: 'tools/list' } })
    expect(unknown.status).toBe(404)
    expect((await rpcError(unknown)).code).toBe(-32001)
    expect((await raw(s, tok, { method: 'PUT', body: {} })).status).toBe(405)
    const batch = await raw(s, tok, { body: [INIT, INIT] })
    expect(batch.status).toBe(400)
    await healthy(s)
    expect((await mcp.client.listTools()).tools.length).toBe(15)
  })

  test('the session cap answers 503 until a session ends; DELETE ends a session', async () => {
    const hub = (await mcpHub(s.ctx))
    const opened: string[] = []
    while (hub.count < 4) opened.push(await rawSession(s, tok))
    const refused = await raw(s, tok, { body: INIT })
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).toBe('30')
    expect((await rpcError(refused)).message).toContain('too many MCP sessions')
    // Existing sessions keep working at the cap.
    expect((await mcp.client.listTools()).tools.length).toBe(15)
    const del = await raw(s, tok, { method: 'DELETE', session: opened[0]! })
    expect(del.status).toBe(200)
    expect(hub.session(opened[0]!)).toBeUndefined()
    expect((await raw(s, tok, { session: opened[0]!, body: { jsonrpc: '2.0', id: 5, method: 'tools/list' } })).status).toBe(404)
    opened[0] = await rawSession(s, tok)
    for (const sid of opened) expect((await raw(s, tok, { method: 'DELETE', session: sid })).status).toBe(200)
  })
})

describe('session lifetime', () => {
  let t: TestServer
  beforeAll(async () => {
    t = await startServer({ env: { MATRIC_MCP_SESSION_IDLE_S: '1', MATRIC_MCP_SESSION_ROUTE: 'node-a' } })
  })
  afterAll(() => t.stop())

  test('an idle session (no request, no open stream) ends; one holding its notification stream stays', async () => {
    const hub = (await mcpHub(t.ctx))
    const listening = await connectMcp(t.url, await t.token({ sub: 'listener', scope: 'read' }))
    await waitFor(() => hub.session(listening.transport.sessionId!)?.open === 1, 'the GET stream to open')
    const idle = await rawSession(t, await t.token({ sub: 'idler', scope: 'read' }))
    expect(hub.session(idle)).toBeDefined()
    // MATRIC_MCP_SESSION_ROUTE: the instance's route leads every session id (for load balancers).
    expect(idle).toMatch(/^node-a\.[0-9a-f-]{36}$/)
    await waitFor(() => hub.session(idle) === undefined, 'the idle session to end', 5000)
    expect(hub.session(listening.transport.sessionId!)).toBeDefined()
    expect((await listening.client.listTools()).tools.length).toBe(15)
    await listening.close()
  })

  test('a session ends when its token expires, and when its token is revoked', async () => {
    const hub = (await mcpHub(t.ctx))
    const short = await connectMcp(t.url, await t.token({ sub: 'short', scope: 'read', ttlS: 2 }))
    const sid = short.transport.sessionId!
    await waitFor(() => hub.session(sid)?.open === 1, 'the GET stream to open')
    await waitFor(() => hub.session(sid) === undefined, 'the session to end at token expiry', 6000)
    await short.close()

    const jti = crypto.randomUUID()
    const revocable = await connectMcp(t.url, await t.token({ sub: 'rev', scope: 'read', jti }))
    const rsid = revocable.transport.sessionId!
    await t.ctx.revocations.revoke(jti, Math.floor(Date.now() / 1000) + 3600)
    expect(hub.session(rsid)).toBeUndefined()
    await revocable.close()
    await healthy(t)
  })
})

describe('sessions per principal', () => {
  let t: TestServer
  beforeAll(async () => {
    t = await startServer({ env: { MATRIC_MCP_MAX_SESSIONS_PER_PRINCIPAL: '2' } })
  })
  afterAll(() => t.stop())

  test('past its cap a principal’s least recently used idle session makes room; with every stream open, 503', async () => {
    const hub = (await mcpHub(t.ctx))
    const leaky = await t.token({ sub: 'leaky', scope: 'read' })
    const first = await rawSession(t, leaky)
    const second = await rawSession(t, leaky)
    // `first` used most recently: `second` is the one to go.
    expect((await raw(t, leaky, { session: first, body: { jsonrpc: '2.0', method: 'notifications/initialized' } })).status).toBe(202)
    const third = await rawSession(t, leaky)
    expect(hub.session(second)).toBeUndefined()
    expect(hub.session(first)).toBeDefined()
    expect(hub.session(third)).toBeDefined()
    // Another principal is not affected by leaky's cap.
    const other = await connectMcp(t.url, await t.token({ sub: 'someone-else', scope: 'read' }))
    expect((await other.client.listTools()).tools.length).toBe(15)

    const busy = await t.token({ sub: 'busy', scope: 'read' })
    const a = await connectMcp(t.url, busy)
    const b = await connectMcp(t.url, busy)
    await waitFor(() => hub.session(a.transport.sessionId!)?.open === 1 && hub.session(b.transport.sessionId!)?.open === 1, 'both GET streams to open')
    const refused = await raw(t, busy, { body: INIT })
    expect(refused.status).toBe(503)
    expect((await rpcError(refused)).message).toContain('MATRIC_MCP_MAX_SESSIONS_PER_PRINCIPAL')
    for (const c of [other, a, b]) {
      await c.transport.terminateSession()
      await c.close()
    }
  })
})

describe('browser origins', () => {
  test('local mode (MATRIC_AUTH=off): no token needed; a cross-site page, or one that DNS-rebinds its name, is refused', async () => {
    const local = await startServer({ env: { MATRIC_AUTH: 'off' } })
    try {
      const ok = await raw(local, undefined, { body: INIT })
      expect(ok.status).toBe(200)
      await ok.text()
      // A page served from this machine (same origin, loopback Host) may use it.
      const page = await raw(local, undefined, { body: INIT, headers: { origin: local.url } })
      expect(page.status).toBe(200)
      await page.text()
      const crossSite = await raw(local, undefined, { body: INIT, headers: { origin: 'http://evil.example' } })
      expect(crossSite.status).toBe(403)
      expect(((await crossSite.json()) as { message: string }).message).toContain('MATRIC_ALLOWED_ORIGINS')
      // DNS rebinding: attacker.example now resolves to 127.0.0.1, so Origin and Host agree — but Host is not loopback.
      const rebound = await raw(local, undefined, { body: INIT, headers: { origin: `http://attacker.example:${local.port}`, host: `attacker.example:${local.port}` } })
      expect(rebound.status).toBe(403)
      expect(((await rebound.json()) as { message: string }).message).toContain('loopback host')
    } finally {
      await local.stop()
    }
  })

  test('MATRIC_ALLOWED_ORIGINS applies to /mcp as to the streams', async () => {
    const listed = await startServer({ env: { MATRIC_ALLOWED_ORIGINS: 'https://app.example' } })
    try {
      const token = await listed.token()
      const ok = await raw(listed, token, { body: INIT, headers: { origin: 'https://app.example' } })
      expect(ok.status).toBe(200)
      await ok.text()
      expect((await raw(listed, token, { body: INIT, headers: { origin: 'https://other.example' } })).status).toBe(403)
    } finally {
      await listed.stop()
    }
  })
})

test('waiting calls per session are bounded: the seventeenth is refused while sixteen wait', async () => {
  const n = (await (await s.request('/api/v1/notes', { token: tok, body: { content: 'wait target' } })).json()) as { id: string }
  await waitFor(async () => {
    const c = await s.ctx.jobs.counts('default')
    return c.pending + c.running === 0
  }, 'the pipeline')
  // Paused, a queued job stays pending: every wait on it blocks until its timeout.
  const admin = await s.token({ sub: 'ops', scope: 'admin' })
  expect((await s.request('/api/v1/jobs/pause/default', { method: 'POST', token: admin })).status).toBe(200)
  try {
    const job = toolJson<{ id: string }>(await mcp.client.callTool({ name: 'create_job', arguments: { job_type: 'embedding', note_id: n.id } }))
    const waits = Array.from({ length: 16 }, () => mcp.client.callTool({ name: 'wait_for_job', arguments: { job_id: job.id, timeout_s: 3 } }))
    const hub = (await mcpHub(s.ctx))
    const session = hub.session(mcp.transport.sessionId!)!
    await waitFor(() => session.waitingCalls === 16, 'sixteen waits in progress')
    expect(toolError(await mcp.client.callTool({ name: 'wait_for_job', arguments: { job_id: job.id, timeout_s: 1 } }))).toStartWith('too_many_requests: 16 waiting calls')
    for (const r of await Promise.all(waits)) expect(toolJson(r)).toMatchObject({ status: 'pending', timed_out: true })
    expect(toolJson(await mcp.client.callTool({ name: 'queue_stats', arguments: {} }))).toMatchObject({ pending: 1 })
  } finally {
    expect((await s.request('/api/v1/jobs/resume/default', { method: 'POST', token: admin })).status).toBe(200)
  }
})
