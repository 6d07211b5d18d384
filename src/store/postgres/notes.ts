import type { SQL } from 'bun'
import type { LinkRow, ListOptions, NoteState, NoteStore, ScanOptions, SearchRow } from '../../modules/notes/store.ts'
import { retrying } from './util.ts'

interface Row {
  id: string
  memory: string
  title: string | null
  content: string
  tags: string[]
  has_ai_content: boolean
  created_at: string
  updated_at: string
  has_links: boolean
}

const SELECT = `SELECT n.id, n.memory, n.title, n.content, n.tags, n.has_ai_content, n.created_at, n.updated_at,
  EXISTS (SELECT 1 FROM note_links l WHERE l.note_id = n.id) AS has_links FROM notes n`

const toState = (r: Row): NoteState => ({
  id: r.id,
  memory: r.memory,
  title: r.title,
  content: r.content,
  tags: r.tags,
  has_ai_content: r.has_ai_content,
  has_links: r.has_links,
  created_at: r.created_at,
  updated_at: r.updated_at,
})

/** The stored bytes of a vector (little-endian float32, as SQLite stores them). */
const bytesOf = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
/** Copy: the Buffer's bytes may not be 4-byte aligned. */
const toVector = (b: Uint8Array) => new Float32Array(b.slice().buffer)

/**
 * Builds a parameterised statement with $n placeholders, for the queries whose filters vary (list, scan, update).
 * Every value goes through a parameter, never into the text.
 */
class Params {
  values: unknown[] = []
  add(v: unknown): string {
    this.values.push(v)
    return `$${this.values.length}`
  }
}

/** Notes on PostgreSQL: tags are a JSONB array, so "carries one of these tags" is `tags ?| text[]` (GIN index). */
export class PgNoteStore implements NoteStore {
  constructor(private sql: SQL) {}

  async insert(n: { id: string; memory: string; title: string | null; content: string; tags: string[]; now: string }): Promise<NoteState> {
    // A JS array bound to a JSONB column is sent as JSON (a JSON.stringify'd string would be stored as a JSON string).
    await this.sql`INSERT INTO notes (id, memory, title, content, tags, has_ai_content, created_at, updated_at)
      VALUES (${n.id}, ${n.memory}, ${n.title}, ${n.content}, ${n.tags}, false, ${n.now}, ${n.now})`
    return (await this.get(n.id))!
  }

  async get(id: string): Promise<NoteState | null> {
    const [r] = await this.sql.unsafe<Row[]>(`${SELECT} WHERE n.id = $1`, [id])
    return r ? toState(r) : null
  }

  async list(o: ListOptions): Promise<NoteState[]> {
    const p = new Params()
    const where = [`n.memory = ${p.add(o.memory)}`]
    if (o.tag !== undefined) where.push(`n.tags ? ${p.add(o.tag)}::text`)
    if (o.restriction) where.push(`n.tags ?| ${p.add([...o.restriction])}::text[]`)
    if (o.cursor) where.push(`(n.created_at, n.id) < (${p.add(o.cursor.created_at)}, ${p.add(o.cursor.id)})`)
    const rows = await this.sql.unsafe<Row[]>(
      `${SELECT} WHERE ${where.join(' AND ')} ORDER BY n.created_at DESC, n.id DESC LIMIT ${p.add(o.limit)}`,
      p.values,
    )
    return rows.map(toState)
  }

  async update(id: string, fields: { title?: string | null; content?: string; tags?: string[]; has_ai_content?: boolean }, now: string): Promise<void> {
    const p = new Params()
    const sets = [`updated_at = ${p.add(now)}`]
    if (fields.title !== undefined) sets.push(`title = ${p.add(fields.title)}`)
    if (fields.content !== undefined) sets.push(`content = ${p.add(fields.content)}`)
    if (fields.tags !== undefined) sets.push(`tags = ${p.add(fields.tags)}::jsonb`)
    if (fields.has_ai_content !== undefined) sets.push(`has_ai_content = ${p.add(fields.has_ai_content)}`)
    await this.sql.unsafe(`UPDATE notes SET ${sets.join(', ')} WHERE id = ${p.add(id)}`, p.values)
  }

  async delete(id: string): Promise<string[]> {
    // One statement: the links are read from the same snapshot the delete (and its cascade) works on.
    const rows = await this.sql<{ id: string }[]>`
      WITH linked AS (SELECT linked_note_id AS id FROM note_links WHERE note_id = ${id}),
           gone AS (DELETE FROM notes WHERE id = ${id})
      SELECT id FROM linked`
    return rows.map((r) => r.id)
  }

