import { describe, expect, test } from 'bun:test'
import { parseScopes } from '../../src/auth/principal.ts'
import { mayRevoke, streamTokenTtl } from '../../src/modules/realtime/tokens.ts'

describe('streamTokenTtl', () => {
  const cases: [number | undefined, number, number][] = [
    [undefined, 300, 300],
    [60, 300, 60],
    [300, 300, 300],
    [301, 300, 300],
    [86_400, 300, 300],
    [1, 300, 1],
    [0, 300, 1],
    [12.9, 300, 12],
  ]
  for (const [asked, max, want] of cases) test(`asked ${asked}, max ${max} → ${want}`, () => expect(streamTokenTtl(asked, max)).toBe(want))
})

describe('mayRevoke', () => {
  const who = (sub: string, scope: 'read' | 'admin', memories: '*' | string[]) => ({ sub, scopes: parseScopes(scope), memories })
  const row = (sub: string, memories: string | null) => ({ sub, memories })
  const cases: [string, ReturnType<typeof who>, ReturnType<typeof row>, boolean][] = [
    ['its subject', who('alice', 'read', ['a']), row('alice', '["a"]'), true],
    ['its subject, whatever the memories now', who('alice', 'read', ['z']), row('alice', '["a"]'), true],
    ['another reader', who('bob', 'read', ['a']), row('alice', '["a"]'), false],
    ['an admin of that memory', who('root', 'admin', ['a']), row('alice', '["a"]'), true],
    ['an admin of another memory', who('root', 'admin', ['b']), row('alice', '["a"]'), false],
    ['an admin of only some of its memories', who('root', 'admin', ['a']), row('alice', '["a","b"]'), false],
    ['an admin of all of them and more', who('root', 'admin', ['a', 'b', 'c']), row('alice', '["a","b"]'), true],
    ['a token for every memory, admin of many', who('root', 'admin', ['a', 'b']), row('alice', '"*"'), false],
    ['a token for every memory, admin of every memory', who('root', 'admin', '*'), row('alice', '"*"'), true],
    ['memories unknown (older row), admin of one', who('root', 'admin', ['a']), row('alice', null), false],
    ['memories unknown (older row), admin of every memory', who('root', 'admin', '*'), row('alice', null), true],
    ['corrupt memories', who('root', 'admin', ['a']), row('alice', '{'), false],
  ]
  for (const [name, p, r, want] of cases) test(name, () => expect(mayRevoke(p, r)).toBe(want))
})
