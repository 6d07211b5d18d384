/**
 * Links never cross tag visibility: a tag-restricted principal sees no link, score, count or message derived
 * from notes it cannot read, and its writes never change notes it cannot read.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'
import { dataOf, SseClient } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'

let s: TestServer
let admin: string
let writerX: string
const SECRET = '# Merger plans\nAcme acquires Globex in March; the price is forty million; the board approved the merger plans.'

beforeAll(async () => {
  s = await startServer()
  admin = await s.token({ memory: 'li' })
  writerX = await s.token({ memory: 'li', scope: 'read write', tags: ['x'] })
})
afterAll(() => s.stop())

interface Note {
  id: string
  tags: string[]
  has_links: boolean
  links: { note_id: string; score: number }[]
  updated_at: string
}
const create = async (token: string, content: string, tags: string[]) => {
  const res = await s.request('/api/v1/notes', { token, body: { content, tags } })
  expect(res.status).toBe(201)
  return ((await res.json()) as Note).id
}
const get = async (token: string, id: string) => (await (await s.request(`/api/v1/notes/${id}`, { token })).json()) as Note
const drained = () =>
  waitFor(async () => {
    const c = await s.ctx.jobs.counts('li')
    return c.pending === 0 && c.running === 0
  }, 'the queue to drain', 20_000)

describe('links and tag restrictions', () => {
  test('a restricted writer probing with the hidden text learns nothing and changes nothing it cannot read', async () => {
    const hidden = await create(admin, SECRET, ['secret'])
    const neighbour = await create(admin, SECRET.replace('March', 'April'), ['secret'])
    await drained()
    const hiddenBefore = await get(admin, hidden)
    expect(hiddenBefore.links.map((l) => l.note_id)).toEqual([neighbour]) // same tags: linked both ways

    const stream = await SseClient.open(`${s.url}/api/v1/events?types=job.progress`, { headers: { authorization: `Bearer ${writerX}`, 'x-matric-memory': 'li' } })
    // Tagged x (its own) and secret (allowed: it keeps one of its tags) — still it must not reach the hidden notes.
    const probes = [await create(writerX, SECRET, ['x']), await create(writerX, SECRET, ['x', 'secret'])]
    await drained()
    for (const p of probes) {
      const seen = await get(writerX, p)
      expect(seen.links.filter((l) => l.note_id === hidden || l.note_id === neighbour)).toEqual([])
    }
    // The hidden notes are exactly as they were: no link to a probe, no update.
    const hiddenAfter = await get(admin, hidden)
    expect(hiddenAfter.links).toEqual(hiddenBefore.links)
    expect(hiddenAfter.updated_at).toBe(hiddenBefore.updated_at)
    // Progress messages count only notes the writer may read (the two probes see each other at most).
    const messages = stream.events.map((f) => (dataOf(f).payload as { message?: string }).message).filter((m) => m?.includes('similar'))
    expect(messages.length).toBe(2)
    for (const m of messages) expect(m).toMatch(/^[01] similar note\(s\) found$/)
    stream.close()
  })

  test('a link A → B is stored only when every reader of A may read B', async () => {
    const text = '# Sourdough\nSourdough bread needs a starter, flour, water, salt and a long slow rise overnight.'
    const narrow = await create(admin, text, ['bake'])
    const wide = await create(admin, text + ' Bake hot.', ['bake', 'food'])
    const untagged = await create(admin, text + ' Enjoy.', [])
    await drained()
    const ids = async (id: string, token = admin) => (await get(token, id)).links.map((l) => l.note_id).sort()
    // Readers of [bake] can read [bake, food]; readers of [bake, food] (e.g. tag food only) cannot read [bake].
    expect(await ids(narrow)).toContain(wide)
    expect(await ids(wide)).not.toContain(narrow)
    // An untagged note is visible to unrestricted readers only: it may link to anything; nothing tagged links to it.
    expect(await ids(untagged)).toEqual([narrow, wide].sort())
    expect(await ids(narrow)).not.toContain(untagged)
    // What a food-only reader sees of `wide`: no link (it cannot read `narrow`), has_links false.
    const foodReader = await s.token({ memory: 'li', scope: 'read', tags: ['food'] })
    const w = await get(foodReader, wide)
    expect(w.links).toEqual([])
    expect(w.has_links).toBe(false)
  })

  test('retagging a note recomputes its links under the rule', async () => {
    const text = '# Tide tables\nTide tables list high and low water times for harbours along the coast each day.'
    const a = await create(admin, text, ['sea'])
    const b = await create(admin, text + ' Check them.', ['sea'])
    await drained()
    expect((await get(admin, a)).links.map((l) => l.note_id)).toEqual([b])
    expect((await s.request(`/api/v1/notes/${b}/tags`, { token: admin, method: 'PUT', body: { tags: ['private'] } })).status).toBe(200)
    await drained()
    expect((await get(admin, a)).links).toEqual([])
    expect((await get(admin, b)).links).toEqual([])
  })
})
