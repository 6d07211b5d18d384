/** Pure cores of the MCP endpoint: resumption store, notification coalescing, resource URIs, tool arguments. */
import { describe, expect, test } from 'bun:test'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import { Coalescer } from '../../src/modules/mcp/coalesce.ts'
import { FakeClock } from '../helpers/fake-clock.ts'
import { parseEventId, SessionEventStore } from '../../src/modules/mcp/event-store.ts'
import { parseResourceUri } from '../../src/modules/mcp/resources.ts'
import { checkArguments, listedTools, toolByName, TOOL_NAMES, WAIT_MAX_S } from '../../src/modules/mcp/tools.ts'
import { Watchers } from '../../src/modules/mcp/waits.ts'
import type { PublishedEvent } from '../../src/events/published.ts'
import { ConfigError, loadConfig } from '../../src/config.ts'

const note = (n: number): JSONRPCMessage => ({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: `matric://notes/${n}` } })

async function replay(store: SessionEventStore, id: string): Promise<{ stream: string; ids: string[]; uris: string[] }> {
  const ids: string[] = []
  const uris: string[] = []
  const stream = await store.replayEventsAfter(id, {
    send: async (eventId, m) => {
      ids.push(eventId)
      uris.push(String((m as { params?: { uri?: string } }).params?.uri))
    },
  })
  return { stream, ids, uris }
}

describe('SessionEventStore', () => {
  test('replays the messages of the same stream after the id, skipping priming events and other streams', async () => {
    const s = new SessionEventStore('tagA', 100, 1 << 20)
    const first = await s.storeEvent('_GET_stream', note(1))
    await s.storeEvent('post-1', {} as JSONRPCMessage) // priming event of a POST stream
    await s.storeEvent('post-1', note(99))
    await s.storeEvent('_GET_stream', note(2))
    await s.storeEvent('_GET_stream', note(3))
    expect(await s.getStreamIdForEventId(first)).toBe('_GET_stream')
    const r = await replay(s, first)
    expect(r.stream).toBe('_GET_stream')
    expect(r.uris).toEqual(['matric://notes/2', 'matric://notes/3'])
    expect(r.ids.every((id) => id.startsWith('tagA.'))).toBe(true)
  })

  test("another session's ids, forged and future ids are unknown", async () => {
    const a = new SessionEventStore('tagA', 100, 1 << 20)
    const b = new SessionEventStore('tagB', 100, 1 << 20)
    const idA = await a.storeEvent('_GET_stream', note(1))
    await b.storeEvent('_GET_stream', note(2))
    // Same constant GET stream id in both sessions: the tag is what keeps them apart.
    expect(await b.getStreamIdForEventId(idA)).toBeUndefined()
    expect(b.replayEventsAfter(idA, { send: async () => {} })).rejects.toThrow()
    for (const forged of ['', 'tagB', 'tagB.0._GET_stream', 'tagB.2._GET_stream', 'tagB.1.', 'tagB.x._GET_stream', 'tagB.01._GET_stream', 'x'.repeat(300)])
      expect(await b.getStreamIdForEventId(forged)).toBeUndefined()
  })

  test('bounded by count and bytes, oldest first; a resume from a dropped id replays what is left', async () => {
    const s = new SessionEventStore('t', 10, 1 << 20)
    const ids: string[] = []
    for (let i = 1; i <= 25; i++) ids.push(await s.storeEvent('_GET_stream', note(i)))
    expect(s.size).toBe(10)
    expect(s.dropped).toBe(15)
    const r = await replay(s, ids[0]!)
    expect(r.uris).toEqual(Array.from({ length: 10 }, (_, i) => `matric://notes/${i + 16}`))
    const small = new SessionEventStore('t', 1000, 500)
    for (let i = 0; i < 50; i++) await small.storeEvent('_GET_stream', note(i))
    expect(small.size).toBeLessThan(10)
    expect(small.size).toBeGreaterThan(0)
  })

  test.each([
    ['t.1.s', 5, { seq: 1, streamId: 's' }],
    ['t.5.a.b', 5, { seq: 5, streamId: 'a.b' }],
    ['t.6.s', 5, null],
    ['u.1.s', 5, null],
    ['t..s', 5, null],
    ['t.-1.s', 5, null],
  ] as const)('parseEventId(%p, last %p)', (id, last, want) => {
    expect(parseEventId('t', last, id)).toEqual(want as never)
  })
})

describe('Coalescer', () => {
  test('first touch sends at once, touches within 250 ms fold into one trailing send, keys are independent', () => {
    const clock = new FakeClock()
    clock.t = 0
    const sent: [string, number][] = []
    const c = new Coalescer(250, (k) => sent.push([k, clock.t]), clock)
    c.touch('a')
    c.touch('a')
    clock.advance(100)
    c.touch('a')
    c.touch('b')
    expect(sent).toEqual([['a', 0], ['b', 100]])
    clock.advance(150)
    expect(sent).toEqual([['a', 0], ['b', 100], ['a', 250]])
    clock.advance(1000)
    c.touch('a')
    expect(sent.at(-1)).toEqual(['a', 1250])
    c.touch('a')
    c.close()
    clock.advance(1000)
    expect(sent.length).toBe(4) // closed: the pending one is dropped
  })

  test('never more than one send per key per interval under a continuous stream of touches', () => {
    const clock = new FakeClock()
    clock.t = 0
    const at: number[] = []
    const c = new Coalescer(250, () => at.push(clock.t), clock)
    for (let i = 0; i < 200; i++) {
      c.touch('k')
      clock.advance(7)
    }
    clock.advance(300)
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(250)
    expect(at.at(-1)).toBeGreaterThanOrEqual(199 * 7) // the last touch is not lost
  })
})

