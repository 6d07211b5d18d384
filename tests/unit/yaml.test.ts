/** The YAML emitter of the AsyncAPI document (src/modules/asyncapi/yaml.ts): read back alike by YAML 1.1 and 1.2 readers. */
import { describe, expect, test } from 'bun:test'
import { parse } from 'yaml'
import { toYaml } from '../../src/modules/asyncapi/yaml.ts'

const readers: [string, (text: string) => unknown][] = [
  ['yaml (YAML 1.2)', (t) => parse(t)],
  ['yaml (YAML 1.1)', (t) => parse(t, { version: '1.1' })],
  ['Bun.YAML', (t) => Bun.YAML.parse(t)],
]

// Strings that a YAML reader would take for another type, or for syntax, if written plain.
const risky = [
  'true', 'False', '$', '$ref', '$1', '/', '/api/v1/ws', 'a b', 'yes please', 'on off', 'a - b', 'a -', 'x 1.0', 'x 2026-01-01', 'a  b', 'a ', '- a', 'yes', 'No', 'on', 'OFF', 'y', 'N', 'null', 'Null', '~', '', ' ', ' lead', 'trail ',
  '1', '-1', '1.0', '1e3', '0x1F', '0o17', '0b101', '1_000', '1:20', '.inf', '-.Inf', '.nan', '012',
  '2026-11-27', '2026-11-27T10:00:00.000Z', '2026-11-27 10:00:00',
  '#comment', '- item', '? key', 'a: b', 'a #b', ': x', '[x]', '{x}', '*alias', '&anchor', '!tag', '%dir', '@x', '`x`', '|', '>', '=', '<<',
  "it's", 'say "hi"', 'back\\slash', 'tab\there', 'cr\rlf', 'nul\u0000', 'del\u007f', 'nel\u0085', 'ls\u2028ps\u2029', 'bom\ufeff',
  'multi\nline', 'multi\n\nblank line', 'ends\n', '\nstarts', '  indented\nsecond', 'first\n  indented second', 'line\n---\nnot a document', 'ünïcødé ✓ 日本',
]

const values: [string, unknown][] = [
  ['risky strings as values', Object.fromEntries(risky.map((s, i) => [`k${i}`, s]))],
  ['risky strings as keys', Object.fromEntries(risky.map((s, i) => [s, i]))],
  ['risky strings in a list', risky],
  ['numbers', { int: 42, neg: -7, zero: 0, float: 0.5, small: 1.5e-7, big: 1e21, tiny: -5e-7 }],
  ['literals', { t: true, f: false, n: null }],
  ['empty collections', { o: {}, a: [], nested: [{}, []] }],
  ['nesting', { a: [{ b: [1, [2, [3, { c: 'd' }]]] }, { e: { f: [] } }], g: [[{ h: 1, i: [{ j: 'k' }] }]], l: { m: { n: { o: 'multi\nline here' } } } }],
  ['lists of lists', [[1, 2], [[3]], []]],
]

describe('toYaml', () => {
  for (const [name, value] of values)
    for (const [reader, read] of readers)
      test(`${name}: read back equal by ${reader}`, () => {
        expect(read(toYaml(value))).toEqual(value)
      })

  test('identifier-like strings are plain, others quoted, multi-line text a literal block', () => {
    expect(toYaml({ type: 'string', 'x-sse-event': 'job.completed', ct: 'application/json', address: '/api/v1/ws', title: 'HotM WebSocket' })).toBe(
      'type: string\nx-sse-event: job.completed\nct: application/json\naddress: /api/v1/ws\ntitle: HotM WebSocket\n',
    )
    expect(toYaml({ at: '2026-11-27T10:00:00.000Z', $ref: '#/components/schemas/Actor', num: '1_000', b: 'on', n: 1 })).toBe(
      'at: "2026-11-27T10:00:00.000Z"\n$ref: "#/components/schemas/Actor"\nnum: "1_000"\nb: "on"\n"n": 1\n',
    )
    expect(toYaml({ d: 'one\n\ntwo' })).toBe('d: |-\n  one\n\n  two\n')
    expect(toYaml({ l: [{ a: 1, b: [2] }] })).toBe('l:\n  - a: 1\n    b:\n      - 2\n')
  })

  test('refuses what JSON cannot hold', () => {
    expect(() => toYaml({ x: Number.NaN })).toThrow(/not JSON/)
    expect(() => toYaml({ x: Infinity })).toThrow(/not JSON/)
  })
})
