import { describe, expect, test } from 'bun:test'
import { t } from 'elysia'
import { parseJsonBody, readLimited, unknownProperties } from '../../src/http/body.ts'
import { describeIssue, describeSchema, guessQueryParam } from '../../src/http/error-handler.ts'
import { ApiError, errorResponse, forbidden, unauthorized } from '../../src/http/errors.ts'
import { CreateNote, PatchNote } from '../../src/modules/notes/model.ts'

const status = (fn: () => unknown): number | undefined => {
  try {
    fn()
  } catch (e) {
    return e instanceof ApiError ? e.status : -1
  }
  return undefined
}

describe('describeSchema / describeIssue', () => {
  test.each<[unknown, string]>([
    [t.Union([t.Literal('a'), t.Literal('b')]), "one of 'a', 'b'"],
    [t.Literal(3), '3'],
    [t.Integer({ minimum: 1, maximum: 200 }), 'an integer between 1 and 200'],
    [t.Integer({ minimum: 0 }), 'an integer ≥ 0'],
    [t.Number({ maximum: 1 }), 'a number ≤ 1'],
    [t.String({ format: 'uuid' }), 'a uuid string'],
    [t.Union([t.String(), t.Null()]), 'a string or null'],
    [t.Boolean(), 'a boolean'],
    [t.Array(t.String()), 'an array'],
    [t.Object({}), 'an object'],
    // how Elysia coerces a numeric query value
    [{ minimum: 1, maximum: 200, anyOf: [{ type: 'string', format: 'integer' }, { type: 'integer', minimum: 1, maximum: 200 }] }, 'an integer between 1 and 200'],
  ])('%j → %s', (schema, expected) => {
    expect(describeSchema(schema as Record<string, unknown>)).toBe(expected)
  })

  test.each<[Record<string, unknown>, { path: string; message: string }]>([
    [{ path: '/status', message: 'Expected union value', schema: t.Union([t.Literal('x'), t.Literal('y')]) }, { path: '/status', message: "Expected one of 'x', 'y'" }],
    [{ path: '/content', message: 'Expected string' }, { path: '/content', message: 'Expected string' }],
    [{ path: '', message: 'Expected object' }, { path: '/', message: 'Expected object' }],
    [{}, { path: '/', message: 'invalid value' }],
  ])('describeIssue(%j)', (issue, expected) => {
    expect(describeIssue(issue)).toEqual(expected)
  })

  test.each<[string, unknown, string | undefined]>([
    ['/x?limit=0', 0, 'limit'],
    ['/x?tag=a&limit=500', 500, 'limit'],
    ['/x?limit=5', 0, undefined],
    ['/x', 1, undefined],
  ])('guessQueryParam(%s, %j) → %j', (url, value, expected) => {
    expect(guessQueryParam(new URL(url, 'http://localhost'), value)).toBe(expected)
  })
})

describe('unknownProperties', () => {
  test.each<[unknown, unknown, string[]]>([
    [CreateNote, { content: 'x' }, []],
    [CreateNote, { content: 'x', tags: ['a'], title: 't' }, []],
    [CreateNote, { content: 'x', tag: ['a'] }, ['/tag']],
    [CreateNote, { content: 'x', a: 1, b: 2 }, ['/a', '/b']],
    [PatchNote, { title: null }, []],
    [CreateNote, 'not an object', []],
    [CreateNote, null, []],
    [t.Object({ inner: t.Object({ a: t.Number() }, { additionalProperties: false }) }), { inner: { a: 1, z: 2 } }, ['/inner/z']],
    [t.Object({ list: t.Array(t.Object({ a: t.Number() }, { additionalProperties: false })) }), { list: [{ a: 1 }, { b: 1 }] }, ['/list/1/b']],
    // schemas that allow extra properties keep allowing them
    [t.Object({ a: t.Number() }), { a: 1, z: 2 }, []],
  ])('%#', (schema, value, expected) => {
    expect(unknownProperties(schema, value).map((u) => u.path)).toEqual(expected)
  })
})

describe('parseJsonBody', () => {
  const enc = (s: string) => new TextEncoder().encode(s)
  test.each<[Uint8Array, unknown]>([
    [enc('{"a":1}'), { a: 1 }],
    [enc(' [1, 2] '), [1, 2]],
    [enc('"str"'), 'str'],
    [enc('null'), null],
  ])('%#: valid JSON', (bytes, expected) => {
    expect(parseJsonBody(bytes)).toEqual(expected)
  })

  test.each<[string, Uint8Array]>([
    ['empty', new Uint8Array(0)],
    ['malformed', enc('{"a":')],
    ['trailing garbage', enc('{} x')],
    ['not UTF-8', new Uint8Array([0x7b, 0xc3, 0x28, 0x7d])],
  ])('%s → 400', (_name, bytes) => {
    expect(status(() => parseJsonBody(bytes))).toBe(400)
  })
})

describe('readLimited', () => {
  const streamOf = (...chunks: string[]) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const x of chunks) c.enqueue(new TextEncoder().encode(x))
        c.close()
      },
    })
  const req = (body: ReadableStream<Uint8Array> | string | null, headers: Record<string, string> = {}) =>
    new Request('http://localhost/', { method: 'POST', body, headers, duplex: 'half' } as RequestInit)

  test('reads a body within the limit, across chunks', async () => {
    const bytes = await readLimited(req(streamOf('{"a":', '1}')), 100)
    expect(new TextDecoder().decode(bytes)).toBe('{"a":1}')
  })

  test('an empty body is zero bytes', async () => {
    expect((await readLimited(req(null), 10)).byteLength).toBe(0)
  })

  test.each<[string, () => Request]>([
    ['declared too large', () => req('x'.repeat(20), { 'content-length': '20' })],
    ['streamed too large', () => req(streamOf('x'.repeat(8), 'x'.repeat(8)))],
  ])('%s → 413', async (_name, make) => {
    let err: unknown
    try {
      await readLimited(make(), 10)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).status).toBe(413)
    expect((err as ApiError).message).toContain('limit of 10 bytes')
  })
})

describe('error responses', () => {
  test.each<[ApiError, number, Record<string, unknown>, string | null]>([
    [unauthorized('missing bearer token'), 401, { error: 'unauthorized', message: 'missing bearer token' }, 'Bearer'],
    [forbidden('no'), 403, { error: 'forbidden', message: 'no' }, null],
    [new ApiError(422, 'bad', [{ path: '/a', message: 'x' }]), 422, { error: 'unprocessable_entity', message: 'bad', details: [{ path: '/a', message: 'x' }] }, null],
    [new ApiError(413, 'big'), 413, { error: 'payload_too_large', message: 'big' }, null],
    [new ApiError(503, 'later', undefined, { 'retry-after': '5' }), 503, { error: 'service_unavailable', message: 'later' }, null],
  ])('%#', async (err, code, body, challenge) => {
    const res = errorResponse(err)
    expect(res.status).toBe(code)
    expect(await res.json()).toEqual(body)
    expect(res.headers.get('content-type')).toContain('application/json')
    expect(res.headers.get('www-authenticate')).toBe(challenge)
  })
})
