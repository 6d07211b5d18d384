/**
 * MCP resources and live notifications (docs/mcp.md): subscribe to a note, change it over REST, get
 * notifications/resources/updated; coalescing; list_changed; disconnect, miss a change, resume with Last-Event-ID.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { mcpHub } from '../../src/modules/mcp/index.ts'
import { connectMcp, recordingFetch, type McpConnection, type SseRecord } from '../helpers/mcp-client.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

let s: TestServer
let tok: string

async function createNote(content: string, tags: string[] = []): Promise<{ id: string }> {
  const res = await s.request('/api/v1/notes', { token: tok, body: { content, tags } })
  expect(res.status).toBe(201)
  return (await res.json()) as { id: string }
}
const patch = (id: string, body: unknown) => s.request(`/api/v1/notes/${id}`, { method: 'PATCH', token: tok, body })
async function drained(): Promise<void> {
  await waitFor(async () => {
    const c = await s.ctx.jobs.counts('default')
    return c.pending + c.running === 0 && !s.ctx.bus.pending
  }, 'the job queue to drain')
}

/** Collects resources/updated notifications of a client with their arrival time. */
function updates(c: Client): { uri: string; at: number }[] {
  const got: { uri: string; at: number }[] = []
  c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void got.push({ uri: n.params.uri, at: Date.now() }))
  return got
}

beforeAll(async () => {
  s = await startServer()
  tok = await s.token({ sub: 'agent', scope: 'write' })
})
afterAll(async () => {
  await s.stop()
})

describe('resources', () => {
  let mcp: McpConnection
  beforeAll(async () => {
    mcp = await connectMcp(s.url, tok)
  })
  afterAll(() => mcp.close())

  test('read a note, a job and the queue status as JSON; list and templates', async () => {
    const n = await createNote('# Resource note\nbody', ['r'])
    await drained()
    const note = await mcp.client.readResource({ uri: `matric://notes/${n.id}` })
    expect(note.contents[0]).toMatchObject({ uri: `matric://notes/${n.id}`, mimeType: 'application/json' })
    expect(JSON.parse(String((note.contents[0] as { text: string }).text))).toMatchObject({ id: n.id, title: 'Resource note', tags: ['r'] })
    const jobs = (await (await s.request(`/api/v1/jobs?note_id=${n.id}`, { token: tok })).json()) as { jobs: { id: string }[] }
    const job = await mcp.client.readResource({ uri: `matric://jobs/${jobs.jobs[0]!.id}` })
    expect(JSON.parse(String((job.contents[0] as { text: string }).text))).toMatchObject({ id: jobs.jobs[0]!.id, status: 'completed' })
    const queue = JSON.parse(String(((await mcp.client.readResource({ uri: 'matric://queue/status' })).contents[0] as { text: string }).text))
    expect(queue).toMatchObject({ total_jobs: 0, pending: 0, running: 0 })
    const list = await mcp.client.listResources()
    expect(list.resources[0]!.uri).toBe('matric://queue/status')
    expect(list.resources.map((r) => r.uri)).toContain(`matric://notes/${n.id}`)
    const templates = await mcp.client.listResourceTemplates()
    expect(templates.resourceTemplates.map((t) => t.uriTemplate)).toEqual(['matric://notes/{id}', 'matric://jobs/{id}'])
    await expect(mcp.client.readResource({ uri: 'matric://notes/0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f' })).rejects.toThrow(/-32002.*not found/)
    await expect(mcp.client.readResource({ uri: 'file:///etc/passwd' })).rejects.toThrow(/-32002.*unknown resource/)
  })

  test('subscribe to a note, change it over REST: notifications/resources/updated; unsubscribe stops them', async () => {
    const n = await createNote('subscribe me')
    await drained()
    const got = updates(mcp.client)
    const uri = `matric://notes/${n.id}`
    await mcp.client.subscribeResource({ uri })
    expect((await patch(n.id, { title: 'Changed over REST' })).status).toBe(200)
    await waitFor(() => got.some((g) => g.uri === uri), 'the resources/updated notification')
    const other = await createNote('not subscribed')
    await drained()
    expect(got.some((g) => g.uri === `matric://notes/${other.id}`)).toBe(false)
    await mcp.client.unsubscribeResource({ uri })
    const before = got.length
    await patch(n.id, { title: 'Changed again' })
    // Sentinel: a change of a subscribed resource that arrives after it proves the unsubscribed one was not sent.
    const sentinel = await createNote('sentinel')
    await mcp.client.subscribeResource({ uri: `matric://notes/${sentinel.id}` })
    await patch(sentinel.id, { title: 'sentinel changed' })
    await waitFor(() => got.some((g) => g.uri === `matric://notes/${sentinel.id}`), 'the sentinel notification')
    expect(got.slice(before).filter((g) => g.uri === uri)).toEqual([])
  })

  test('a burst of changes is coalesced: at most one notification per resource per 250 ms, the last change never lost', async () => {
    const n = await createNote('coalesce me')
    await drained()
    const got = updates(mcp.client)
    const uri = `matric://notes/${n.id}`
    await mcp.client.subscribeResource({ uri })
    const started = Date.now()
    for (let i = 0; i < 20; i++) expect((await patch(n.id, { title: `title ${i}` })).status).toBe(200)
    const lastChange = Date.now()
    await waitFor(() => got.some((g) => g.uri === uri && g.at >= lastChange), 'a notification after the last change')
    const mine = got.filter((g) => g.uri === uri)
    // (The spacing itself is measured on the server's clock in tests/unit/mcp.test.ts; arrival times here jitter.)
    expect(mine.length).toBeLessThanOrEqual(2 + Math.ceil((lastChange - started) / 250))
    expect(mine.length).toBeLessThan(20)
  })

  test('subscribe to a job and to the queue status: the job and the counts are notified', async () => {
    const admin = await s.token({ sub: 'ops', scope: 'admin' })
    const n = await createNote('queue watcher')
    await drained()
    const got = updates(mcp.client)
    await mcp.client.subscribeResource({ uri: 'matric://queue/status' })
    // Paused, the job stays pending until we have subscribed to it.
    expect((await s.request('/api/v1/jobs/pause/default', { method: 'POST', token: admin })).status).toBe(200)
    const job = (await (await s.request('/api/v1/jobs', { token: tok, body: { job_type: 'embedding', note_id: n.id } })).json()) as { id: string }
    await waitFor(() => got.some((g) => g.uri === 'matric://queue/status'), 'a queue status notification for the queued job')
    const uri = `matric://jobs/${job.id}`
    await mcp.client.subscribeResource({ uri })
    const before = got.length
    expect((await s.request('/api/v1/jobs/resume/default', { method: 'POST', token: admin })).status).toBe(200)
    await waitFor(async () => (await s.ctx.jobs.get(job.id))?.status === 'completed', 'the job to complete')
    await waitFor(() => got.slice(before).some((g) => g.uri === uri), 'a notification for the job')
    const last = JSON.parse(String(((await mcp.client.readResource({ uri })).contents[0] as { text: string }).text)) as { status: string }
    expect(last.status).toBe('completed')
  })

  test('notifications/resources/list_changed on note create and delete', async () => {
    let changes = 0
    mcp.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void changes++)
    await createNote('listed')
    await waitFor(() => changes >= 1, 'list_changed after a create')
    const n = await createNote('to delete')
    await drained()
    const seen = changes
    expect((await s.request(`/api/v1/notes/${n.id}`, { method: 'DELETE', token: tok })).status).toBe(204)
    await waitFor(() => changes > seen, 'list_changed after a delete')
  })
})

