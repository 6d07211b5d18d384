import { describe, expect, test } from 'bun:test'
import { anonymousLocalAllowed, loopbackHostHeader } from '../../src/http/origin.ts'

describe('anonymousLocalAllowed (MATRIC_AUTH=off, no token)', () => {
  const cases: [string, string[] | undefined, string | null, string | null, boolean][] = [
    ['no Origin: not a browser', undefined, null, 'anything:1', true],
    ['same origin on localhost', undefined, 'http://localhost:3000', 'localhost:3000', true],
    ['same origin on 127.0.0.1', undefined, 'http://127.0.0.1:8080', '127.0.0.1:8080', true],
    ['same origin on [::1]', undefined, 'http://[::1]:3000', '[::1]:3000', true],
    ['another site', undefined, 'https://evil.example', 'localhost:3000', false],
    ['DNS rebinding: same origin by Host, but not a loopback host', undefined, 'http://attacker.example:3000', 'attacker.example:3000', false],
    ['a proxy that drops the port: not the same origin', undefined, 'http://localhost:8080', 'localhost', false],
    ['a listed origin', ['https://hotm.example.com'], 'https://hotm.example.com', 'matric.internal:3000', true],
    ['a listed origin does not admit others', ['https://hotm.example.com'], 'https://evil.example', 'localhost:3000', false],
    ['Origin null (sandboxed page)', undefined, 'null', 'localhost:3000', false],
  ]
  for (const [name, allowed, origin, host, want] of cases) test(name, () => expect(anonymousLocalAllowed(allowed, origin, host)).toBe(want))
})

describe('loopbackHostHeader', () => {
  const cases: [string | null, boolean][] = [
    ['localhost', true],
    ['LOCALHOST:3000', true],
    ['127.0.0.1:80', true],
    ['127.9.9.9', true],
    ['[::1]:3000', true],
    ['10.0.0.1:3000', false],
    ['attacker.example', false],
    ['', false],
    [null, false],
  ]
  for (const [host, want] of cases) test(`${JSON.stringify(host)} → ${want}`, () => expect(loopbackHostHeader(host)).toBe(want))
})