describe('resource URIs', () => {
  const id = '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f'
  test.each([
    [`matric://notes/${id}`, { kind: 'note', id, uri: `matric://notes/${id}` }],
    [`matric://notes/${id.toUpperCase()}`, { kind: 'note', id, uri: `matric://notes/${id}` }],
    [`matric://jobs/${id}`, { kind: 'job', id, uri: `matric://jobs/${id}` }],
    ['matric://queue/status', { kind: 'queue', uri: 'matric://queue/status' }],
    ['matric://notes/not-a-uuid', null],
    [`matric://notes/${id}/x`, null],
    [`matric://notes/${id}?a=1`, null],
    [`matric://other/${id}`, null],
    [`http://notes/${id}`, null],
    ['', null],
  ])('%p', (uri, want) => {
    expect(parseResourceUri(uri)).toEqual(want as never)
  })
})

describe('tool arguments', () => {
  const tool = (n: string) => toolByName(n)!
  test('the tool list as shipped', () => {
    expect(TOOL_NAMES).toEqual([
      'search_notes', 'list_notes', 'get_note', 'create_note', 'update_note', 'set_note_tags', 'delete_note', 'create_job',
      'get_job', 'list_jobs', 'queue_stats', 'wait_for_job', 'wait_for_note_ready', 'revise_note', 'events_since',
    ])
    for (const t of listedTools()) {
      expect(t.inputSchema.type).toBe('object')
      expect(t.inputSchema.additionalProperties).toBe(false)
      expect(JSON.stringify(t.inputSchema)).not.toContain('Symbol')
    }
  })

  test.each([
    ['search_notes', { query: 'x' }, null],
    ['search_notes', { query: '' }, '/query'],
    ['search_notes', { query: 'x', limit: 51 }, '/limit'],
    ['search_notes', { query: 'x', limit: 1.5 }, '/limit'],
    ['search_notes', { query: 'x', tag: 'typo' }, 'unknown property'],
    ['search_notes', {}, '/query'],
    ['search_notes', undefined, '/query'],
    ['get_note', { note_id: 'nope' }, '/note_id'],
    ['wait_for_job', { job_id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f', timeout_s: WAIT_MAX_S + 1 }, '/timeout_s'],
    ['wait_for_job', { job_id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f', timeout_s: WAIT_MAX_S }, null],
    ['create_job', { job_type: 'mining', note_id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f' }, '/job_type'],
    ['events_since', { types: [] }, '/types'],
    ['queue_stats', {}, null],
    ['queue_stats', { x: 1 }, 'unknown property'],
  ] as const)('%s %j', (name, args, problem) => {
    const r = checkArguments(tool(name), args)
    if (problem === null) expect(r.ok).toBe(true)
    else {
      expect(r.ok).toBe(false)
      expect((r as { message: string }).message).toContain(`invalid arguments for ${name}`)
      expect((r as { message: string }).message).toContain(problem)
    }
  })
})

describe('Watchers', () => {
  const ev = (envelope: Record<string, unknown> & { payload: Record<string, unknown> }, legacyType = 'JobProgress', memory = 'm'): PublishedEvent =>
    ({ envelope, legacyType, memory, tags: null }) as unknown as PublishedEvent
  test('job events wake their job and their note; QueueStatus wakes the memory; unwatch stops it', () => {
    const w = new Watchers()
    const got: string[] = []
    const off = w.watch(['job:j1', 'note:n1', 'memory:m'], (e) => got.push(e.legacyType))
    w.dispatch(ev({ entity_type: 'job', entity_id: 'j1', payload: { type: 'JobProgress', note_id: 'n1' } }))
    w.dispatch(ev({ entity_type: 'job', entity_id: 'j2', payload: { type: 'JobStarted', note_id: 'n1' } }, 'JobStarted'))
    w.dispatch(ev({ entity_type: 'note', entity_id: 'n1', payload: { type: 'NoteUpdated', note_id: 'n1' } }, 'NoteUpdated'))
    w.dispatch(ev({ entity_type: 'queue', payload: { type: 'QueueStatus' } }, 'QueueStatus'))
    w.dispatch(ev({ entity_type: 'queue', payload: { type: 'QueueStatus' } }, 'QueueStatus', 'other'))
    w.dispatch(ev({ entity_type: 'job', entity_id: 'j3', payload: { type: 'JobStarted', note_id: 'n2' } }, 'JobStarted'))
    expect(got).toEqual(['JobProgress', 'JobStarted', 'NoteUpdated', 'QueueStatus']) // once each, though j1 matched two keys
    off()
    expect(w.size).toBe(0)
  })
})

describe('MCP configuration', () => {
  test('defaults, and bad values refused at start', () => {
    expect(loadConfig({}).mcp).toEqual({ maxSessions: 1000, maxSessionsPerPrincipal: 20, sessionIdleS: 1800, replayEvents: 1000, oauthIssuer: undefined, sessionRoute: undefined })
    expect(loadConfig({ MATRIC_MCP_SESSION_ROUTE: 'node-1' }).mcp.sessionRoute).toBe('node-1')
    for (const [k, v] of <[string, string][]>[['MATRIC_MCP_SESSION_ROUTE', 'a.b'], ['MATRIC_MCP_SESSION_ROUTE', 'x'.repeat(33)], ['MATRIC_MCP_MAX_SESSIONS', '0'], ['MATRIC_MCP_REPLAY_EVENTS', '5'], ['MATRIC_OAUTH_ISSUER', 'ftp://x']])
      expect(() => loadConfig({ [k]: v })).toThrow(ConfigError)
  })
})
