import { t, type Static } from 'elysia'
import { unprocessable } from '../../http/errors.ts'

/** The most characters a note's content may hold (also the cap on an AI revision). */
export const CONTENT_MAX = 500_000

const Tag = t.String({ minLength: 1, maxLength: 128, pattern: '\\S', description: 'A tag; surrounding whitespace is trimmed' })
export const Tags = t.Array(Tag, { maxItems: 100, description: 'At most 100 tags; duplicates are removed' })

// Response schemas state additionalProperties explicitly: Elysia otherwise adds `false` in place the
// first time a route validates a response, and the OpenAPI document would depend on request history.
export const NoteLink = t.Object({ note_id: t.String({ format: 'uuid' }), score: t.Number() }, { additionalProperties: false })

export const Note = t.Object(
  {
    id: t.String({ format: 'uuid' }),
    memory: t.String(),
    title: t.Union([t.String(), t.Null()]),
    content: t.String(),
    tags: t.Array(t.String()),
    has_ai_content: t.Boolean(),
    has_links: t.Boolean(),
    links: t.Array(NoteLink),
    created_at: t.String({ format: 'date-time' }),
    updated_at: t.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f',
        memory: 'default',
        title: 'Vector search notes',
        content: '# Vector search notes\nCosine similarity over feature-hashed vectors.',
        tags: ['search'],
        has_ai_content: false,
        has_links: true,
        links: [{ note_id: '0193a0c4-3a00-7000-8000-000000000001', score: 0.62 }],
        created_at: '2026-11-27T10:00:00.000Z',
        updated_at: '2026-11-27T10:00:01.000Z',
      },
    ],
  },
)
export type Note = Static<typeof Note>

export const CreateNote = t.Object(
  {
    content: t.String({ minLength: 1, maxLength: CONTENT_MAX }),
    title: t.Optional(t.String({ minLength: 1, maxLength: 500 })),
    tags: t.Optional(Tags),
  },
  { additionalProperties: false, examples: [{ content: '# Meeting notes\nDiscussed the vector index.', tags: ['work'] }] },
)
export type CreateNote = Static<typeof CreateNote>

export const PatchNote = t.Object(
  {
    content: t.Optional(t.String({ minLength: 1, maxLength: CONTENT_MAX })),
    title: t.Optional(t.Union([t.String({ minLength: 1, maxLength: 500 }), t.Null()])),
    tags: t.Optional(Tags),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type PatchNote = Static<typeof PatchNote>

export const PutTags = t.Object({ tags: Tags }, { additionalProperties: false })

export const NoteList = t.Object(
  {
    notes: t.Array(Note),
    next_cursor: t.Union([t.String(), t.Null()], { description: 'Pass as `cursor` for the next page; null at the end' }),
  },
  { additionalProperties: false },
)

export const ListNotesQuery = t.Object({
  tag: t.Optional(t.String({ minLength: 1, maxLength: 128 })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: t.Optional(t.String({ maxLength: 512 })),
  memory: t.Optional(t.String()),
})

export const NoteParams = t.Object({ id: t.String({ format: 'uuid' }) })

/**
 * Refuses U+0000 (NUL) in a note's text fields: PostgreSQL text cannot hold it, so one backend would fail the
 * write with a 500; both refuse it the same way, with a 422 naming the field.
 */
export function refuseNul(fields: { content?: string; title?: string | null; tags?: readonly string[]; tag?: string }): void {
  for (const [name, v] of Object.entries(fields)) {
    const values = Array.isArray(v) ? v : [v]
    if (values.some((x) => typeof x === 'string' && x.includes('\u0000'))) throw unprocessable(`${name} must not contain U+0000 (NUL)`)
  }
}

/** Trims, drops duplicates, keeps order. */
export function normaliseTags(tags: readonly string[]): string[] {
  return [...new Set(tags.map((s) => s.trim()).filter(Boolean))]
}
