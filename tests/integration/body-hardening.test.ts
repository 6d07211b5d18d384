/**
 * Hostile JSON bodies: deep nesting, huge values that fail validation, prototype-named keys and lone
 * surrogates are refused quickly with a precise 4xx on every JSON route, and the server keeps answering.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { MAX_JSON_DEPTH } from '../../src/http/body.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { within } from '../helpers/wait.ts'

interface ErrorBody {
  error: string
  message: string
  details?: { path: string; message: string }[]
}

let s: TestServer
let admin: string
let reader: string
let noteId: string
let webhookId: string

beforeAll(async () => {
  // 4 MiB bodies, so a huge-but-shallow value would cost the validator's error path long enough to measure.
  s = await startServer({ env: { MATRIC_MAX_BODY_BYTES: String(4 * 1024 * 1024), MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true' } })
  admin = await s.token()
  // a read-only, tag-restricted caller: the least privileged token that reaches a JSON route
  reader = await s.token({ scope: 'read', tags: ['t'] })
  const res = await s.request('/api/v1/notes', { token: admin, body: { content: 'a valid note', tags: ['t'] } })
  noteId = ((await res.json()) as { id: string }).id
  const wh = await s.request('/api/v1/webhooks', { token: admin, body: { url: 'http://127.0.0.1:9/hook', events: ['job'] } })
  webhookId = ((await wh.json()) as { id: string }).id
})
afterAll(() => s.stop())

const post = (method: string, path: string, body: string, token = admin) =>
  fetch(s.url + path, { method, body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } })

async function errorOf(res: Response): Promise<{ status: number } & ErrorBody> {
  const body = (await res.json()) as ErrorBody
  return { status: res.status, ...body }
}

const ROUTES = () =>
  [
    ['POST', '/api/v1/notes'],
    ['PATCH', `/api/v1/notes/${noteId}`],
    ['PUT', `/api/v1/notes/${noteId}/tags`],
    ['POST', '/api/v1/jobs'],
    ['POST', '/api/v1/events'],
    ['POST', '/api/v1/events/tokens'],
    ['POST', '/api/v1/webhooks'],
    ['PATCH', `/api/v1/webhooks/${webhookId}`],
  ] as const

const deepArrays = (n: number) => '{"ttl_s":' + '['.repeat(n) + ']'.repeat(n) + '}'
const deepObjects = (n: number) => '{"content":' + '{"a":'.repeat(n) + '1' + '}'.repeat(n) + '}'

describe('deeply nested JSON', () => {
  test('a 100,000-deep body from a read-only caller is a quick 400 naming the limit, and /health answers meanwhile', async () => {
    const deep = post('POST', '/api/v1/events/tokens', deepArrays(100_000), reader)
    const health = fetch(s.url + '/health')
    const [d, h] = await within(Promise.all([deep, health]), 'the deep body and /health', 5000)
    const e = await errorOf(d)
    expect(e.status).toBe(400)
    expect(e.error).toBe('bad_request')
    expect(e.message).toContain(`${MAX_JSON_DEPTH} levels`)
    expect(h.status).toBe(200)
  })

  test('deep objects and arrays are refused on every JSON route', async () => {
    for (const [method, path] of ROUTES()) {
      for (const body of [deepArrays(MAX_JSON_DEPTH + 10), deepObjects(60_000)]) {
        const e = await errorOf(await post(method, path, body))
        expect({ route: `${method} ${path}`, status: e.status, limit: e.message.includes(`${MAX_JSON_DEPTH} levels`) }).toEqual({
          route: `${method} ${path}`,
          status: 400,
          limit: true,
        })
      }
    }
  })

  test('nesting up to the limit is fine; brackets inside strings do not count', async () => {
    // MAX_JSON_DEPTH levels in all, the outer object included: an ordinary schema error, not the depth limit
    const atLimit = '{"content":' + '['.repeat(MAX_JSON_DEPTH - 1) + ']'.repeat(MAX_JSON_DEPTH - 1) + '}'
    const e = await errorOf(await post('POST', '/api/v1/notes', atLimit))
    expect(e.status).toBe(422)
    expect(e.message).toBe('invalid request body: /content Expected string')
    const res = await post('POST', '/api/v1/notes', JSON.stringify({ content: '[[[[{{{{'.repeat(20_000) + '"\\' }))
    expect(res.status).toBe(201)
  })

  test('an anonymous deep body is a 400 like any malformed body (nothing about the schema or auth leaks)', async () => {
    const res = await fetch(s.url + '/api/v1/notes', { method: 'POST', body: deepArrays(5000), headers: { 'content-type': 'application/json' } })
    expect(res.status).toBe(400)
  })

  test('a huge shallow value that fails validation is answered quickly with a bounded error', async () => {
    // within the depth limit but ~3.6 MB of array elements where an integer is expected
    const wide = '{"ttl_s":' + '['.repeat(60) + '0,'.repeat(1_800_000) + '0' + ']'.repeat(60) + '}'
    await post('POST', '/api/v1/events/tokens', '{"ttl_s":"x"}', reader) // warm the route
    const res = await post('POST', '/api/v1/events/tokens', wide, reader)
    const text = await res.text()
    expect(res.status).toBe(422)
    expect(JSON.parse(text).message).toBe('invalid request body: /ttl_s Expected integer')
    // The validator's own error path serialises the whole value (seconds for this body); ours stops at 10 issues
    // and never echoes the value, so the answer is small whatever the body.
    expect(text.length).toBeLessThan(4096)
    expect((JSON.parse(text).details as unknown[]).length).toBeLessThanOrEqual(10)
  })

  test('a huge unknown property name is not echoed back whole', async () => {
    const name = 'k'.repeat(500_000)
    const res = await post('POST', '/api/v1/notes', `{"content":"x","${name}":1}`)
    const text = await res.text()
    expect(res.status).toBe(422)
    expect(text.length).toBeLessThan(4096)
    expect(JSON.parse(text).message).toContain('is not a known property')
  })
})

describe('prototype-named keys (__proto__, constructor, prototype)', () => {
  test('are refused with 422 on every JSON route, at any depth', async () => {
    for (const [method, path] of ROUTES()) {
      for (const body of ['{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"payload":{"type":"QueueStatus","__proto__":{}}}']) {
        const e = await errorOf(await post(method, path, body))
        expect({ route: `${method} ${path}`, body, status: e.status, reserved: /reserved property name/.test(e.message) }).toEqual({
          route: `${method} ${path}`,
          body,
          status: 422,
          reserved: true,
        })
      }
    }
  })

  test('the path of the offending key is named', async () => {
    const e = await errorOf(await post('POST', '/api/v1/notes', '{"content":"x","tags":["a"],"__proto__":{"admin":true}}'))
    expect(e.message).toBe('invalid request body: /__proto__ is a reserved property name')
  })

  test('an anonymous caller still gets 401 first', async () => {
    const res = await fetch(s.url + '/api/v1/notes', { method: 'POST', body: '{"__proto__":{}}', headers: { 'content-type': 'application/json' } })
    expect(res.status).toBe(401)
  })
})

describe('lone UTF-16 surrogates', () => {
  test.each([
    ['content', '{"content":"before \\ud800 after"}'],
    ['title', '{"content":"x","title":"\\udfff"}'],
    ['a tag', '{"content":"x","tags":["ok","\\ud83d"]}'],
    ['a key', '{"content":"x","\\ud800":1}'],
  ])('in %s: 422 naming the problem, nothing stored', async (_what, body) => {
    const before = ((await (await s.request('/api/v1/notes?limit=200', { token: admin })).json()) as { notes: unknown[] }).notes.length
    const e = await errorOf(await post('POST', '/api/v1/notes', body))
    expect(e.status).toBe(422)
    expect(e.message).toContain('lone UTF-16 surrogate')
    const after = ((await (await s.request('/api/v1/notes?limit=200', { token: admin })).json()) as { notes: unknown[] }).notes.length
    expect(after).toBe(before)
  })

  test('also on PATCH and PUT tags', async () => {
    expect((await post('PATCH', `/api/v1/notes/${noteId}`, '{"title":"\\ud800"}')).status).toBe(422)
    expect((await post('PUT', `/api/v1/notes/${noteId}/tags`, '{"tags":["\\udc00"]}')).status).toBe(422)
  })

  test('a proper surrogate pair (an emoji) is stored exactly', async () => {
    const res = await post('POST', '/api/v1/notes', '{"content":"rocket \\ud83d\\ude80 and 🚀","title":"\\ud83d\\ude80"}')
    expect(res.status).toBe(201)
    const note = (await res.json()) as { content: string; title: string }
    expect(note.content).toBe('rocket 🚀 and 🚀')
    expect(note.title).toBe('🚀')
  })
})
