import { describe, expect, test } from 'bun:test'
import { combinedScore, isHit, MIN_SIMILARITY, parseTagList, snippetOf } from '../../src/modules/search/service.ts'

describe('search scoring', () => {
  test.each([
    [0, 0, 3, 0],
    [1, 3, 3, 1],
    [0.5, 0, 3, 0.3],
    [0, 3, 3, 0.4],
    [-0.2, 1, 2, 0.2], // negative similarity counts as none
    [0.5, 0, 0, 0.3], // no terms (stopwords only): similarity alone
  ])('combinedScore(%p, %p of %p) = %p', (sim, hits, terms, want) => {
    expect(combinedScore(sim, hits, terms)).toBeCloseTo(want, 10)
  })
  test.each([
    [0, 1, true],
    [MIN_SIMILARITY, 0, true],
    [MIN_SIMILARITY - 0.01, 0, false],
    [0, 0, false],
  ])('isHit(%p, %p) = %p', (sim, hits, want) => {
    expect(isHit(sim, hits)).toBe(want)
  })
  test('snippet around the first matching term, marked where cut', () => {
    const long = 'a '.repeat(200) + 'the vector index' + ' b'.repeat(200)
    const sn = snippetOf(long, ['vector'])
    expect(sn.startsWith('…')).toBe(true)
    expect(sn.endsWith('…')).toBe(true)
    expect(sn).toContain('vector index')
    expect(snippetOf('short text', ['nothing'])).toBe('short text')
  })
  test.each([
    [[], undefined],
    [['a,b', 'b'], ['a', 'b']],
    [[' a , '], ['a']],
  ])('parseTagList(%j)', (values, want) => {
    expect(parseTagList(values)).toEqual(want as never)
  })
  test('parseTagList refuses empty lists and oversized tags', () => {
    expect(() => parseTagList([','])).toThrow(/at least one tag/)
    expect(() => parseTagList(['x'.repeat(129)])).toThrow(/128/)
  })
})
