/** GET /api/v1/search (docs/mcp.md, search_notes): semantic + keyword ranking, tag filter, tag restriction, bounds. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

interface Hit {
  note_id: string
  title: string | null
  tags: string[]
  score: number
  similarity: number
  keyword_matches: number
  snippet: string
}
let s: TestServer
let tok: string
const ids: Record<string, string> = {}

async function search(q: string, extra = '', token = tok): Promise<{ status: number; body: { results: Hit[]; terms: string[] } & Record<string, unknown> }> {
  const res = await s.request(`/api/v1/search?q=${encodeURIComponent(q)}${extra}`, { token })
  return { status: res.status, body: (await res.json()) as { results: Hit[]; terms: string[] } }
}

beforeAll(async () => {
  s = await startServer()
  tok = await s.token()
  const notes: [string, string, string[]][] = [
    ['vectors', '# Vector search\nCosine similarity over hashed term vectors ranks the nearest notes.', ['search']],
    ['vectors2', 'Nearest neighbour ranking with cosine similarity and term vectors.', ['search', 'ml']],
    ['bread', '# Sourdough\nFeed the starter, fold the dough, bake at 250 degrees.', ['food']],
    ['secret', 'Cosine similarity notes for the secret project.', ['secret']],
  ]
  for (const [key, content, tags] of notes) {
    const res = await s.request('/api/v1/notes', { token: tok, body: { content, tags } })
    ids[key] = ((await res.json()) as { id: string }).id
  }
  await waitFor(async () => {
    const c = await s.ctx.jobs.counts('default')
    return c.pending + c.running === 0
  }, 'the pipeline to finish')
})
afterAll(() => s.stop())

describe('GET /api/v1/search', () => {
  test('ranks by meaning and keywords, best first, with scores and a snippet', async () => {
    const { status, body } = await search('cosine similarity vectors')
    expect(status).toBe(200)
    expect(body.terms).toEqual(['cosine', 'similarity', 'vector'])
    const order = body.results.map((r) => r.note_id)
    expect(order.sort()).toEqual([ids.vectors!, ids.vectors2!, ids.secret!].sort())
    for (let i = 1; i < body.results.length; i++) expect(body.results[i]!.score).toBeLessThanOrEqual(body.results[i - 1]!.score)
    // Only one note speaks of hashing: it comes first.
    const hashed = (await search('hashed term vectors')).body.results
    expect(hashed[0]).toMatchObject({ note_id: ids.vectors!, title: 'Vector search', tags: ['search'], keyword_matches: 3 })
    expect(hashed[0]!.similarity).toBeGreaterThan(0.2)
    expect(hashed[0]!.snippet).toContain('hashed term vectors')
    expect((await search('sourdough starter')).body.results.map((r) => r.note_id)).toEqual([ids.bread!])
  })

  test('tags= keeps notes with at least one of them; limit bounds the answer', async () => {
    expect((await search('cosine', '&tags=ml')).body.results.map((r) => r.note_id)).toEqual([ids.vectors2!])
    expect((await search('cosine', '&tags=ml,secret')).body.results.map((r) => r.note_id).sort()).toEqual([ids.vectors2!, ids.secret!].sort())
    expect((await search('cosine', '&limit=1')).body.results.length).toBe(1)
  })

  test('a tag-restricted token finds only notes it may read', async () => {
    const restricted = await s.token({ sub: 'r', scope: 'read', tags: ['search'] })
    const r = await search('cosine similarity secret project', '', restricted)
    expect(r.status).toBe(200)
    expect(r.body.results.map((x) => x.note_id)).not.toContain(ids.secret!)
    expect(r.body.results.length).toBeGreaterThan(0)
    const other = await s.token({ sub: 'o', scope: 'read', memory: 'other' })
    expect((await search('cosine', '', other)).body.results).toEqual([])
  })

  test('bounds and bad input: limit ≤ 50, q required and ≤ 500 characters, 401 without a token', async () => {
    expect((await search('x', '&limit=51')).status).toBe(422)
    expect((await search('x', '&limit=0')).status).toBe(422)
    expect((await s.request('/api/v1/search', { token: tok })).status).toBe(422)
    expect((await search('x'.repeat(501))).status).toBe(422)
    expect((await search('   ')).status).toBe(400)
    expect((await search('x', '&tags=,')).status).toBe(400)
    expect((await s.request('/api/v1/search?q=x')).status).toBe(401)
    expect((await search('the of and')).body.results).toEqual([]) // stopwords only: nothing to match
  })

  test('is in the OpenAPI document; /mcp is not', async () => {
    const doc = (await (await s.request('/openapi.json')).json()) as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths)).toContain('/api/v1/search')
    expect(Object.keys(doc.paths).some((p) => p.includes('mcp') || p.includes('well-known'))).toBe(false)
  })
})
