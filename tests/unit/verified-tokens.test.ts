import { describe, expect, test } from 'bun:test'
import type { Principal } from '../../src/auth/principal.ts'
import { VerifiedTokens } from '../../src/auth/verify.ts'

const principal = (exp?: number): Principal => ({ sub: 's', scopes: new Set(['read']), memories: ['default'], tags: null, exp, stream: false })

describe('VerifiedTokens', () => {
  test('remembers a token until its exp plus the tolerance', () => {
    let now = 1_000_000
    const c = new VerifiedTokens(10, () => now)
    c.set('t', principal(1010), 5) // valid until 1015 s
    now = 1_014_999
    expect(c.get('t')?.sub).toBe('s')
    now = 1_015_000
    expect(c.get('t')).toBeUndefined()
    expect(c.size).toBe(0)
  })

  test('a token without exp stays until evicted', () => {
    const c = new VerifiedTokens(2, () => 0)
    c.set('a', principal(), 5)
    expect(c.get('a')).toBeDefined()
  })

  test('evicts the least recently used beyond its size', () => {
    const c = new VerifiedTokens(2, () => 0)
    c.set('a', principal(), 0)
    c.set('b', principal(), 0)
    c.get('a') // a is now the most recent
    c.set('c', principal(), 0)
    expect(c.get('b')).toBeUndefined()
    expect(c.get('a')).toBeDefined()
    expect(c.get('c')).toBeDefined()
  })
})
