import { describe, expect, test } from 'bun:test'
import { createLogger, redact } from '../../src/telemetry/log.ts'

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz'

describe('redact', () => {
  test.each<[string, unknown, unknown]>([
    ['plain values pass', { a: 1, b: 'text', c: null, d: true }, { a: 1, b: 'text', c: null, d: true }],
    ['a JWT inside a string', `Bearer ${JWT} rest`, 'Bearer [redacted-jwt] rest'],
    ['two JWTs', `${JWT} and ${JWT}`, '[redacted-jwt] and [redacted-jwt]'],
    ['token key', { token: 'abc' }, { token: '[redacted]' }],
    ['secret key', { secret: 'abc', webhook_secret: 'x' }, { secret: '[redacted]', webhook_secret: '[redacted]' }],
    ['authorization header', { headers: { Authorization: 'Basic x', accept: '*/*' } }, { headers: { Authorization: '[redacted]', accept: '*/*' } }],
    ['password', { password: 'hunter2' }, { password: '[redacted]' }],
    ['api key spellings', { api_key: 1, apiKey: 2, 'api-key': 3, APIKEY: 4 }, { api_key: '[redacted]', apiKey: '[redacted]', 'api-key': '[redacted]', APIKEY: '[redacted]' }],
    ['cookie', { cookie: 'matric_token=x' }, { cookie: '[redacted]' }],
    ['signature', { 'x-matric-signature': 'sha256=ab' }, { 'x-matric-signature': '[redacted]' }],
    ['secret key holding an object', { secret: { nested: 1 } }, { secret: '[redacted]' }],
    ['deep', { a: { b: { c: { token: 't', d: JWT } } } }, { a: { b: { c: { token: '[redacted]', d: '[redacted-jwt]' } } } }],
    ['arrays', [JWT, { token: 'x' }, 3], ['[redacted-jwt]', { token: '[redacted]' }, 3]],
    ['errors', new Error(`bad ${JWT}`), { name: 'Error', message: 'bad [redacted-jwt]' }],
    ['not a JWT', 'eyJ short.x.y', 'eyJ short.x.y'],
    // the auth *mode* is logged under its own name; a field named `auth` (credentials) stays hidden
    ['auth_mode is not a credential', { auth_mode: 'off', auth: 'Basic dXNlcjpwYXNz', authToken: 'x' }, { auth_mode: 'off', auth: '[redacted]', authToken: '[redacted]' }],
  ])('%s', (_name, input, expected) => {
    expect(redact(input)).toEqual(expected)
  })

  test('cyclic or very deep values do not recurse forever', () => {
    const a: Record<string, unknown> = { name: 'a' }
    a.self = a
    expect(() => JSON.stringify(redact(a))).not.toThrow()
  })
})

describe('createLogger', () => {
  test('JSON lines at or above the level, redacted', () => {
    const lines: string[] = []
    const log = createLogger('info', (l) => lines.push(l))
    log.debug('hidden')
    log.info('hello', { token: 'abc', n: 1 })
    log.error(`failed with ${JWT}`)
    expect(lines.length).toBe(2)
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(first).toMatchObject({ level: 'info', msg: 'hello', token: '[redacted]', n: 1 })
    expect(typeof first!.time).toBe('string')
    expect(second).toMatchObject({ level: 'error', msg: 'failed with [redacted-jwt]' })
    expect(log.enabled('debug')).toBe(false)
    expect(log.enabled('warn')).toBe(true)
  })
})
