import { describe, expect, test } from 'bun:test'
import { bestMatches, cosine, embed, EMBEDDING_DIMS, extractTitle, fnv1a, stem, tokenize } from '../../src/modules/jobs/handlers/text.ts'

describe('extractTitle', () => {
  test.each<[string, string | null]>([
    ['# Vector search\nbody', 'Vector search'],
    ['## Second level\ntext', 'Second level'],
    ['# Closed heading ##', 'Closed heading'],
    ['Intro sentence. More.\n\n# Later heading', 'Later heading'],
    ['Setext title\n============\nbody', 'Setext title'],
    ['Setext two\n---\nbody', 'Setext two'],
    ['---\n---\nAfter rules.', 'After rules'],
    ['First sentence. Second sentence.', 'First sentence'],
    ['Is this a question? Yes.', 'Is this a question?'],
    ['Wow! Great.', 'Wow!'],
    ['Wait... what', 'Wait'],
    ['No punctuation at all', 'No punctuation at all'],
    ['line one\nline two. rest', 'line one line two'],
    ['first paragraph\n\nsecond paragraph.', 'first paragraph'],
    ['- item one\n- item two', 'item one item two'],
    ['1. step one. then', 'step one'],
    ['> quoted wisdom. yes', 'quoted wisdom'],
    ['**Bold** start. more', 'Bold start'],
    ['_emphasis_ and snake_case_name.', 'emphasis and snake_case_name'],
    ['[a link](http://x.example) text.', 'a link text'],
    ['![diagram](d.png) caption.', 'diagram caption'],
    ['`code` span. rest', 'code span'],
    ['```\n# not a heading\n```\nReal text.', 'Real text'],
    ['```js\nconst x = 1\n```', 'const x = 1'],
    ['#hashtag is not a heading.', '#hashtag is not a heading'],
    ['   \n\t\n', null],
    ['', null],
    ['# \nbody text.', 'body text'],
    ['Version 1.2 is out. Upgrade.', 'Version 1.2 is out'],
    ['Über straße. x', 'Über straße'],
  ])('%j → %j', (content, expected) => {
    expect(extractTitle(content)).toBe(expected)
  })

  test('long titles are cut at a word and marked with an ellipsis', () => {
    const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau'
    const t = extractTitle(words)!
    expect(t.length).toBeLessThanOrEqual(80)
    expect(t.endsWith('…')).toBe(true)
    expect(words.startsWith(t.slice(0, -1))).toBe(true)
    expect(words[t.length - 1]).toBe(' ')
    // a single enormous word is cut hard
    expect(extractTitle('x'.repeat(200))).toBe('x'.repeat(79) + '…')
  })
})

describe('stem', () => {
  test.each([
    ['vectors', 'vector'],
    ['queries', 'query'],
    ['classes', 'class'],
    ['class', 'class'],
    ['status', 'status'],
    ['analysis', 'analysis'],
    ['embeddings', 'embedd'],
    ['embedding', 'embedd'],
    ['embedded', 'embedd'],
    ['string', 'string'],
    ['speed', 'speed'],
    ['bus', 'bus'],
    ['is', 'is'],
  ])('%s → %s', (w, expected) => {
    expect(stem(w)).toBe(expected)
  })
})

describe('tokenize', () => {
  test.each<[string, string[]]>([
    ['The Vector, the index!', ['vector', 'index']],
    ['a I x of to', []],
    ['Straße über 42 x9', ['straße', 'über', '42', 'x9']],
    ['snake_case-words', ['snake', 'case', 'word']],
    ['', []],
  ])('%j', (text, expected) => {
    expect(tokenize(text)).toEqual(expected)
  })
})

describe('embed / cosine / bestMatches', () => {
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0))

  test('vectors are L2-normalised, deterministic, of the configured size', () => {
    const v = embed('vector search with embeddings')
    expect(v.length).toBe(EMBEDDING_DIMS)
    expect(norm(v)).toBeCloseTo(1, 5)
    expect(embed('vector search with embeddings')).toEqual(v)
    expect(embed('x y', 16).length).toBe(16)
  })

  test('empty or stopword-only text gives a zero vector', () => {
    expect(norm(embed(''))).toBe(0)
    expect(norm(embed('the and of'))).toBe(0)
  })

  test('fnv1a is the 32-bit FNV-1a', () => {
    expect(fnv1a('')).toBe(0x811c9dc5)
    expect(fnv1a('a')).toBe(0xe40c292c)
    expect(fnv1a('foobar')).toBe(0xbf9cf968)
  })

  test.each<[string, string, 'same' | 'high' | 'low']>([
    ['vector search embeddings', 'vector search embeddings', 'same'],
    ['Vector search over embeddings.', 'vectors, searching, embedding', 'high'],
    ['vector search over document embeddings', 'planting tomatoes in the garden', 'low'],
  ])('cosine(%j, %j) is %s', (a, b, kind) => {
    const c = cosine(embed(a), embed(b))
    if (kind === 'same') expect(c).toBeCloseTo(1, 5)
    if (kind === 'high') expect(c).toBeGreaterThan(0.5)
    if (kind === 'low') expect(Math.abs(c)).toBeLessThan(0.2)
  })

  test('cosine edge cases', () => {
    const a = new Float32Array([1, 0])
    expect(cosine(a, new Float32Array([0, 1]))).toBe(0)
    expect(cosine(a, new Float32Array([2, 0]))).toBeCloseTo(1, 6)
    expect(cosine(a, new Float32Array([-1, 0]))).toBeCloseTo(-1, 6)
    expect(cosine(a, new Float32Array([0, 0]))).toBe(0)
    expect(cosine(a, new Float32Array([1, 0, 0]))).toBe(0)
  })

  test('bestMatches: threshold inclusive, best first, ties by id, at most max', () => {
    const v = (x: number, y: number) => new Float32Array([x, y])
    const target = v(1, 0)
    const cands = [
      { id: 'c', vector: v(1, 0) },
      { id: 'a', vector: v(1, 0) },
      { id: 'b', vector: v(0.6, 0.8) }, // 0.6
      { id: 'd', vector: v(0.5, Math.sqrt(0.75)) }, // 0.5
      { id: 'e', vector: v(0, 1) }, // 0
    ]
    expect(bestMatches(target, cands, 0.5, 10).map((m) => m.note_id)).toEqual(['a', 'c', 'b', 'd'])
    expect(bestMatches(target, cands, 0.55, 10).map((m) => m.note_id)).toEqual(['a', 'c', 'b'])
    expect(bestMatches(target, cands, 0.5, 2).map((m) => m.note_id)).toEqual(['a', 'c'])
    expect(bestMatches(target, [], 0, 5)).toEqual([])
    const [first] = bestMatches(target, cands, 0.9, 1)
    expect(first!.score).toBeCloseTo(1, 6)
  })
})
