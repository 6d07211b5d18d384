import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'

let s: TestServer
beforeAll(async () => {
  s = await startServer()
})
afterAll(() => s.stop())

test('a 2xx for a request that emitted events means its events are already in the durable log', async () => {
  const token = await s.token()
  const res = await s.request('/api/v1/events', { token, body: { payload: { type: 'JobQueued', job_id: 'durable-1', job_type: 'Import' } } })
  expect(res.status).toBe(202)
  const { event_id } = (await res.json()) as { event_id: string }
  expect((await s.ctx.stores.events.positionOf(event_id))?.seq).toBeGreaterThan(0)

  const note = await s.request('/api/v1/notes', { token, body: { content: 'durable note' } })
  expect(note.status).toBe(201)
  const { id } = (await note.json()) as { id: string }
  const logged = (await s.ctx.stores.events.afterInMemory('default', 0, 1000)).filter((r) => r.entity_id === id)
  expect(logged.map((r) => r.event_type)).toContain('note.created')
})
