import { describe, expect, test } from 'bun:test'
import { CursorCodec } from '../../src/modules/realtime/cursor.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const codec = new CursorCodec(new TextEncoder().encode('secret-one-0123456789abcdef0123456789'))
const other = new CursorCodec(new TextEncoder().encode('secret-two-0123456789abcdef0123456789'))

describe('SSE cursors', () => {
  const positions = [0, 1, 42, 10_000, 2 ** 32 + 7, 2 ** 48 - 1]
  for (const p of positions)
    test(`position ${p} round-trips as a version-8 UUID`, () => {
      const id = codec.encode('default', p, 1_764_000_000_000)
      expect(id).toMatch(UUID)
      expect(id[14]).toBe('8')
      expect('89ab').toContain(id[19]!)
      expect(codec.decode('default', id)).toBe(p)
    })

  test('sorts by time like a UUIDv7', () => {
    const a = codec.encode('m', 5, 1_000)
    const b = codec.encode('m', 5, 2_000)
    expect(a < b).toBe(true)
  })

  const refused: [string, () => string | null, string][] = [
    ['another memory', () => codec.encode('alpha', 7), 'beta'],
    ['another server secret', () => other.encode('alpha', 7), 'alpha'],
    ['a UUIDv7 event id', () => '01936b2e-7c7a-7cc3-9b1e-4f1d2a3b4c5d', 'alpha'],
    ['garbage', () => 'not-a-cursor', 'alpha'],
    ['a tampered position', () => codec.encode('alpha', 7).replace(/.$/, (c) => (c === '0' ? '1' : '0')), 'alpha'],
  ]
  for (const [name, id, memory] of refused) test(`refuses ${name}`, () => expect(codec.decode(memory, id()!)).toBeNull())

  test('out-of-range positions are a programming error', () => {
    expect(() => codec.encode('m', -1)).toThrow(RangeError)
    expect(() => codec.encode('m', 2 ** 48)).toThrow(RangeError)
  })
})
