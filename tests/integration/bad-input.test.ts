/** Every bad input gets a precise 4xx in the one JSON error shape, and the server keeps serving. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'

interface ErrorBody {
  error: string
  message: string
  details?: { path: string; message: string }[]
}

const LIMIT = 2048

let s: TestServer
let tok: string
let noteId: string

beforeAll(async () => {
  s = await startServer({ env: { MATRIC_MAX_BODY_BYTES: String(LIMIT) } })
  tok = await s.token()
  const res = await s.request('/api/v1/notes', { token: tok, body: { content: 'a valid note' } })
  noteId = ((await res.json()) as { id: string }).id
})
afterAll(() => s.stop())

async function expectError(res: Response, status: number, code: string, messageIncludes?: string): Promise<ErrorBody> {
  const text = await res.text()
  expect(res.headers.get('content-type') ?? '').toContain('application/json')
  const body = JSON.parse(text) as ErrorBody
  expect({ status: res.status, error: body.error }).toEqual({ status, error: code })
  expect(typeof body.message).toBe('string')
  if (messageIncludes) expect(body.message).toContain(messageIncludes)
  return body
}

const raw = (method: string, path: string, body: string | Uint8Array | null, headers: Record<string, string> = {}) =>
  fetch(s.url + path, { method, body, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json', ...headers } })

describe('malformed bodies (400)', () => {
  test('malformed JSON on every JSON route', async () => {
    for (const [method, path] of [
      ['POST', '/api/v1/notes'],
      ['PATCH', `/api/v1/notes/${noteId}`],
      ['PUT', `/api/v1/notes/${noteId}/tags`],
      ['POST', '/api/v1/jobs'],
    ] as const) {
      await expectError(await raw(method, path, '{"content": "unterminated'), 400, 'bad_request', 'expected valid JSON')
    }
  })

  test('an empty body', async () => {
    await expectError(await raw('POST', '/api/v1/notes', null), 400, 'bad_request', 'request body is required')
  })

  test('a body that is not UTF-8', async () => {
    await expectError(await raw('POST', '/api/v1/notes', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 400, 'bad_request', 'UTF-8')
  })
})

describe('schema violations (422 with details)', () => {
  test('wrong types', async () => {
    const body = await expectError(await s.request('/api/v1/notes', { token: tok, body: { content: 42, tags: 'work' } }), 422, 'unprocessable_entity', '/content')
    expect(body.details?.map((d) => d.path)).toEqual(expect.arrayContaining(['/content']))
    expect(body.details!.every((d) => typeof d.message === 'string')).toBe(true)
    await expectError(await s.request('/api/v1/notes', { token: tok, body: ['content'] }), 422, 'unprocessable_entity')
    await expectError(await s.request('/api/v1/notes', { token: tok, body: 'null' }), 422, 'unprocessable_entity')
  })

  test('unknown properties, empty content, empty PATCH', async () => {
    await expectError(await s.request('/api/v1/notes', { token: tok, body: { content: 'x', colour: 'red' } }), 422, 'unprocessable_entity')
    await expectError(await s.request('/api/v1/notes', { token: tok, body: { content: '' } }), 422, 'unprocessable_entity', '/content')
    await expectError(await s.request('/api/v1/notes', { token: tok, body: { content: 'x', title: 'x'.repeat(501) } }), 422, 'unprocessable_entity', '/title')
    await expectError(await s.request(`/api/v1/notes/${noteId}`, { token: tok, method: 'PATCH', body: {} }), 422, 'unprocessable_entity')
  })

  test('a huge tag list or a huge tag', async () => {
    const many = Array.from({ length: 101 }, (_, i) => `t${i}`)
    await expectError(await s.request('/api/v1/notes', { token: tok, body: { content: 'x', tags: many } }), 422, 'unprocessable_entity', '/tags')
    await expectError(await s.request(`/api/v1/notes/${noteId}/tags`, { token: tok, method: 'PUT', body: { tags: many } }), 422, 'unprocessable_entity', '/tags')
    // 10k characters do not fit in the small body limit of this server: a 200-character tag is over the 128 limit too.
    await expectError(await s.request('/api/v1/notes', { token: tok, body: { content: 'x', tags: ['x'.repeat(200)] } }), 422, 'unprocessable_entity', '/tags/0')
    await expectError(await s.request('/api/v1/notes', { token: tok, body: { content: 'x', tags: ['   '] } }), 422, 'unprocessable_entity', '/tags/0')
    await expectError(await s.request('/api/v1/notes', { token: tok, body: { content: 'x', tags: [''] } }), 422, 'unprocessable_entity', '/tags/0')
  })

  test('jobs: unknown type, missing note, bad priority', async () => {
    const unknown = await expectError(await s.request('/api/v1/jobs', { token: tok, body: { job_type: 'mining', note_id: noteId } }), 422, 'unprocessable_entity', '/job_type')
    expect(unknown.message).toContain("'ai_revision'")
    await expectError(await s.request('/api/v1/jobs', { token: tok, body: { job_type: 'embedding' } }), 422, 'unprocessable_entity', 'note_id')
    await expectError(await s.request('/api/v1/jobs', { token: tok, body: { job_type: 'embedding', note_id: noteId, priority: 101 } }), 422, 'unprocessable_entity', '/priority')
    await expectError(await s.request('/api/v1/jobs', { token: tok, body: { job_type: 'embedding', note_id: noteId, priority: 1.5 } }), 422, 'unprocessable_entity', '/priority')
    await expectError(await s.request('/api/v1/jobs', { token: tok, body: { job_type: 'embedding', note_id: 'not-a-uuid' } }), 422, 'unprocessable_entity', '/note_id')
  })

  test('non-uuid ids in the path are 422', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/notes/123'],
      ['PATCH', '/api/v1/notes/123'],
      ['DELETE', '/api/v1/notes/123'],
      ['PUT', '/api/v1/notes/123/tags'],
      ['GET', '/api/v1/jobs/123'],
    ] as const) {
      const body = method === 'PATCH' ? { title: 'x' } : method === 'PUT' ? { tags: [] } : undefined
      await expectError(await s.request(path, { token: tok, method, body }), 422, 'unprocessable_entity', '/id')
    }
  })

  test('bad query values', async () => {
    await expectError(await s.request('/api/v1/jobs?status=done', { token: tok }), 422, 'unprocessable_entity', "one of 'pending'")
    await expectError(await s.request('/api/v1/jobs?limit=501', { token: tok }), 422, 'unprocessable_entity', '/limit')
    await expectError(await s.request('/api/v1/jobs?note_id=x', { token: tok }), 422, 'unprocessable_entity', '/note_id')
  })
})

describe('not found (404)', () => {
  test('unknown note and job ids', async () => {
    const id = Bun.randomUUIDv7()
    await expectError(await s.request(`/api/v1/notes/${id}`, { token: tok }), 404, 'not_found', id)
    await expectError(await s.request(`/api/v1/jobs/${id}`, { token: tok }), 404, 'not_found', id)
    await expectError(await s.request('/api/v1/jobs', { token: tok, body: { job_type: 'embedding', note_id: id } }), 404, 'not_found', id)
  })

  test('unknown routes answer JSON', async () => {
    await expectError(await s.request('/api/v1/nothing', { token: tok }), 404, 'not_found', 'GET /api/v1/nothing')
    await expectError(await s.request('/', {}), 404, 'not_found')
    await expectError(await s.request('/api/v1/notes', { token: tok, method: 'PUT', body: {} }), 404, 'not_found')
  })
})

describe('oversized bodies (413)', () => {
  test('over MATRIC_MAX_BODY_BYTES with a Content-Length', async () => {
    const res = await s.request('/api/v1/notes', { token: tok, body: { content: 'x'.repeat(LIMIT + 500) } })
    await expectError(res, 413, 'payload_too_large', `limit of ${LIMIT} bytes`)
  })

  test('over the limit without a Content-Length (chunked)', async () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ content: 'y'.repeat(LIMIT + 500) }))
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        // Two chunks: the limit is crossed mid-stream.
        c.enqueue(bytes.slice(0, 1000))
        c.enqueue(bytes.slice(1000))
        c.close()
      },
    })
    const res = await fetch(s.url + '/api/v1/notes', {
      method: 'POST',
      headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit)
    expect(res.headers.get('content-length')).not.toBeNull()
    await expectError(res, 413, 'payload_too_large', `limit of ${LIMIT} bytes`)
  })

  test('a body just under the limit is accepted', async () => {
    const res = await s.request('/api/v1/notes', { token: tok, body: { content: 'z'.repeat(LIMIT - 100) } })
    expect(res.status).toBe(201)
  })
})

describe('after all of it', () => {
  test('the server is healthy and still serves', async () => {
    const health = await s.request('/health')
    expect(health.status).toBe(200)
    expect(((await health.json()) as { status: string }).status).toBe('ok')
    const res = await s.request('/api/v1/notes', { token: tok, body: { content: 'still here', tags: ['ok'] } })
    expect(res.status).toBe(201)
    expect((await s.request(`/api/v1/notes/${noteId}`, { token: tok })).status).toBe(200)
  })
})
