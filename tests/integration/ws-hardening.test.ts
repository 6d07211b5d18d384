/** WebSocket hardening: bounded work per client (`refresh`), revocation of stream tokens, tag-group isolation. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { SqliteJobStore } from '../../src/store/sqlite/jobs.ts'
import { rawWs } from '../helpers/raw-ws.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'
import { WsClient } from '../helpers/ws-client.ts'

let s: TestServer
let admin: string

beforeAll(async () => {
  s = await startServer()
  admin = await s.token({ memory: 'wh' })
})
afterAll(() => s.stop())

describe('refresh is bounded', () => {
  test('1,000 refresh frames in one burst get two answers (one trailing) and a handful of count queries', async () => {
    await s.ctx.jobPauses.pause({ kind: 'memory', memory: 'wh' }, { kind: 'system' }) // jobs stay pending: stable counts
    for (let i = 0; i < 20; i++) await s.request('/api/v1/notes', { token: admin, body: { content: `note ${i}`, tags: [i % 2 ? 'a' : 'b'] } })
    const restricted = await s.token({ memory: 'wh', scope: 'read', tags: ['a'] })
    let queries = 0
    const jobs = s.ctx.jobs as SqliteJobStore
    const countNow = jobs.countNow.bind(jobs)
    jobs.countNow = (m, r) => (queries++, countNow(m, r))
    try {
      const ws = await rawWs(s.port, `/api/v1/ws?memory=wh&token=${restricted}`)
      expect(ws.status).toBe(101)
      for (let i = 0; i < 1000; i++) ws.sendText('refresh')
      const refreshAnswers = () => ws.texts.filter((t) => t.startsWith('{"type":"QueueStatus"') && !t.includes('event_id'))
      await waitFor(() => refreshAnswers().length >= 2, 'the immediate and the trailing answer')
      // 1,000 asks, a handful of count queries: the first answer's, and at most the memory-wide and group counts of
      // a trailing QueueStatus for the notes created above (the second answer is served from the cache).
      const queriesForAnswers = queries
      // A barrier: an event the restricted client sees, sent after both answers.
      const noteRes = await s.request('/api/v1/notes', { token: admin, body: { content: 'barrier', tags: ['a'] } })
      const barrierId = ((await noteRes.json()) as { id: string }).id
      await waitFor(() => ws.texts.some((t) => t.includes(barrierId)), 'the barrier event')
      const answers = refreshAnswers()
      expect(answers.length).toBe(2)
      const stats = (await (await s.request('/api/v1/jobs/stats', { token: restricted })).json()) as { pending: number }
      expect(JSON.parse(answers[1]!).pending).toBe(stats.pending - 2) // the barrier note queued 2 jobs after the answers
      expect(queriesForAnswers).toBeLessThanOrEqual(3)
      expect((await s.request('/health')).status).toBe(200)
      ws.destroy()
    } finally {
      jobs.countNow = countNow
      await s.ctx.jobPauses.resume({ kind: 'memory', memory: 'wh' }, { kind: 'system' })
    }
  })
})

describe('stream token revocation', () => {
  test('revoking a stream token closes the WebSockets opened with it (1008 token revoked), and only those', async () => {
    const reader = await s.token({ memory: 'wh', scope: 'read', sub: 'rev-user' })
    const mint = async () => (await (await s.request('/api/v1/events/tokens', { token: reader, body: {} })).json()) as { token: string; token_id: string }
    const a = await mint()
    const b = await mint()
    const wsA = await WsClient.connect(`${s.wsUrl}?memory=wh&token=${a.token}`)
    const wsB = await WsClient.connect(`${s.wsUrl}?memory=wh&token=${b.token}`)
    expect((await s.request(`/api/v1/events/tokens/${a.token_id}`, { token: reader, method: 'DELETE' })).status).toBe(204)
    const closed = await waitFor(() => wsA.closed, 'the revoked socket to close')
    expect(closed).toMatchObject({ code: 1008, reason: 'token revoked' })
    wsB.send('refresh')
    await wsB.next((f) => f.type === 'QueueStatus', 'the other socket still answers')
    expect(wsB.closed).toBeNull()
    wsB.close()
  })
})

describe('tag groups', () => {
  test('a tag holding the old separator does not join another group', async () => {
    const tricky = await s.token({ memory: 'wh', scope: 'read', tags: ['a\u0001b'] })
    const plain = await s.token({ memory: 'wh', scope: 'read', tags: ['a', 'b'] })
    const wsTricky = await WsClient.connect(`${s.wsUrl}?memory=wh&token=${tricky}`)
    const wsPlain = await WsClient.connect(`${s.wsUrl}?memory=wh&token=${plain}`)
    const res = await s.request('/api/v1/notes', { token: admin, body: { content: 'for a and b', tags: ['a'] } })
    const id = ((await res.json()) as { id: string }).id
    await wsPlain.next((f) => f.note_id === id, 'the note on the plain group')
    const marker = await s.request('/api/v1/notes', { token: admin, body: { content: 'for the tricky tag', tags: ['a\u0001b'] } })
    const markerId = ((await marker.json()) as { id: string }).id
    await wsTricky.next((f) => f.note_id === markerId, 'the marker on the tricky group')
    expect(wsTricky.frames.some((f) => f.note_id === id)).toBe(false)
    wsTricky.close()
    wsPlain.close()
  })
})
