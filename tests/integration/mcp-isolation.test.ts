/**
 * MCP isolation (docs/mcp.md): a token of another memory, or without the note's tag, sees none of it — tools,
 * resources, notifications, search results, and notifications replayed from another session.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { connectMcp, recordingFetch, toolError, toolJson, type McpConnection, type SseRecord } from '../helpers/mcp-client.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor, within } from '../helpers/wait.ts'

let s: TestServer
let ownerTok: string
let otherTok: string
let restrictedTok: string
let owner: McpConnection
let other: McpConnection
let restricted: McpConnection
let secret: { id: string }
let secretJob: string
let publicNote: { id: string }
const SECRET_TEXT = 'quarterly acquisition plan for zanzibar holdings'

async function rest(path: string, token: string, body?: unknown, method?: string, memory?: string): Promise<Response> {
  return s.request(path, { token, body, method, headers: memory ? { 'x-matric-memory': memory } : {} })
}
async function drained(memory = 'default'): Promise<void> {
  await waitFor(async () => {
    const c = await s.ctx.jobs.counts(memory)
    return c.pending + c.running === 0 && !s.ctx.bus.pending
  }, 'the job queue to drain')
}
/** Every notification a client receives, in order: resource URIs, or 'list' for list_changed. */
function notifications(c: Client): string[] {
  const got: string[] = []
  c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void got.push(n.params.uri))
  c.setNotificationHandler(ResourceListChangedNotificationSchema, () => void got.push('list'))
  return got
}
const mentions = (v: unknown, id: string) => JSON.stringify(v).includes(id)
const raw = (token: string, init: { method?: string; session?: string; body?: unknown; headers?: Record<string, string> }) =>
  fetch(`${s.url}/mcp`, {
    method: init.method ?? 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      'mcp-protocol-version': '2025-11-25',
      ...(init.session ? { 'mcp-session-id': init.session } : {}),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })

beforeAll(async () => {
  s = await startServer()
  ownerTok = await s.token({ sub: 'alice', scope: 'write', memory: 'default' })
  otherTok = await s.token({ sub: 'bob', scope: 'admin', memory: 'other' })
  restrictedTok = await s.token({ sub: 'carol', scope: 'write', memory: 'default', tags: ['public'] })
  secret = (await (await rest('/api/v1/notes', ownerTok, { content: `# Secret\n${SECRET_TEXT}`, tags: ['private'] })).json()) as { id: string }
  publicNote = (await (await rest('/api/v1/notes', ownerTok, { content: '# Public\nthe public roadmap', tags: ['public'] })).json()) as { id: string }
  await drained()
  secretJob = ((await (await rest(`/api/v1/jobs?note_id=${secret.id}`, ownerTok)).json()) as { jobs: { id: string }[] }).jobs[0]!.id
  owner = await connectMcp(s.url, ownerTok)
  other = await connectMcp(s.url, otherTok)
  restricted = await connectMcp(s.url, restrictedTok)
})
afterAll(async () => {
  for (const c of [owner, other, restricted]) await c?.close()
  await s.stop()
})

describe.each([
  ['a token of another memory', () => other],
  ['a token without the note’s tag', () => restricted],
])('%s', (_who, conn) => {
  const call = async (name: string, args: Record<string, unknown>) => conn().client.callTool({ name, arguments: args })

  test('tools: the note, its jobs and its events do not exist', async () => {
    for (const [name, args] of [
      ['get_note', { note_id: secret.id }],
      ['update_note', { note_id: secret.id, title: 'pwned' }],
      ['set_note_tags', { note_id: secret.id, tags: ['public'] }],
      ['delete_note', { note_id: secret.id }],
      ['wait_for_note_ready', { note_id: secret.id, timeout_s: 1 }],
      ['get_job', { job_id: secretJob }],
      ['wait_for_job', { job_id: secretJob, timeout_s: 1 }],
      ['create_job', { job_type: 'embedding', note_id: secret.id }],
      ['revise_note', { note_id: secret.id }],
    ] as const)
      expect(toolError(await call(name, args))).toStartWith('not_found:')
    expect(mentions(toolJson(await call('list_notes', { limit: 100 })), secret.id)).toBe(false)
    expect(mentions(toolJson(await call('list_jobs', { limit: 100 })), secret.id)).toBe(false)
    expect(mentions(toolJson(await call('events_since', { limit: 200 })), secret.id)).toBe(false)
    const found = toolJson<{ results: unknown[] }>(await call('search_notes', { query: SECRET_TEXT }))
    expect(mentions(found, secret.id)).toBe(false)
    // the note is untouched
    const still = (await (await rest(`/api/v1/notes/${secret.id}`, ownerTok)).json()) as { title: string; tags: string[] }
    expect(still).toMatchObject({ title: 'Secret', tags: ['private'] })
  })

  test('resources: cannot be read, subscribed to or listed', async () => {
    const c = conn().client
    await expect(c.readResource({ uri: `matric://notes/${secret.id}` })).rejects.toThrow(/-32002/)
    await expect(c.readResource({ uri: `matric://jobs/${secretJob}` })).rejects.toThrow(/-32002/)
    await expect(c.subscribeResource({ uri: `matric://notes/${secret.id}` })).rejects.toThrow(/-32002/)
    expect(mentions(await c.listResources(), secret.id)).toBe(false)
  })
})

test('the restricted token still sees what it may: its public note, found by search', async () => {
  const found = toolJson<{ results: { note_id: string }[] }>(await restricted.client.callTool({ name: 'search_notes', arguments: { query: 'public roadmap' } }))
  expect(found.results.map((r) => r.note_id)).toEqual([publicNote.id])
})

