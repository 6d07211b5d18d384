import { describe, expect, test } from 'bun:test'
import { createLogger, redact } from '../../src/telemetry/log.ts'

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQ'
const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4Ql3WAHb0kE='
const OPENAI = 'sk-proj-AbCdEf0123456789XyZ'

describe('redact: string values', () => {
  const cases: [string, string, string][] = [
    ['a JWT anywhere', `token was ${JWT} here`, 'token was [redacted-jwt] here'],
    ['a truncated JWT (header and part of the claims)', `title ${JWT.slice(0, 30)}…`, 'title [redacted-jwt]…'],
    ['a JWT header alone is not a credential', 'eyJhbGciOiJIUzI1NiJ9 is the header', 'eyJhbGciOiJIUzI1NiJ9 is the header'],
    ['a webhook secret', `secret ${WHSEC} rotated`, 'secret whsec_[redacted] rotated'],
    ['a long Bearer credential', 'Authorization: Bearer abcdefghijklmnop0123', 'Authorization: Bearer [redacted]'],
    ['Bearer + JWT (JWT rule first)', `Bearer ${JWT}`, 'Bearer [redacted-jwt]'],
    ['Basic credentials', 'Basic dXNlcm5hbWU6cGFzc3dvcmQ=', 'Basic [redacted]'],
    ['short words after bearer stay', 'missing bearer token', 'missing bearer token'],
    ['?token= in a URL', 'GET /api/v1/ws?token=abc.def&memory=x', 'GET /api/v1/ws?token=[redacted]&memory=x'],
    ['&api_key= in a URL', 'https://x.test/v1?model=m&api_key=k123#frag', 'https://x.test/v1?model=m&api_key=[redacted]#frag'],
    ['?sig= and &password=', '/a?sig=zz&password=p w', '/a?sig=[redacted]&password=[redacted] w'],
    ['OpenAI-style key', `upstream said: invalid key ${OPENAI}`, 'upstream said: invalid key sk-[redacted]'],
    ['plain text untouched', 'note 42 created with 3 tags', 'note 42 created with 3 tags'],
    ['a memory named token-ish is not a query param', 'memory tokens-2024', 'memory tokens-2024'],
  ]
  for (const [name, input, want] of cases) test(name, () => expect(redact(input)).toBe(want))
})

describe('redact: keys, structure, exact secrets', () => {
  const cases: [string, unknown, unknown, string[]?][] = [
    ['secret-named keys at any depth', { a: { authorization: 'x', Cookie: 'c', nested: [{ api_key: 'k' }] } }, { a: { authorization: '[redacted]', Cookie: '[redacted]', nested: [{ api_key: '[redacted]' }] } }],
    [
      'token, secret, password, signature, credential, private key, jwt, auth',
      { token: 1, client_secret: 2, password: 3, passwd: 4, 'x-matric-signature': 5, credentials: 6, private_key: 7, jwt: 8, auth: 9, author: 'ann' },
      { token: '[redacted]', client_secret: '[redacted]', password: '[redacted]', passwd: '[redacted]', 'x-matric-signature': '[redacted]', credentials: '[redacted]', private_key: '[redacted]', jwt: '[redacted]', auth: '[redacted]', author: 'ann' },
    ],
    ['errors become name + redacted message', new TypeError(`bad ${JWT}`), { name: 'TypeError', message: 'bad [redacted-jwt]' }],
    ['bigint becomes a string', { n: 10n }, { n: '10' }],
    ['numbers, booleans, null pass through', { a: 1, b: true, c: null }, { a: 1, b: true, c: null }],
    ['exact secrets are replaced inside any string', { msg: 'key=SuperSecretValue42!' }, { msg: 'key=[redacted]' }, ['SuperSecretValue42!']],
  ]
  for (const [name, input, want, secrets] of cases) test(name, () => expect(redact(input, secrets)).toEqual(want))

  test('deep and circular structures are cut, never thrown on', () => {
    const a: Record<string, unknown> = { name: 'a' }
    a.self = a
    const out = JSON.stringify(redact(a))
    expect(out).toContain('[truncated]')
  })
})

describe('createLogger', () => {
  const capture = (level: 'debug' | 'info' | 'warn' | 'error' = 'debug') => {
    const lines: string[] = []
    const logger = createLogger(level, (l) => lines.push(l))
    return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) }
  }

  test('one JSON object per line with time, level and msg first', () => {
    const { logger, lines, records } = capture()
    logger.info('hello', { event_id: 'e1', job_id: 'j1' })
    expect(lines).toHaveLength(1)
    const [rec] = records()
    expect(Object.keys(rec!).slice(0, 3)).toEqual(['time', 'level', 'msg'])
    expect(rec).toMatchObject({ level: 'info', msg: 'hello', event_id: 'e1', job_id: 'j1' })
    expect(new Date(rec!.time as string).toISOString()).toBe(rec!.time as string)
  })

  test('fields cannot overwrite time, level or msg', () => {
    const { logger, records } = capture()
    logger.warn('real', { level: 'debug', msg: 'fake', time: 'never' })
    expect(records()[0]).toMatchObject({ level: 'warn', msg: 'real' })
    expect(records()[0]!.time).not.toBe('never')
  })

  test('levels below the threshold are dropped; enabled() agrees', () => {
    const { logger, records } = capture('warn')
    logger.debug('d')
    logger.info('i')
    logger.warn('w')
    logger.error('e')
    expect(records().map((r) => r.level)).toEqual(['warn', 'error'])
    expect([logger.enabled('debug'), logger.enabled('info'), logger.enabled('warn'), logger.enabled('error')]).toEqual([false, false, true, true])
  })

  test('addSecrets: exact values vanish from messages and fields; short values are ignored', () => {
    const { logger, lines } = capture()
    logger.addSecrets('a-very-secret-jwt-key-0123456789', undefined, 'short', 'sk-test-inference-key-00000000')
    logger.error('boom with a-very-secret-jwt-key-0123456789', { detail: 'upstream echoed sk-test-inference-key-00000000', word: 'short' })
    const out = lines.join('\n')
    expect(out).not.toContain('a-very-secret-jwt-key-0123456789')
    expect(out).not.toContain('sk-test-inference-key-00000000')
    expect(out).toContain('"word":"short"')
  })

  test('a secret containing another is replaced whole', () => {
    const { logger, lines } = capture()
    logger.addSecrets('abcdefgh', 'abcdefgh-ijklmnop')
    logger.info('x abcdefgh-ijklmnop y')
    expect(JSON.parse(lines[0]!).msg).toBe('x [redacted] y')
  })

  test('a throwing sink or odd values never reach the caller', () => {
    const logger = createLogger('debug', () => {
      throw new Error('stdout closed')
    })
    expect(() => logger.info('x', { n: 1n })).not.toThrow()
  })
})
