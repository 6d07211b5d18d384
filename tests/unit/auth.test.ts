import { describe, expect, test } from 'bun:test'
import { errors as joseErrors } from 'jose'
import { bearerFromHeader, streamCredentials, tokenFromSubprotocol } from '../../src/auth/plugin.ts'
import { canSeeTags, ClaimsError, grantsMemory, LOCAL_PRINCIPAL, parseScopes, principalFromClaims, selectMemory, type Principal } from '../../src/auth/principal.ts'
import { signToken } from '../../src/auth/sign.ts'
import { AuthError, AuthUnavailableError, createVerifier, issuedInFuture, jwksError, localAudienceAccepted, toAuthError } from '../../src/auth/verify.ts'
import { startJwks } from '../doubles/jwks.ts'
import { ApiError } from '../../src/http/errors.ts'

describe('parseScopes', () => {
  test.each<[unknown, string[]]>([
    ['read', ['read']],
    ['write', ['read', 'write']],
    ['admin', ['admin', 'read', 'write']],
    ['read write', ['read', 'write']],
    ['  read   admin ', ['admin', 'read', 'write']],
    [['write'], ['read', 'write']],
    ['openid profile', []],
    ['READ', []],
    ['', []],
    [undefined, []],
    [42, []],
  ])('%j → %j', (scope, expected) => {
    expect([...parseScopes(scope)].sort() as string[]).toEqual(expected)
  })
})

describe('principalFromClaims', () => {
  test.each<[Record<string, unknown>, Partial<Principal> & { scopeList?: string[] }]>([
    [{ sub: 'a' }, { sub: 'a', memories: ['default'], tags: null, stream: false, scopeList: [] }],
    [{ sub: 'a', scope: 'write', memory: 'm1' }, { memories: ['m1'], scopeList: ['read', 'write'] }],
    [{ sub: 'a', memory: ['m1', 'm2'] }, { memories: ['m1', 'm2'] }],
    [{ sub: 'a', memory: '*' }, { memories: '*' }],
    [{ sub: 'a', memory: ['m1', '*'] }, { memories: '*' }],
    [{ sub: 'a', tags: ['work'] }, { tags: ['work'] }],
    [{ sub: 'a', tags: null }, { tags: null }],
    [{ sub: 'a', aud: 'event-stream', jti: 'j1', exp: 123 }, { stream: true, jti: 'j1', exp: 123 }],
    [{ sub: 'a', aud: ['other', 'event-stream'] }, { stream: true }],
    [{ sub: 'a', aud: 'api' }, { stream: false }],
    [{ sub: 'a', tenant: 'acme' }, { tenant: 'acme' }],
    [{ sub: 'a', tenant_id: 'acme' }, { tenant: 'acme' }],
    [{ sub: 'a', tenant: 'acme', tenant_id: 'other' }, { tenant: 'acme' }],
  ])('%j', (claims, expected) => {
    const p = principalFromClaims(claims)
    const { scopeList, ...rest } = expected
    expect(p).toMatchObject(rest)
    if (scopeList) expect([...p.scopes].sort() as string[]).toEqual(scopeList)
  })

  test.each<[Record<string, unknown>, string]>([
    [{}, 'sub'],
    [{ sub: '' }, 'sub'],
    [{ sub: 42 }, 'sub'],
    [{ sub: 'a', memory: 5 }, 'memory'],
    [{ sub: 'a', memory: ['ok', 5] }, 'memory'],
    [{ sub: 'a', tags: 'work' }, 'tags'],
    [{ sub: 'a', tags: [1] }, 'tags'],
    [{ sub: 'a', tags: Array.from({ length: 101 }, (_, i) => `t${i}`) }, 'tags'],
    [{ sub: 'a', tenant: '' }, 'tenant'],
    [{ sub: 'a', tenant: 7 }, 'tenant'],
  ])('%j is refused', (claims, word) => {
    expect(() => principalFromClaims(claims)).toThrow(ClaimsError)
    expect(() => principalFromClaims(claims)).toThrow(word)
  })
})

