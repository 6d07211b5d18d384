/** notes: CRUD, tags, cursor pagination. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Note } from '../../src/modules/notes/model.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

interface Page {
  notes: Note[]
  next_cursor: string | null
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

let s: TestServer
let tok: string
beforeAll(async () => {
  s = await startServer()
  tok = await s.token()
})
afterAll(() => s.stop())

const json = async <T>(res: Response, status: number): Promise<T> => {
  const text = await res.text()
  expect({ status: res.status, text: res.status === status ? '' : text }).toEqual({ status, text: '' })
  return JSON.parse(text) as T
}

describe('notes CRUD', () => {
  test('create → get → patch → put tags → delete → 404', async () => {
    const created = await json<Note>(await s.request('/api/v1/notes', { token: tok, body: { content: 'Hello world. More text.', tags: [' a ', 'b', 'a'] } }), 201)
    expect(created).toMatchObject({ memory: 'default', title: null, content: 'Hello world. More text.', tags: ['a', 'b'], has_ai_content: false, has_links: false, links: [] })
    expect(created.id).toMatch(UUID)
    expect(new Date(created.created_at).toISOString()).toBe(created.created_at)
    expect(created.updated_at).toBe(created.created_at)

    const got = await json<Note>(await s.request(`/api/v1/notes/${created.id}`, { token: tok }), 200)
    expect(got.id).toBe(created.id)
    expect(got.content).toBe(created.content)

    const patched = await json<Note>(await s.request(`/api/v1/notes/${created.id}`, { token: tok, method: 'PATCH', body: { title: '  My title  ' } }), 200)
    expect(patched.title).toBe('My title')
    expect(patched.content).toBe(created.content)
    expect(patched.updated_at >= created.updated_at).toBe(true)

    const tagged = await json<Note>(await s.request(`/api/v1/notes/${created.id}/tags`, { token: tok, method: 'PUT', body: { tags: ['x', 'y', 'x'] } }), 200)
    expect(tagged.tags).toEqual(['x', 'y'])
    expect(tagged.title).toBe('My title')

    const cleared = await json<Note>(await s.request(`/api/v1/notes/${created.id}`, { token: tok, method: 'PATCH', body: { title: null } }), 200)
    expect(cleared.title).toBeNull()

    const del = await s.request(`/api/v1/notes/${created.id}`, { token: tok, method: 'DELETE' })
    expect(del.status).toBe(204)
    expect(await del.text()).toBe('')
    const gone = await s.request(`/api/v1/notes/${created.id}`, { token: tok })
    expect(gone.status).toBe(404)
    expect(await gone.json()).toEqual({ error: 'not_found', message: `note ${created.id} not found` })
    expect((await s.request(`/api/v1/notes/${created.id}`, { token: tok, method: 'DELETE' })).status).toBe(404)
    expect((await s.request(`/api/v1/notes/${created.id}`, { token: tok, method: 'PATCH', body: { title: 'x' } })).status).toBe(404)
    expect((await s.request(`/api/v1/notes/${created.id}/tags`, { token: tok, method: 'PUT', body: { tags: [] } })).status).toBe(404)
  })

  test('a title given at creation is kept (no title_generation job)', async () => {
    const n = await json<Note>(await s.request('/api/v1/notes', { token: tok, body: { content: '# Heading\nbody', title: 'Chosen' } }), 201)
    const jobs = await json<{ jobs: { job_type: string }[] }>(await s.request(`/api/v1/jobs?note_id=${n.id}`, { token: tok }), 200)
    expect(jobs.jobs.map((j) => j.job_type)).not.toContain('title_generation')
    expect(jobs.jobs.map((j) => j.job_type)).toContain('embedding')
  })

  test('tags: 100 allowed, 101 or a 10k-character tag refused (422); [] clears them', async () => {
    const hundred = Array.from({ length: 100 }, (_, i) => `tag-${i}`)
    const n = await json<Note>(await s.request('/api/v1/notes', { token: tok, body: { content: 'many tags', tags: hundred } }), 201)
    expect(n.tags).toEqual(hundred)
    for (const tags of [[...hundred, 'one-more'], ['x'.repeat(10_000)]]) {
      const res = await s.request(`/api/v1/notes/${n.id}/tags`, { token: tok, method: 'PUT', body: { tags } })
      const body = (await res.json()) as { error: string; message: string }
      expect({ status: res.status, error: body.error }).toEqual({ status: 422, error: 'unprocessable_entity' })
      expect(body.message).toContain('/tags')
    }
    const cleared = await json<Note>(await s.request(`/api/v1/notes/${n.id}/tags`, { token: tok, method: 'PUT', body: { tags: [] } }), 200)
    expect(cleared.tags).toEqual([])
  })

  test('U+0000 (NUL) in content, title or a tag is refused (422, naming the field) on both backends; the note stays as it was', async () => {
    const refused = async (res: Response, field: string) => {
      const body = (await res.json()) as { error: string; message: string }
      expect({ status: res.status, error: body.error, message: body.message }).toEqual({ status: 422, error: 'unprocessable_entity', message: `${field} must not contain U+0000 (NUL)` })
    }
    await refused(await s.request('/api/v1/notes', { token: tok, body: { content: 'before\u0000after' } }), 'content')
    await refused(await s.request('/api/v1/notes', { token: tok, body: { content: 'fine', title: 'a\u0000b' } }), 'title')
    await refused(await s.request('/api/v1/notes', { token: tok, body: { content: 'fine', tags: ['ok', 'b\u0000d'] } }), 'tags')
    const n = await json<Note>(await s.request('/api/v1/notes', { token: tok, body: { content: 'kept as is' } }), 201)
    await refused(await s.request(`/api/v1/notes/${n.id}`, { token: tok, method: 'PATCH', body: { content: '\u0000' } }), 'content')
    await refused(await s.request(`/api/v1/notes/${n.id}/tags`, { token: tok, method: 'PUT', body: { tags: ['\u0000x'] } }), 'tags')
    await refused(await s.request(`/api/v1/notes?tag=${encodeURIComponent('a\u0000')}`, { token: tok }), 'tag')
    const after = await json<Note>(await s.request(`/api/v1/notes/${n.id}`, { token: tok }), 200)
    expect({ content: after.content, tags: after.tags }).toEqual({ content: 'kept as is', tags: [] })
  })

  test('deleting a note leaves none of its jobs pending', async () => {
    const n = await json<Note>(await s.request('/api/v1/notes', { token: tok, body: { content: 'short-lived' } }), 201)
    expect((await s.request(`/api/v1/notes/${n.id}`, { token: tok, method: 'DELETE' })).status).toBe(204)
    await waitFor(async () => {
      const { jobs } = await json<{ jobs: { status: string }[] }>(await s.request(`/api/v1/jobs?note_id=${n.id}`, { token: tok }), 200)
      return jobs.length > 0 && jobs.every((j) => j.status === 'cancelled' || j.status === 'completed')
    }, 'the jobs of the deleted note to settle')
  })
})

describe('listing and pagination', () => {
  const memory = 'pages'
  let ids: string[] = []
  let mt: string

  beforeAll(async () => {
    mt = await s.token({ memory })
    // Created back to back: several share a millisecond, so the id tie-break of the cursor matters.
    for (let i = 0; i < 11; i++) {
      const n = await json<Note>(await s.request('/api/v1/notes', { token: mt, body: { content: `page note ${i}`, tags: i % 3 === 0 ? ['third'] : [] } }), 201)
      ids.push(n.id)
    }
  })

  test('limit + next_cursor walk every note exactly once, newest first', async () => {
    const seen: Note[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const q: string = `/api/v1/notes?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
      const page: Page = await json<Page>(await s.request(q, { token: mt }), 200)
      expect(page.notes.length).toBeLessThanOrEqual(4)
      seen.push(...page.notes)
      cursor = page.next_cursor
      pages++
    } while (cursor && pages < 10)
    expect(pages).toBe(3)
    expect(seen.map((n) => n.id).sort()).toEqual([...ids].sort())
    expect(new Set(seen.map((n) => n.id)).size).toBe(ids.length)
    for (let i = 1; i < seen.length; i++) {
      const a = seen[i - 1]!
      const b = seen[i]!
      expect(a.created_at > b.created_at || (a.created_at === b.created_at && a.id > b.id)).toBe(true)
    }
  })

  test('an exact last page has next_cursor null', async () => {
    const page = await json<Page>(await s.request(`/api/v1/notes?limit=${ids.length}`, { token: mt }), 200)
    expect(page.notes.length).toBe(ids.length)
    expect(page.next_cursor).toBeNull()
  })

  test('tag filter (also paginated)', async () => {
    const expected = ids.filter((_, i) => i % 3 === 0)
    const first = await json<Page>(await s.request('/api/v1/notes?tag=third&limit=2', { token: mt }), 200)
    expect(first.notes.every((n) => n.tags.includes('third'))).toBe(true)
    const rest = await json<Page>(await s.request(`/api/v1/notes?tag=third&limit=10&cursor=${first.next_cursor}`, { token: mt }), 200)
    expect([...first.notes, ...rest.notes].map((n) => n.id).sort()).toEqual(expected.sort())
    expect(rest.next_cursor).toBeNull()
    const none = await json<Page>(await s.request('/api/v1/notes?tag=nope', { token: mt }), 200)
    expect(none).toEqual({ notes: [], next_cursor: null })
  })

  test('a bad cursor is 400; a bad limit is 422', async () => {
    const garbage = ['zzz', Buffer.from('{"a":1}').toString('base64url'), Buffer.from('[1,2]').toString('base64url'), '!!!']
    for (const c of garbage) {
      const res = await s.request(`/api/v1/notes?cursor=${encodeURIComponent(c)}`, { token: mt })
      expect(res.status).toBe(400)
      expect(await res.json()).toEqual({ error: 'bad_request', message: 'invalid cursor' })
    }
    for (const l of ['0', '201', 'abc', '1.5']) {
      const res = await s.request(`/api/v1/notes?limit=${l}`, { token: mt })
      expect(res.status).toBe(422)
      const body = (await res.json()) as { error: string; message: string }
      expect(body.error).toBe('unprocessable_entity')
      expect(body.message).toContain('limit')
    }
  })
})