describe('resumption', () => {
  test('disconnect, the note changes again, reconnect with Last-Event-ID: the missed notification is replayed', async () => {
    const n = await createNote('resume me')
    await drained()
    const rec: SseRecord = { ids: [], resumes: [] }
    const first = await connectMcp(s.url, tok, { fetch: recordingFetch(rec).fetch })
    const got1 = updates(first.client)
    const uri = `matric://notes/${n.id}`
    await first.client.subscribeResource({ uri })
    await patch(n.id, { title: 'first change' })
    await waitFor(() => got1.length === 1 && rec.ids.length === 1, 'the first notification and its event id')
    const lastEventId = rec.ids[0]!
    const sessionId = first.transport.sessionId!
    const hub = (await mcpHub(s.ctx))
    // The client goes away without ending its session (a dropped connection, a restarted agent).
    await first.close()
    await waitFor(() => hub.session(sessionId)!.open === 0, 'the server to notice the closed stream')
    const stored = hub.session(sessionId)!.store.lastSeq
    await patch(n.id, { title: 'second change, while disconnected' })
    await waitFor(() => hub.session(sessionId)!.store.lastSeq > stored, 'the missed notification to be stored for the session')
    expect(got1.length).toBe(1)

    // Reconnect to the same session and resume the GET stream from the last event id seen.
    const rec2: SseRecord = { ids: [], resumes: [] }
    const transport = new StreamableHTTPClientTransport(new URL('/mcp', s.url), {
      requestInit: { headers: { authorization: `Bearer ${tok}` } },
      sessionId,
      fetch: recordingFetch(rec2).fetch,
    })
    const second = new Client({ name: 'matric-test-reconnected', version: '1.0.0' })
    const got2 = updates(second)
    await second.connect(transport)
    transport.setProtocolVersion('2025-11-25')
    await transport.resumeStream(lastEventId)
    await waitFor(() => got2.some((g) => g.uri === uri), 'the replayed notification')
    expect(rec2.resumes).toEqual([lastEventId])
    expect(got2.filter((g) => g.uri === uri).length).toBe(1)
    // Live again on the resumed stream: the session and its subscription survived.
    await patch(n.id, { title: 'third change, live' })
    await waitFor(() => got2.filter((g) => g.uri === uri).length === 2, 'the live notification after the resume')
    expect((await second.listTools()).tools.length).toBe(15)
    await transport.terminateSession()
    await second.close()
    expect(hub.session(sessionId)).toBeUndefined()
  })
})
