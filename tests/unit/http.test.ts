import { describe, expect, test } from 'bun:test'
import { t } from 'elysia'
import { bodyProblem, exceedsJsonDepth, MAX_JSON_DEPTH, parseJsonBody, readLimited, unknownProperties, withoutUnknown } from '../../src/http/body.ts'
import { describeIssue, describeSchema, guessQueryParam } from '../../src/http/error-handler.ts'
import { ApiError, clip, errorResponse, forbidden, unauthorized } from '../../src/http/errors.ts'
import { ambientCredentialAllowed } from '../../src/http/origin.ts'
import { CreateNote, PatchNote } from '../../src/modules/notes/model.ts'
import { isStoreUnavailable } from '../../src/store/unavailable.ts'

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

describe('withoutUnknown (what Elysia validates once it has stripped undeclared properties)', () => {
  const Payload = t.Union([
    t.Object({ type: t.Literal('A'), a: t.Number() }, { additionalProperties: false }),
    t.Object({ type: t.Literal('B'), b: t.String() }, { additionalProperties: false }),
  ])
  test.each<[unknown, unknown, unknown]>([
    [CreateNote, { content: 'x', tag: ['a'] }, { content: 'x' }],
    [CreateNote, { content: 5, zz: 1 }, { content: 5 }],
    [t.Object({ list: t.Array(t.Object({ a: t.Number() }, { additionalProperties: false })) }), { list: [{ a: 1, b: 2 }] }, { list: [{ a: 1 }] }],
    [t.Object({ a: t.Number() }), { a: 1, z: 2 }, { a: 1, z: 2 }], // extras allowed stay
    [t.Object({ p: Payload }, { additionalProperties: false }), { p: { type: 'B', b: 's', colour: 'red' } }, { p: { type: 'B', b: 's' } }],
    [t.Object({ p: Payload }, { additionalProperties: false }), { p: { type: 'A', a: 1 } }, { p: { type: 'A', a: 1 } }],
    [CreateNote, 'not an object', 'not an object'],
  ])('%#', (schema, value, expected) => {
    expect(withoutUnknown(schema, value)).toEqual(expected)
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

describe('exceedsJsonDepth (raw-text bracket scan)', () => {
  const nest = (n: number, open = '[', close = ']') => open.repeat(n) + close.repeat(n)
  test.each<[string, string, number, boolean]>([
    ['flat', '{"a":1,"b":[1,2]}', 2, false],
    ['exactly the limit', nest(3), 3, false],
    ['one past the limit', nest(4), 3, true],
    ['objects count too', '{"a":{"b":{"c":{}}}}', 3, true],
    ['siblings do not add up', '[[],[],[],[]]', 2, false],
    ['brackets inside strings are text', '["[[[[[[", "{{{{{{"]', 2, false],
    ['an escaped quote does not end the string', '["\\"[[[[[["]', 1, false],
    ['an escaped backslash before the closing quote', '["\\\\", [[1]]]', 2, true],
    ['a string never closed hides the rest', '["[[[[', 1, false],
    ['stray closers do not hide later depth', ']]]]' + nest(3), 2, true],
    ['empty', '', 1, false],
  ])('%s', (_name, text, max, expected) => {
    expect(exceedsJsonDepth(text, max)).toBe(expected)
  })

  test('a million brackets is refused without recursion (a recursive scan would overflow the stack)', () => {
    expect(exceedsJsonDepth('['.repeat(1_000_000), MAX_JSON_DEPTH)).toBe(true)
    expect(exceedsJsonDepth(JSON.stringify({ s: 'x'.repeat(4_000_000) }), MAX_JSON_DEPTH)).toBe(false)
  })

  test('parseJsonBody refuses a body past MAX_JSON_DEPTH with a 400 naming the limit', () => {
    const bytes = new TextEncoder().encode(nest(MAX_JSON_DEPTH + 1))
    expect(() => parseJsonBody(bytes)).toThrow(`nested deeper than ${MAX_JSON_DEPTH} levels`)
    expect(status(() => parseJsonBody(bytes))).toBe(400)
    expect(parseJsonBody(new TextEncoder().encode(nest(MAX_JSON_DEPTH)))).toBeArray()
  })
})

describe('bodyProblem', () => {
  test.each<[string, string, { path: string; message: string } | undefined]>([
    ['plain', '{"a":"b","c":[1,{"d":null}]}', undefined],
    ['a surrogate pair', '{"a":"\\ud83d\\ude80"}', undefined],
    ['__proto__', '{"a":1,"__proto__":{"x":1}}', { path: '/__proto__', message: 'is a reserved property name' }],
    ['constructor, nested', '{"a":[{"constructor":1}]}', { path: '/a/0/constructor', message: 'is a reserved property name' }],
    ['prototype', '{"prototype":1}', { path: '/prototype', message: 'is a reserved property name' }],
    ['a lone high surrogate', '{"a":["ok","x\\ud800"]}', { path: '/a/1', message: 'contains a lone UTF-16 surrogate (not valid Unicode text)' }],
    ['a lone low surrogate', '"\\udc00"', { path: '/', message: 'contains a lone UTF-16 surrogate (not valid Unicode text)' }],
    ['reversed pair', '{"t":"\\ude80\\ud83d"}', { path: '/t', message: 'contains a lone UTF-16 surrogate (not valid Unicode text)' }],
    ['in a key', '{"\\ud800":1}', { path: '/\ud800', message: 'is a property name with a lone UTF-16 surrogate (not valid Unicode text)' }],
    ['keys like __proto__ are fine', '{"__proto":1,"proto__":2,"Constructor":3}', undefined],
  ])('%s', (_name, json, expected) => {
    expect(bodyProblem(JSON.parse(json))).toEqual(expected)
  })

  test('a long key is cut in the path', () => {
    const p = bodyProblem(JSON.parse(`{"${'k'.repeat(10_000)}":{"__proto__":1}}`))
    expect(p!.path.length).toBeLessThan(100)
    expect(p!.path.endsWith('/__proto__')).toBe(true)
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

  test('messages and details are bounded whatever went in', async () => {
    const huge = 'x'.repeat(100_000)
    const details = Array.from({ length: 50 }, () => ({ path: `/${huge}`, message: huge }))
    const text = await errorResponse(new ApiError(422, `invalid ${huge}`, details)).text()
    expect(text.length).toBeLessThan(8 * 1024)
    const body = JSON.parse(text) as { message: string; details: { path: string }[] }
    expect(body.message.length).toBe(1024)
    expect(body.message.endsWith('\u2026')).toBe(true)
    expect(body.details).toHaveLength(10)
  })

  test.each<[string, number, string]>([
    ['short', 10, 'short'],
    ['abcdef', 4, 'abc\u2026'],
    ['ab\ud83d\ude80cd', 4, 'ab\u2026'], // never half a surrogate pair
  ])('clip(%j, %d)', (s, max, expected) => {
    expect(clip(s, max)).toBe(expected)
  })
})

describe('ambientCredentialAllowed (the matric_token cookie)', () => {
  test.each<[string, string[] | undefined, string | null, string | null, boolean]>([
    ['no Origin: not a browser', undefined, null, 'api.example', true],
    ['same origin', undefined, 'https://api.example', 'api.example', true],
    ['same origin with a port', undefined, 'http://127.0.0.1:3000', '127.0.0.1:3000', true],
    ['same host, other port', undefined, 'http://127.0.0.1:5173', '127.0.0.1:3000', false],
    ['case and default port', undefined, 'HTTP://API.Example:80', 'api.example', true],
    ['scheme is not compared (TLS proxy in front)', undefined, 'https://api.example', 'api.example', true],
    ['cross-site', undefined, 'https://evil.example', 'api.example', false],
    ['a look-alike suffix', undefined, 'https://api.example.evil.test', 'api.example', false],
    ['Origin: null (sandboxed frame, file://)', undefined, 'null', 'api.example', false],
    ['not http(s)', undefined, 'chrome-extension://abc', 'abc', false],
    ['no Host header', undefined, 'https://api.example', null, false],
    ['listed', ['https://app.example'], 'https://app.example', 'api.example', true],
    ['not listed', ['https://app.example'], 'https://evil.example', 'api.example', false],
  ])('%s', (_name, allowed, origin, host, expected) => {
    expect(ambientCredentialAllowed(allowed, origin, host)).toBe(expected)
  })
})

describe('isStoreUnavailable (503 with Retry-After instead of 500)', () => {
  test.each<[unknown, boolean]>([
    [Object.assign(new Error('Failed to connect'), { code: 'ERR_POSTGRES_CONNECTION_REFUSED' }), true],
    [Object.assign(new Error('closed'), { code: 'ERR_POSTGRES_CONNECTION_CLOSED' }), true],
    [Object.assign(new Error('timeout'), { code: 'ERR_POSTGRES_CONNECTION_TIMEOUT' }), true],
    [Object.assign(new Error('idle'), { code: 'ERR_POSTGRES_IDLE_TIMEOUT' }), true],
    [Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }), true],
    [Object.assign(new Error('locked'), { code: 'SQLITE_LOCKED_SHAREDCACHE' }), true],
    [Object.assign(new Error('syntax'), { code: 'ERR_POSTGRES_SYNTAX_ERROR' }), false],
    [Object.assign(new Error('unique'), { code: 'SQLITE_CONSTRAINT_UNIQUE' }), false],
    [Object.assign(new Error('disk full'), { code: 'SQLITE_FULL' }), false],
    [new Error('no code'), false],
    [null, false],
    ['a string', false],
  ])('%p → %p', (err, expected) => {
    expect(isStoreUnavailable(err)).toBe(expected)
  })
})