  async links(id: string): Promise<LinkRow[]> {
    return [
      ...(await this.sql<LinkRow[]>`
        SELECT l.linked_note_id AS note_id, l.score, n.tags FROM note_links l JOIN notes n ON n.id = l.linked_note_id
        WHERE l.note_id = ${id} ORDER BY l.score DESC, l.linked_note_id`),
    ]
  }

  async setEmbedding(id: string, vector: Float32Array): Promise<void> {
    await this.sql`UPDATE notes SET embedding = ${bytesOf(vector)} WHERE id = ${id}`
  }

  async clearEmbedding(id: string): Promise<void> {
    await this.sql`UPDATE notes SET embedding = NULL WHERE id = ${id}`
  }

  async getEmbedding(id: string): Promise<Float32Array | null> {
    const [r] = await this.sql<{ embedding: Uint8Array | null }[]>`SELECT embedding FROM notes WHERE id = ${id}`
    return r?.embedding ? toVector(r.embedding) : null
  }

  async embeddingsOf(memory: string, exceptId: string): Promise<{ id: string; tags: string[]; vector: Float32Array }[]> {
    const rows = await this.sql<{ id: string; tags: string[]; embedding: Uint8Array }[]>`
      SELECT id, tags, embedding FROM notes WHERE memory = ${memory} AND id <> ${exceptId} AND embedding IS NOT NULL ORDER BY id`
    return rows.map((r) => ({ id: r.id, tags: r.tags, vector: toVector(r.embedding) }))
  }

  async replaceLinks(
    id: string,
    forward: { note_id: string; score: number }[],
    reverse: { note_id: string; score: number }[],
    touchable: readonly string[],
  ): Promise<string[]> {
    // Two linking jobs on neighbouring notes can lock the same link rows in opposite orders: PostgreSQL then
    // aborts one of them, which simply runs again.
    return retrying(() =>
      this.sql.begin(async (tx) => {
        // Every link row written here joins \`id\` to one of these notes, so two transactions that would touch the
        // same row both take both notes' locks first, in one order: they queue instead of deadlocking (three
        // instances linking at once deadlocked past the retries; tests/cluster/webhooks-failover.test.ts).
        const involved = [...new Set([id, ...touchable, ...forward.map((l) => l.note_id), ...reverse.map((l) => l.note_id)])].sort()
        await tx`SELECT pg_advisory_xact_lock(hashtext('note_links:' || n)) FROM unnest(${tx.array(involved, 'TEXT')}::text[]) AS n ORDER BY n`
        const before = (await tx<{ id: string }[]>`
          SELECT note_id AS id FROM note_links WHERE linked_note_id = ${id} AND note_id = ANY(${tx.array([...touchable], 'TEXT')}) ORDER BY note_id`).map(
          (r) => r.id,
        )
        await tx`DELETE FROM note_links WHERE note_id = ${id}`
        if (before.length) await tx`DELETE FROM note_links WHERE linked_note_id = ${id} AND note_id = ANY(${tx.array(before, 'TEXT')})`
        const rows = [
          ...forward.map((l) => ({ note_id: id, linked_note_id: l.note_id, score: l.score })),
          ...reverse.map((l) => ({ note_id: l.note_id, linked_note_id: id, score: l.score })),
        ]
        // Last one wins for a pair listed twice, as INSERT OR REPLACE does row by row in SQLite.
        const unique = [...new Map(rows.map((r) => [`${r.note_id}\n${r.linked_note_id}`, r])).values()]
        if (unique.length) {
          await tx`INSERT INTO note_links ${tx(unique)} ON CONFLICT (note_id, linked_note_id) DO UPDATE SET score = excluded.score`
        }
        return [...new Set([...before, ...reverse.map((l) => l.note_id)])]
      }),
    )
  }

  async scan(o: ScanOptions): Promise<SearchRow[]> {
    const p = new Params()
    // Each term is looked for in lower-cased title + content (strpos is a plain substring test, no pattern).
    const hits = o.terms.length
      ? o.terms.map((t) => `(strpos(lower(COALESCE(n.title, '') || ' ' || n.content), ${p.add(t)}) > 0)::int`).join(' + ')
      : '0'
    const where = [`n.memory = ${p.add(o.memory)}`]
    if (o.restriction) where.push(`n.tags ?| ${p.add([...o.restriction])}::text[]`)
    if (o.tags?.length) where.push(`n.tags ?| ${p.add([...o.tags])}::text[]`)
    const rows = await this.sql.unsafe<{ id: string; title: string | null; content: string; tags: string[]; embedding: Uint8Array | null; updated_at: string; hits: number }[]>(
      `SELECT n.id, n.title, n.content, n.tags, n.embedding, n.updated_at, (${hits})::int AS hits FROM notes n WHERE ${where.join(' AND ')}`,
      p.values,
    )
    return rows.map((r) => ({ ...r, embedding: r.embedding ? toVector(r.embedding) : null }))
  }
}
