import { badRequest } from '../../http/errors.ts'
import { cosine, embed, tokenize } from '../jobs/handlers/text.ts'
import type { Caller } from '../notes/service.ts'
import type { NoteStore } from '../notes/store.ts'

/** Most results one search returns. */
export const SEARCH_LIMIT_MAX = 50
export const SEARCH_QUERY_MAX = 500
/** Distinct query terms looked up as keywords (the rest still count through the embedding). */
const KEYWORD_TERMS_MAX = 16
/** Below this cosine similarity a note without a keyword hit is not a result (hashing collisions). */
export const MIN_SIMILARITY = 0.1
/** Weights of the two signals in `score`. */
const SEMANTIC_WEIGHT = 0.6
const KEYWORD_WEIGHT = 0.4
const SNIPPET_CHARS = 200

export interface SearchQuery {
  q: string
  /** Only notes carrying at least one of these tags. */
  tags?: readonly string[]
  limit?: number
}

export interface SearchHit {
  note_id: string
  title: string | null
  tags: string[]
  /** SEMANTIC_WEIGHT × similarity + KEYWORD_WEIGHT × keyword share, 0–1, best first. */
  score: number
  /** Cosine similarity of the query's term vector with the note's stored embedding (0 while it has none). */
  similarity: number
  /** Query terms found in the note's title or content. */
  keyword_matches: number
  snippet: string
  updated_at: string
}

export interface SearchResult {
  query: string
  /** Distinct query terms after tokenising (what keyword matching looked for). */
  terms: string[]
  results: SearchHit[]
}

/** The combined score of a note (pure; table-tested). */
export function combinedScore(similarity: number, keywordMatches: number, terms: number): number {
  const keyword = terms > 0 ? keywordMatches / terms : 0
  return SEMANTIC_WEIGHT * Math.max(0, similarity) + KEYWORD_WEIGHT * keyword
}

/** Whether a note is a result at all: a keyword hit, or a similarity above the noise floor. */
export function isHit(similarity: number, keywordMatches: number): boolean {
  return keywordMatches > 0 || similarity >= MIN_SIMILARITY
}

/** Up to SNIPPET_CHARS of `content` around the first of `terms` it contains (else its start). */
export function snippetOf(content: string, terms: readonly string[]): string {
  const lower = content.toLowerCase()
  let at = -1
  for (const t of terms) {
    const i = lower.indexOf(t)
    if (i >= 0 && (at < 0 || i < at)) at = i
  }
  const start = at < 0 ? 0 : Math.max(0, at - SNIPPET_CHARS / 4)
  const text = content.slice(start, start + SNIPPET_CHARS).replace(/\s+/g, ' ').trim()
  return (start > 0 ? '…' : '') + text + (start + SNIPPET_CHARS < content.length ? '…' : '')
}

/**
 * Note search: cosine similarity of the query's feature-hashed term vector (the embedding job's `embed`) with each
 * note's stored embedding, combined with keyword matching of the query's terms in title and content. Only notes
 * the caller may read (memory, tag restriction) are scanned. A linear scan of the memory's notes: fine for the
 * embedded store's sizes; the cost is one vector product and a few substring tests per note.
 */
export class SearchService {
  constructor(private notes: NoteStore) {}

  async search(c: Caller, query: SearchQuery): Promise<SearchResult> {
    const q = query.q.trim()
    if (!q) throw badRequest('q must contain a search term')
    if (q.length > SEARCH_QUERY_MAX) throw badRequest(`q is ${q.length} characters; at most ${SEARCH_QUERY_MAX} are allowed`)
    const limit = query.limit ?? 10
    if (!Number.isInteger(limit) || limit < 1 || limit > SEARCH_LIMIT_MAX) throw badRequest(`limit must be an integer from 1 to ${SEARCH_LIMIT_MAX}`)
    const terms = [...new Set(tokenize(q))].slice(0, KEYWORD_TERMS_MAX)
    const vector = embed(q)
    const rows = await this.notes.scan({ memory: c.memory, restriction: c.restriction, tags: query.tags, terms })

    const scored: SearchHit[] = []
    for (const r of rows) {
      const similarity = r.embedding ? cosine(vector, r.embedding) : 0
      if (!isHit(similarity, r.hits)) continue
      scored.push({
        note_id: r.id,
        title: r.title,
        tags: r.tags,
        score: round(combinedScore(similarity, r.hits, terms.length)),
        similarity: round(Math.max(0, similarity)),
        keyword_matches: r.hits,
        snippet: snippetOf(r.content, terms),
        updated_at: r.updated_at,
      })
    }
    scored.sort((a, b) => b.score - a.score || b.updated_at.localeCompare(a.updated_at) || (a.note_id < b.note_id ? -1 : 1))
    return { query: q, terms, results: scored.slice(0, limit) }
  }
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000
}

/** `?tags=a,b` (also repeated `tags=`) → the distinct trimmed tags, or undefined when absent. */
export function parseTagList(values: readonly string[]): string[] | undefined {
  const tags = [...new Set(values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean))]
  if (!values.length) return undefined
  if (!tags.length) throw badRequest('tags must name at least one tag (omit the parameter to search every note)')
  if (tags.length > 100) throw badRequest(`tags lists ${tags.length} tags; at most 100 are allowed`)
  if (tags.some((t) => t.length > 128)) throw badRequest('a tag is at most 128 characters')
  return tags
}
