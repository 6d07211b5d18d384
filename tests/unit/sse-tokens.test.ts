import { describe, expect, test } from 'bun:test'
import { streamTokenTtl } from '../../src/modules/realtime/tokens.ts'

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
