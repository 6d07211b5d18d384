import type { Database, Statement } from 'bun:sqlite'
import type { Note } from './model.ts'

interface NoteRow {
  id: string
  memory: string
  title: string | null
  content: string
  tags: string
  has_ai_content: number
  created_at: string
  updated_at: string
  has_links: number
}

export interface NoteState {
  id: string
  memory: string
  title: string | null
  content: string
  tags: string[]
  has_ai_content: boolean
  has_links: boolean
  created_at: string
  updated_at: string
}

export interface ListOptions {
  memory: string
  /** Tag restriction of the caller (null = none). */
  restriction: readonly string[] | null
  tag?: string
  limit: number
  cursor?: { created_at: string; id: string }
}

const SELECT = `SELECT n.id, n.memory, n.title, n.content, n.tags, n.has_ai_content, n.created_at, n.updated_at,
  EXISTS (SELECT 1 FROM note_links l WHERE l.note_id = n.id) AS has_links FROM notes n`

/** Repository for notes, their embeddings and links. Pure data access, no events. */
export class NoteStore {
  private byId: Statement
  private insertStmt: Statement
  private linksOf: Statement

  constructor(private db: Database) {
    this.byId = db.query(`${SELECT} WHERE n.id = ?`)
    this.insertStmt = db.query(
      'INSERT INTO notes (id, memory, title, content, tags, has_ai_content, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)',
    )
    this.linksOf = db.query('SELECT linked_note_id AS note_id, score FROM note_links WHERE note_id = ? ORDER BY score DESC, linked_note_id')
  }

  insert(n: { id: string; memory: string; title: string | null; content: string; tags: string[]; now: string }): NoteState {
    this.insertStmt.run(n.id, n.memory, n.title, n.content, JSON.stringify(n.tags), n.now, n.now)
    return this.get(n.id)!
  }

  get(id: string): NoteState | null {
    const r = this.byId.get(id) as NoteRow | null
    return r ? toState(r) : null
  }

  /** The REST representation, with links. */
  toNote(s: NoteState): Note {
    const links = (this.linksOf.all(s.id) as { note_id: string; score: number }[]).map((l) => ({
      note_id: l.note_id,
      score: Math.round(l.score * 10_000) / 10_000,
    }))
    return { ...s, links }
  }

  list(o: ListOptions): NoteState[] {
    const where = ['n.memory = ?']
    const args: (string | number)[] = [o.memory]
    if (o.tag !== undefined) {
      where.push('EXISTS (SELECT 1 FROM json_each(n.tags) WHERE value = ?)')
      args.push(o.tag)
    }
    if (o.restriction) {
      where.push('EXISTS (SELECT 1 FROM json_each(n.tags) t WHERE t.value IN (SELECT value FROM json_each(?)))')
      args.push(JSON.stringify(o.restriction))
    }
    if (o.cursor) {
      where.push('(n.created_at < ? OR (n.created_at = ? AND n.id < ?))')
      args.push(o.cursor.created_at, o.cursor.created_at, o.cursor.id)
    }
    args.push(o.limit)
    const sql = `${SELECT} WHERE ${where.join(' AND ')} ORDER BY n.created_at DESC, n.id DESC LIMIT ?`
    return (this.db.query(sql).all(...args) as NoteRow[]).map(toState)
  }

  update(id: string, fields: { title?: string | null; content?: string; tags?: string[]; has_ai_content?: boolean }, now: string): void {
    const sets: string[] = ['updated_at = ?']
    const args: (string | number | null)[] = [now]
    if (fields.title !== undefined) (sets.push('title = ?'), args.push(fields.title))
    if (fields.content !== undefined) (sets.push('content = ?'), args.push(fields.content))
    if (fields.tags !== undefined) (sets.push('tags = ?'), args.push(JSON.stringify(fields.tags)))
    if (fields.has_ai_content !== undefined) (sets.push('has_ai_content = ?'), args.push(fields.has_ai_content ? 1 : 0))
    args.push(id)
    this.db.query(`UPDATE notes SET ${sets.join(', ')} WHERE id = ?`).run(...args)
  }

  /** Deletes a note; returns the ids of notes it was linked with (their link sets change). */
  delete(id: string): string[] {
    const linked = this.db.query('SELECT linked_note_id AS id FROM note_links WHERE note_id = ?').all(id) as { id: string }[]
    this.db.query('DELETE FROM notes WHERE id = ?').run(id)
    return linked.map((r) => r.id)
  }

  setEmbedding(id: string, vector: Float32Array): void {
    this.db.query('UPDATE notes SET embedding = ? WHERE id = ?').run(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength), id)
  }

  clearEmbedding(id: string): void {
    this.db.query('UPDATE notes SET embedding = NULL WHERE id = ?').run(id)
  }

  getEmbedding(id: string): Float32Array | null {
    const r = this.db.query('SELECT embedding FROM notes WHERE id = ?').get(id) as { embedding: Uint8Array | null } | null
    return r?.embedding ? toVector(r.embedding) : null
  }

  /** Every other note of the memory that has an embedding. */
  embeddingsOf(memory: string, exceptId: string): { id: string; vector: Float32Array }[] {
    const rows = this.db
      .query('SELECT id, embedding FROM notes WHERE memory = ? AND id != ? AND embedding IS NOT NULL')
      .all(memory, exceptId) as { id: string; embedding: Uint8Array }[]
    return rows.map((r) => ({ id: r.id, vector: toVector(r.embedding) }))
  }

  /**
   * Replaces the links of `id` with `links`, both ways, in one transaction. Returns the other notes whose
   * link set changed (previous and new partners).
   */
  replaceLinks(id: string, links: { note_id: string; score: number }[]): string[] {
    return this.db.transaction(() => {
      const before = this.db
        .query('SELECT linked_note_id AS id FROM note_links WHERE note_id = ? UNION SELECT note_id FROM note_links WHERE linked_note_id = ?')
        .all(id, id) as { id: string }[]
      this.db.query('DELETE FROM note_links WHERE note_id = ? OR linked_note_id = ?').run(id, id)
      const ins = this.db.query('INSERT OR REPLACE INTO note_links (note_id, linked_note_id, score) VALUES (?, ?, ?)')
      for (const l of links) {
        ins.run(id, l.note_id, l.score)
        ins.run(l.note_id, id, l.score)
      }
      return [...new Set([...before.map((r) => r.id), ...links.map((l) => l.note_id)])]
    })()
  }
}

function toState(r: NoteRow): NoteState {
  return {
    id: r.id,
    memory: r.memory,
    title: r.title,
    content: r.content,
    tags: JSON.parse(r.tags) as string[],
    has_ai_content: r.has_ai_content === 1,
    has_links: r.has_links === 1,
    created_at: r.created_at,
    updated_at: r.updated_at,
  }
}

function toVector(b: Uint8Array): Float32Array {
  // Copy: the blob's buffer may not be 4-byte aligned.
  return new Float32Array(b.slice().buffer)
}
