import { Elysia, t } from 'elysia'
import type { AppContext } from '../../context.ts'
import { ErrorBody, JsonInt, ownModels } from '../../http/schemas.ts'
import { callerOf } from '../notes/service.ts'
import { parseTagList, SEARCH_LIMIT_MAX, SEARCH_QUERY_MAX, SearchService } from './service.ts'

/** What this module uses of the composition root (src/context.ts). */
export type SearchDeps = Pick<AppContext, 'authPlugin' | 'notes'>

export const SearchHit = t.Object(
  {
    note_id: t.String({ format: 'uuid' }),
    title: t.Union([t.String(), t.Null()]),
    tags: t.Array(t.String()),
    score: t.Number({ description: '0.6 × similarity + 0.4 × share of query terms found; results are sorted by it' }),
    similarity: t.Number({ description: "cosine similarity with the note's stored embedding (0 until it is computed)" }),
    keyword_matches: JsonInt({ minimum: 0, description: 'query terms found in title or content' }),
    snippet: t.String({ description: 'up to 200 characters of the content around the first matching term' }),
    updated_at: t.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
)

export const SearchResult = t.Object(
  {
    query: t.String(),
    terms: t.Array(t.String(), { description: 'the query terms after tokenising and suffix folding' }),
    results: t.Array(SearchHit),
  },
  {
    additionalProperties: false,
    examples: [
      {
        query: 'vector index',
        terms: ['vector', 'index'],
        results: [
          {
            note_id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f',
            title: 'Vector search notes',
            tags: ['search'],
            score: 0.71,
            similarity: 0.52,
            keyword_matches: 2,
            snippet: '# Vector search notes Cosine similarity over feature-hashed vectors, one index per memory…',
            updated_at: '2026-11-27T10:00:01.000Z',
          },
        ],
      },
    ],
  },
)

const SearchQuery = t.Object({
  q: t.String({ minLength: 1, maxLength: SEARCH_QUERY_MAX, description: 'search text' }),
  tags: t.Optional(t.String({ maxLength: 13_000, description: 'comma list: only notes carrying at least one of these tags' })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: SEARCH_LIMIT_MAX, default: 10 })),
  memory: t.Optional(t.String()),
})

const errors = { 400: 'ErrorBody', 401: 'ErrorBody', 403: 'ErrorBody', 422: 'ErrorBody' } as const

/** REST: GET /api/v1/search (backs the MCP search_notes tool). */
export function searchController(ctx: SearchDeps) {
  const svc = new SearchService(ctx.notes)
  return new Elysia({ prefix: '/api/v1/search', tags: ['notes'] })
    .use(ctx.authPlugin)
    .model(ownModels({ SearchResult, ErrorBody }))
    .get(
      '',
      async ({ query, request, principal, memory }) => {
        const tags = parseTagList(new URL(request.url).searchParams.getAll('tags'))
        return svc.search(callerOf({ principal, memory }), { q: query.q, tags, limit: query.limit })
      },
      {
        auth: 'read',
        query: SearchQuery,
        response: { 200: 'SearchResult', ...errors },
        detail: {
          summary: 'Search notes (semantic + keyword)',
          description:
            "Ranks the notes you may read by cosine similarity of the query's term vector with each note's stored embedding, " +
            'combined with keyword matches of the query terms in title and content. Notes whose embedding is not computed yet ' +
            'are found by keyword only.',
        },
      },
    )
}
