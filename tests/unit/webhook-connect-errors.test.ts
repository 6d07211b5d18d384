import { describe, expect, test } from 'bun:test'
import { connectFailed, networkError } from '../../src/modules/webhooks/outbox.ts'

const err = (code: string | undefined, wrapped: boolean): unknown => {
  const inner = Object.assign(new Error(`${code ?? 'something'} fetching "https://10.0.0.1/hook?token=abc"`), code ? { code } : {})
  return wrapped ? Object.assign(new Error('[POST] "https://hook.test/x?token=abc": <no response>'), { cause: inner }) : inner
}

describe('connectFailed: only failures before anything was sent fall through to the next address', () => {
  const cases: [string | undefined, boolean][] = [
    ['ECONNREFUSED', true],
    ['EHOSTUNREACH', true],
    ['ENETUNREACH', true],
    ['EADDRNOTAVAIL', true],
    ['ConnectionRefused', true],
    ['ECONNRESET', false], // the request may have been sent
    ['ERR_TLS_CERT_ALTNAME_INVALID', false],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', false],
    [undefined, false],
  ]
  for (const [code, expected] of cases) {
    test(`${code ?? 'no code'} → ${expected}`, () => {
      expect(connectFailed(err(code, true))).toBe(expected) // ofetch wraps the fetch error as `cause`
      expect(connectFailed(err(code, false))).toBe(expected)
    })
  }
  test('non-errors', () => {
    expect(connectFailed(undefined)).toBe(false)
    expect(connectFailed('ECONNREFUSED')).toBe(false)
  })
})

describe('networkError never quotes the URL (it may carry a token, or the pinned address)', () => {
  test('a code is reported as the code', () => {
    expect(networkError(err('ECONNREFUSED', true))).toBe('network error: ECONNREFUSED')
  })
  test('a message has its URLs replaced', () => {
    const e = new Error('failed to reach https://10.0.0.1:8443/hook?token=abc, sorry')
    expect(networkError(e)).toBe('network error: failed to reach <url> sorry')
  })
})