describe('selectMemory', () => {
  const p = (memories: Principal['memories']): Principal => ({ ...LOCAL_PRINCIPAL, memories })
  test.each<[Principal['memories'], string | null | undefined, string | number]>([
    [['default'], undefined, 'default'],
    [['a'], undefined, 'a'],
    [['a'], '', 'a'],
    [['a'], 'a', 'a'],
    [['a', 'b'], 'b', 'b'],
    [['a', 'b'], undefined, 403], // two memories, no choice → "default", not granted
    ['*', undefined, 'default'],
    ['*', 'any.thing_1-x', 'any.thing_1-x'],
    [['a'], 'b', 403],
    ['*', '../x', 400],
    ['*', '-x', 400],
    ['*', 'a b', 400],
    ['*', 'x'.repeat(65), 400],
    ['*', 'x'.repeat(64), 'x'.repeat(64)],
  ])('memories %j, requested %j → %j', (memories, requested, expected) => {
    if (typeof expected === 'string') {
      expect(selectMemory(p(memories), requested)).toBe(expected)
      return
    }
    let err: unknown
    try {
      selectMemory(p(memories), requested)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).status as number).toBe(expected)
  })

  test('grantsMemory', () => {
    expect(grantsMemory(p('*'), 'x')).toBe(true)
    expect(grantsMemory(p(['x']), 'x')).toBe(true)
    expect(grantsMemory(p(['x']), 'y')).toBe(false)
    expect(grantsMemory(p([]), 'default')).toBe(false)
  })
})

describe('canSeeTags', () => {
  test.each<[string[] | null, string[] | null, boolean]>([
    [null, null, true],
    [null, [], true],
    [null, ['x'], true],
    [['work'], ['work'], true],
    [['work'], ['home', 'work'], true],
    [['work', 'home'], ['home'], true],
    [['work'], ['home'], false],
    [['work'], [], false],
    [['work'], null, false], // not note-scoped (e.g. memory-wide QueueStatus)
    [[], ['work'], false],
    [['Work'], ['work'], false], // tags are case-sensitive
  ])('restriction %j, tags %j → %p', (restriction, tags, expected) => {
    expect(canSeeTags(restriction, tags)).toBe(expected)
  })
})

describe('credentials', () => {
  test.each<[string | null, string | undefined]>([
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc', 'abc'],
    ['Bearer   abc  ', 'abc'],
    ['Basic abc', undefined],
    ['Bearer', undefined],
    ['Bearer a b', undefined],
    ['', undefined],
    [null, undefined],
  ])('bearerFromHeader(%j) → %j', (h, expected) => {
    expect(bearerFromHeader(h)).toBe(expected)
  })

  test.each<[string | null, string | undefined]>([
    ['bearer, tok', 'tok'],
    ['Bearer,tok', 'tok'],
    ['json, bearer, tok', 'tok'],
    ['bearer', undefined],
    ['chat', undefined],
    [null, undefined],
  ])('tokenFromSubprotocol(%j) → %j', (h, expected) => {
    expect(tokenFromSubprotocol(h)).toBe(expected)
  })

  test.each<[Record<string, string>, string, string | undefined, string]>([
    [{ authorization: 'Bearer h' }, '/?token=q', 'h', 'header'],
    [{}, '/?token=q', 'q', 'query'],
    [{ cookie: 'a=1; matric_token=c%2E1; b=2' }, '/', 'c.1', 'cookie'],
    [{ 'sec-websocket-protocol': 'bearer, s' }, '/', 's', 'subprotocol'],
    [{ cookie: 'other=1' }, '/', undefined, 'none'],
  ])('streamCredentials(%j, %s)', (headers, path, token, via) => {
    expect(streamCredentials(new Headers(headers), new URL(path, 'http://localhost')) as { token?: string; via: string }).toEqual({ token, via })
  })
})

