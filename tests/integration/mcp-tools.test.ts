/**
 * MCP tools end to end (docs/mcp.md): the real SDK Client over Streamable HTTP against the real server — the tool
 * list, a note through its pipeline, waiting on an AI revision with progress, the timeout path, events_since paging.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Progress } from '@modelcontextprotocol/sdk/types.js'
import { startInference, type InferenceDouble } from '../doubles/inference.ts'
import { connectMcp, toolError, toolJson, type McpConnection } from '../helpers/mcp-client.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor, within } from '../helpers/wait.ts'

interface Note {
  id: string
  title: string | null
  content: string
  tags: string[]
  links: { note_id: string; score: number }[]
  has_ai_content: boolean
}
interface Job {
  id: string
  status: string
  job_type: string
  progress_percent: number
}

let llm: InferenceDouble
let s: TestServer
let tok: string
let mcp: McpConnection
/** What an agent session looks like: every call and its answer, printed with MCP_TRANSCRIPT=1. */
const transcript: string[] = []

async function call<T = Record<string, unknown>>(name: string, args: Record<string, unknown>, onprogress?: (p: Progress) => void): Promise<T> {
  transcript.push(`→ ${name} ${JSON.stringify(args)}`)
  const log = (p: Progress) => {
    transcript.push(`  · notifications/progress ${JSON.stringify(p)}`)
    onprogress?.(p)
  }
  const r = await mcp.client.callTool({ name, arguments: args }, undefined, onprogress ? { onprogress: log, resetTimeoutOnProgress: true } : undefined)
  transcript.push(`← ${JSON.stringify(r.structuredContent ?? r.content).slice(0, 400)}`)
  return toolJson<T>(r)
}

async function drained(): Promise<void> {
  await waitFor(async () => {
    const c = await s.ctx.jobs.counts('default')
    return c.pending + c.running === 0
  }, 'the job queue to drain')
}

beforeAll(async () => {
  llm = await startInference()
  s = await startServer({ env: { MATRIC_INFERENCE_URL: llm.url, MATRIC_JOB_MAX_RETRIES: '0' } })
  tok = await s.token({ sub: 'agent', scope: 'write' })
  mcp = await connectMcp(s.url, tok)
})
afterAll(async () => {
  if (process.env.MCP_TRANSCRIPT) console.log(transcript.join('\n'))
  await mcp.close()
  await s.stop()
  await llm.stop()
})