test('notifications: changes to the hidden note never reach the others; their own changes do', async () => {
  const gotOther = notifications(other.client)
  const gotRestricted = notifications(restricted.client)
  await restricted.client.subscribeResource({ uri: `matric://notes/${publicNote.id}` })
  await restricted.client.subscribeResource({ uri: 'matric://queue/status' })
  const otherNote = (await (await rest('/api/v1/notes', otherTok, { content: 'bob’s own note' }, undefined, 'other')).json()) as { id: string }
  await drained('other')
  await other.client.subscribeResource({ uri: `matric://notes/${otherNote.id}` })
  await other.client.subscribeResource({ uri: 'matric://queue/status' })
  gotOther.length = 0

  // The owner creates, edits and deletes private notes (note events, job events, counts, list changes).
  await owner.client.subscribeResource({ uri: `matric://notes/${secret.id}` })
  expect((await rest(`/api/v1/notes/${secret.id}`, ownerTok, { content: `${SECRET_TEXT}, revised` }, 'PATCH')).status).toBe(200)
  const another = (await (await rest('/api/v1/notes', ownerTok, { content: 'another private note', tags: ['private'] })).json()) as { id: string }
  await drained()
  expect((await rest(`/api/v1/notes/${another.id}`, ownerTok, undefined, 'DELETE')).status).toBe(204)
  await drained()

  // Sentinels: a change each of them may see. Events are delivered in order, so anything leaked would come first.
  expect((await rest(`/api/v1/notes/${publicNote.id}`, ownerTok, { title: 'Public, renamed' }, 'PATCH')).status).toBe(200)
  expect((await rest(`/api/v1/notes/${otherNote.id}`, otherTok, { title: 'renamed' }, 'PATCH', 'other')).status).toBe(200)
  await waitFor(() => gotRestricted.includes(`matric://notes/${publicNote.id}`), 'the restricted session’s sentinel')
  await waitFor(() => gotOther.includes(`matric://notes/${otherNote.id}`), 'the other memory’s sentinel')
  expect(gotRestricted.slice(0, gotRestricted.indexOf(`matric://notes/${publicNote.id}`))).toEqual([])
  expect(gotOther.slice(0, gotOther.indexOf(`matric://notes/${otherNote.id}`))).toEqual([])
  expect(gotRestricted.some((u) => u.includes(secret.id) || u.includes(another.id))).toBe(false)
})

describe('sessions and replay', () => {
  test("replaying another session's event id yields nothing of it, for another principal and for the same one", async () => {
    const rec: SseRecord = { ids: [], resumes: [] }
    const watched = (await (await rest('/api/v1/notes', ownerTok, { content: 'replay source', tags: ['private'] })).json()) as { id: string }
    await drained()
    const a = await connectMcp(s.url, ownerTok, { fetch: recordingFetch(rec).fetch })
    const got = notifications(a.client)
    await a.client.subscribeResource({ uri: `matric://notes/${watched.id}` })
    await rest(`/api/v1/notes/${watched.id}`, ownerTok, { title: 'changed' }, 'PATCH')
    await waitFor(() => got.length === 1 && rec.ids.length === 1, 'a notification with an event id')
    const eventId = rec.ids[0]!
    // A later notification of that session: what a replay from eventId would hand out.
    await rest(`/api/v1/notes/${watched.id}`, ownerTok, { title: 'changed again' }, 'PATCH')
    await waitFor(() => got.length === 2, 'the second notification')
    // A fresh session of each principal (no GET stream open yet) presents that event id on its own GET stream.
    for (const tok of [restrictedTok, otherTok, ownerTok]) {
      const init = await raw(tok, { body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '1' } } } })
      const sid = init.headers.get('mcp-session-id')!
      await init.body?.cancel()
      expect((await raw(tok, { session: sid, body: { jsonrpc: '2.0', method: 'notifications/initialized' } })).status).toBe(202)
      const res = await raw(tok, { method: 'GET', session: sid, headers: { 'last-event-id': eventId, accept: 'text/event-stream' } })
      let text: string
      if (res.status === 200) {
        const reader = res.body!.getReader()
        const first = await within(reader.read(), 'a replayed chunk', 2000)
        text = new TextDecoder().decode(first.value)
        await reader.cancel()
      } else text = await res.text()
      expect(text).not.toContain(watched.id)
      expect(text).not.toContain('notifications/resources/updated')
      expect(res.status).toBe(400)
      await raw(tok, { method: 'DELETE', session: sid })
    }
    // The session it belongs to resumes from it (nothing missed since: an empty replay, then live).
    await a.close()
  })

  test("a session id of another principal is refused like an unknown one; the session stays usable", async () => {
    const sid = owner.transport.sessionId!
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' }
    for (const tok of [restrictedTok, otherTok, await s.token({ sub: 'mallory', scope: 'admin', memory: '*' })]) {
      const res = await raw(tok, { session: sid, body: list })
      expect(res.status).toBe(404)
      expect(((await res.json()) as { error: { code: number; message: string } }).error).toMatchObject({ code: -32001, message: expect.stringContaining('session not found') })
    }
    // Same subject, another memory selected: also another session's id.
    const wide = await s.token({ sub: 'alice', scope: 'write', memory: ['default', 'other'] })
    expect((await raw(wide, { session: sid, body: list, headers: { 'x-matric-memory': 'other' } })).status).toBe(404)
    expect((await owner.client.listTools()).tools.length).toBe(15)
    // A refreshed token of the same principal keeps the session.
    const refreshed = await s.token({ sub: 'alice', scope: 'write', memory: 'default', ttlS: 7200 })
    expect((await raw(refreshed, { session: sid, body: list })).status).toBe(200)
  })
})