describe('verification errors', () => {
  test.each<[string, () => unknown, string]>([
    ['JWTExpired', () => new joseErrors.JWTExpired('x', {}), 'token expired'],
    ['JWSSignatureVerificationFailed', () => new joseErrors.JWSSignatureVerificationFailed(), 'invalid token signature'],
    ['JWTClaimValidationFailed', () => new joseErrors.JWTClaimValidationFailed('x', {}, 'nbf'), 'invalid token claim: nbf'],
    ['JWKSNoMatchingKey', () => new joseErrors.JWKSNoMatchingKey(), 'no matching key in JWKS'],
    ['JWSInvalid', () => new joseErrors.JWSInvalid(), 'invalid token'],
    ['Error', () => new Error('boom'), 'invalid token'],
  ])('toAuthError(%s) → %s', (_name, make, message) => {
    const a = toAuthError(make())
    expect(a).toBeInstanceOf(AuthError)
    expect(a).not.toBeInstanceOf(AuthUnavailableError)
    expect(a.message).toBe(message)
  })

  test.each<[string, () => unknown, boolean]>([
    ['JWKSTimeout', () => new joseErrors.JWKSTimeout(), true],
    ['JWKSInvalid', () => new joseErrors.JWKSInvalid(), true],
    ['JOSEError (non-200 JWKS response)', () => new joseErrors.JOSEError('Expected 200 OK'), true],
    ['TypeError (network)', () => new TypeError('fetch failed'), true],
    ['JWKSNoMatchingKey', () => new joseErrors.JWKSNoMatchingKey(), false],
    ['JWTExpired', () => new joseErrors.JWTExpired('x', {}), false],
    ['JWSSignatureVerificationFailed', () => new joseErrors.JWSSignatureVerificationFailed(), false],
  ])('jwksError(%s) unavailable: %p', (_name, make, unavailable) => {
    expect(jwksError(make()) instanceof AuthUnavailableError).toBe(unavailable)
  })
})

describe('createVerifier', () => {
  test('a JWKS outage is reported through onJwksUnavailable and refused as unavailable', async () => {
    const jwks = await startJwks()
    const token = await jwks.sign({ sub: 'oidc' }, { alg: 'ES256' })
    await jwks.stop()
    const seen: unknown[] = []
    const v = createVerifier({ secret: new Uint8Array(32), jwksUrl: jwks.url, isRevoked: () => false, onJwksUnavailable: (e) => seen.push(e) })
    let err: unknown
    try {
      await v.verify(token)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(AuthUnavailableError)
    expect(seen.length).toBe(1)
  })

  test.each<[string, string]>([
    ['not.a.jwt', 'malformed token'],
    ['', 'malformed token'],
  ])('verify(%j) → %s', async (token, message) => {
    const v = createVerifier({ secret: new Uint8Array(32), isRevoked: () => false })
    await expect(v.verify(token)).rejects.toThrow(message)
  })

  test('a revoked jti is refused', async () => {
    const secret = new TextEncoder().encode('x'.repeat(32))
    const v = createVerifier({ secret, isRevoked: (jti) => jti === 'gone' })
    const ok = await signToken(secret, { sub: 'a', scope: 'read', jti: 'kept' })
    const revoked = await signToken(secret, { sub: 'a', scope: 'read', jti: 'gone' })
    expect((await v.verify(ok)).sub).toBe('a')
    await expect(v.verify(revoked)).rejects.toThrow('token has been revoked')
  })
})

describe('audience and iat rules', () => {
  test.each<[unknown, string[] | undefined, boolean]>([
    [undefined, undefined, true],
    ['anything', undefined, true],
    [undefined, ['api'], false],
    ['api', ['api'], true],
    ['other', ['api', 'other'], true],
    [['x', 'api'], ['api'], true],
    ['apix', ['api'], false],
    [['x'], ['api'], false],
    [42, ['api'], false],
    ['event-stream', ['api'], true], // stream tokens keep their own audience
    [['event-stream'], undefined, true],
  ])('localAudienceAccepted(%j, %j) = %p', (aud, configured, expected) => {
    expect(localAudienceAccepted(aud, configured)).toBe(expected)
  })

  test.each<[unknown, boolean]>([
    [undefined, false],
    [1000, false],
    [1005, false], // within the tolerance
    [1006, true],
    ['2000', false], // not a number: jose refuses a malformed iat itself
  ])('issuedInFuture(%j, now 1000, tolerance 5) = %p', (iat, expected) => {
    expect(issuedInFuture(iat, 1000, 5)).toBe(expected)
  })
})