describe('tools', () => {
  test('the tool list: fifteen tools, each with an input schema and a description an agent can act on', async () => {
    const { tools } = await mcp.client.listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(
      ['create_job', 'create_note', 'delete_note', 'events_since', 'get_job', 'get_note', 'list_jobs', 'list_notes', 'queue_stats', 'revise_note', 'search_notes', 'set_note_tags', 'update_note', 'wait_for_job', 'wait_for_note_ready'],
    )
    for (const t of tools) {
      expect(t.inputSchema.type).toBe('object')
      expect((t.description ?? '').length).toBeGreaterThan(60)
    }
    const by = Object.fromEntries(tools.map((t) => [t.name, t]))
    const search = by.search_notes!.inputSchema as { required?: string[]; properties: Record<string, { maximum?: number; maxLength?: number }> }
    expect(search.required).toEqual(['query'])
    expect(search.properties.limit?.maximum).toBe(50)
    const wait = by.wait_for_job!.inputSchema as { required?: string[]; properties: Record<string, { maximum?: number }> }
    expect(wait.required).toEqual(['job_id'])
    expect(wait.properties.timeout_s?.maximum).toBe(50)
    expect(by.delete_note!.annotations?.destructiveHint).toBe(true)
    expect(by.get_note!.annotations?.readOnlyHint).toBe(true)
    expect(mcp.client.getServerVersion()?.name).toBe('matric-realtime')
    expect(mcp.client.getServerCapabilities()?.resources).toEqual({ subscribe: true, listChanged: true })
  })

  test('create a note, wait_for_note_ready returns it with its title and links', async () => {
    const first = await call<Note>('create_note', { content: '# Vector index\nCosine similarity over hashed term vectors for the vector index.', tags: ['search'] })
    expect((await call<{ ready: boolean }>('wait_for_note_ready', { note_id: first.id })).ready).toBe(true)
    const second = await call<Note>('create_note', { content: 'The vector index ranks notes by cosine similarity of hashed term vectors.', tags: ['search'] })
    expect(second.title).toBeNull() // generated in the background
    const progress: Progress[] = []
    const r = await call<{ ready: boolean; timed_out: boolean; note: Note }>('wait_for_note_ready', { note_id: second.id, timeout_s: 20 }, (p) => void progress.push(p))
    expect(r).toMatchObject({ ready: true, timed_out: false })
    expect(r.note.title).toBe('The vector index ranks notes by cosine similarity of hashed term vectors')
    expect(r.note.links.map((l) => l.note_id)).toContain(first.id)
    expect(progress.at(-1)).toMatchObject({ progress: 3, total: 3 })
    // search_notes finds both, the closer one first
    const found = await call<{ results: { note_id: string; score: number }[] }>('search_notes', { query: 'vector index cosine', tags: ['search'], limit: 5 })
    expect(found.results.map((x) => x.note_id).sort()).toEqual([first.id, second.id].sort())
  })

  test('wait_for_job on a running ai_revision: increasing progress notifications, then the final job', async () => {
    const n = await call<Note>('create_note', { content: 'meeting notes: we decided to ship the vector index next week' })
    await drained()
    llm.script({ hold: true })
    const job = await call<Job>('create_job', { job_type: 'ai_revision', note_id: n.id })
    expect(job.status).toBe('pending')
    await waitFor(() => llm.held() === 1, 'the revision to reach the model')
    const progress: Progress[] = []
    let firstProgress!: () => void
    const gotFirst = new Promise<void>((r) => (firstProgress = r))
    const done = call<{ job: Job; timed_out: boolean }>('wait_for_job', { job_id: job.id, timeout_s: 30 }, (p) => {
      progress.push(p)
      firstProgress()
    })
    await within(gotFirst, 'the first progress notification')
    expect(progress[0]).toMatchObject({ progress: 10, total: 100, message: 'asking the model' })
    llm.release()
    const r = await done
    expect(r.timed_out).toBe(false)
    expect(r.job).toMatchObject({ id: job.id, status: 'completed', progress_percent: 100 })
    const values = progress.map((p) => p.progress)
    expect(values.length).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThan(values[i - 1]!)
    expect(values.at(-1)).toBe(100)
    const revised = await call<Note>('get_note', { note_id: n.id })
    expect(revised.has_ai_content).toBe(true)
  })

  test('the timeout path: {status, timed_out: true}, and calling again gets the end', async () => {
    const n = await call<Note>('create_note', { content: 'draft: the linking threshold is 0.3' })
    await drained()
    llm.script({ hold: true })
    const job = await call<Job>('create_job', { job_type: 'ai_revision', note_id: n.id })
    await waitFor(() => llm.held() === 1, 'the revision to reach the model')
    const started = Date.now()
    const r = await call<{ job_id: string; status: string; timed_out: boolean }>('wait_for_job', { job_id: job.id, timeout_s: 1 })
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(r).toEqual({ job_id: job.id, status: 'running', progress_percent: 10, timed_out: true } as never)
    llm.release()
    const again = await call<{ job: Job; timed_out: boolean }>('wait_for_job', { job_id: job.id, timeout_s: 10 })
    expect(again).toMatchObject({ timed_out: false, job: { status: 'completed' } })
  })

  test('revise_note queues, waits and returns the revised note; a failed revision is a tool error with the reason', async () => {
    const n = await call<Note>('create_note', { content: 'notes on the queue: priorities run highest first' })
    await drained()
    const r = await call<{ job: Job; note: Note }>('revise_note', { note_id: n.id, instructions: 'Make it a short checklist.', timeout_s: 20 })
    expect(r.job.status).toBe('completed')
    expect(r.note.content).toContain('(revised by the test double)')
    // The instructions reach the model beside the note (which stays the only user message).
    const sent = llm.requests.at(-1)!.body.messages!
    expect(sent.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(['notes on the queue: priorities run highest first'])
    expect(sent.some((m) => m.role === 'system' && m.content.includes('Make it a short checklist.'))).toBe(true)
    llm.script({ status: 400 })
    const failed = await mcp.client.callTool({ name: 'revise_note', arguments: { note_id: n.id, timeout_s: 20 } })
    expect(toolError(failed)).toMatch(/^bad_request: ai_revision \S+ failed: inference endpoint refused the request \(400\)$/)
  })

  test('events_since pages through a burst without gaps or repeats', async () => {
    await drained()
    // from: "now": nothing of what came before, only the burst.
    const start = await call<{ next_cursor: string; events: unknown[]; has_more: boolean }>('events_since', { from: 'now', limit: 200 })
    expect(start).toMatchObject({ events: [], has_more: false })
    let cursor = start.next_cursor
    const from = cursor
    const seen: string[] = []
    const burst = Promise.all(Array.from({ length: 20 }, (_, i) => s.request('/api/v1/notes', { token: tok, body: { content: `burst note ${i} about hashed vectors`, tags: ['burst'] } })))
    let settled = false
    void burst.then(() => (settled = true))
    // Page while the burst (and the jobs it queues) is still producing events.
    for (let rounds = 0; ; rounds++) {
      const p = await call<{ events: { event_id: string }[]; next_cursor: string; has_more: boolean; gap: boolean }>('events_since', { cursor, limit: 7 })
      expect(p.gap).toBe(false)
      expect(p.events.length).toBeLessThanOrEqual(7)
      seen.push(...p.events.map((e) => e.event_id))
      cursor = p.next_cursor
      const c = await s.ctx.jobs.counts('default')
      if (!p.has_more && settled && c.pending + c.running === 0 && !s.ctx.bus.pending) {
        // Everything is delivered now: one more page must be empty, else keep paging.
        const tail = await call<{ events: { event_id: string }[]; next_cursor: string }>('events_since', { cursor, limit: 7 })
        seen.push(...tail.events.map((e) => e.event_id))
        cursor = tail.next_cursor
        if (!tail.events.length) break
      }
      if (rounds > 500) throw new Error('events_since never caught up')
    }
    const startSeq = (await s.ctx.stores.events.positionOf(seen[0]!))!.seq
    const logged = (await s.ctx.stores.events.afterInMemory('default', startSeq - 1, 100_000)).map((r) => r.event_id)
    expect(new Set(seen).size).toBe(seen.length)
    expect(seen).toEqual(logged)
    expect(seen.length).toBeGreaterThan(20 * 5) // note.created + the pipeline's job events
    // The same window filtered by type: exactly the twenty note.created events.
    const created = await call<{ events: { entity_id: string; event_type: string }[] }>('events_since', { cursor: from, types: ['note.created'], limit: 50 })
    expect(created.events.map((e) => e.event_type)).toEqual(Array(20).fill('note.created'))
  })

  test('events_since refuses unknown cursors and types with a clear message', async () => {
    expect(toolError(await mcp.client.callTool({ name: 'events_since', arguments: { cursor: 'not-a-cursor' } }))).toStartWith('bad_request: unknown cursor')
    expect(toolError(await mcp.client.callTool({ name: 'events_since', arguments: { types: ['bogus.thing'] } }))).toStartWith('bad_request: unknown event type "bogus.thing"')
  })
})
