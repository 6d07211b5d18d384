import type { Database, Statement } from 'bun:sqlite'
import type { LinkRow, ListOptions, NoteState, NoteStore, ScanOptions, SearchRow } from '../../modules/notes/store.ts'

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

const SELECT = `SELECT n.id, n.memory, n.title, n.content, n.tags, n.has_ai_content, n.created_at, n.updated_at,
  EXISTS (SELECT 1 FROM note_links l WHERE l.note_id = n.id) AS has_links FROM notes n`

const TAG_ANY = 'EXISTS (SELECT 1 FROM json_each(n.tags) t WHERE t.value IN (SELECT value FROM json_each(?)))'

/** Notes, their embeddings and links on SQLite (port: modules/notes/store.ts). */
export class SqliteNoteStore implements NoteStore {
  private byId: Statement
  private insertStmt: Statement
  private linksOf: Statement

  constructor(private db: Database) {
    this.byId = db.query(`${SELECT} WHERE n.id = ?`)
    this.insertStmt = db.query(
      'INSERT INTO notes (id, memory, title, content, tags, has_ai_content, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)',
    )
    this.linksOf = db.query(
      'SELECT l.linked_note_id AS note_id, l.score, n.tags FROM note_links l JOIN notes n ON n.id = l.linked_note_id WHERE l.note_id = ? ORDER BY l.score DESC, l.linked_note_id',
    )
  }

  async insert(n: { id: string; memory: string; title: string | null; content: string; tags: string[]; now: string }): Promise<NoteState> {
    this.insertStmt.run(n.id, n.memory, n.title, n.content, JSON.stringify(n.tags), n.now, n.now)
    return this.getNow(n.id)!
  }

  async get(id: string): Promise<NoteState | null> {
    return this.getNow(id)
  }

  private getNow(id: string): NoteState | null {
    const r = this.byId.get(id) as NoteRow | null
    return r ? toState(r) : null
  }

  async links(id: string): Promise<LinkRow[]> {
    return (this.linksOf.all(id) as { note_id: string; score: number; tags: string }[]).map((l) => ({ note_id: l.note_id, score: l.score, tags: JSON.parse(l.tags) as string[] }))
  }

  async scan(o: ScanOptions): Promise<SearchRow[]> {
    const where = ['n.memory = ?']
    const args: (string | number)[] = []
    // Each term is looked for in lower-cased title + content (stems are prefixes of their inflections).
    const hitExpr = o.terms.length ? o.terms.map(() => "(instr(lower(COALESCE(n.title, '') || ' ' || n.content), ?) > 0)").join(' + ') : '0'
    args.push(...o.terms, o.memory)
    if (o.restriction) (where.push(TAG_ANY), args.push(JSON.stringify(o.restriction)))
    if (o.tags?.length) (where.push(TAG_ANY), args.push(JSON.stringify(o.tags)))
    const rows = this.db
      .query(`SELECT n.id, n.title, n.content, n.tags, n.embedding, n.updated_at, ${hitExpr} AS hits FROM notes n WHERE ${where.join(' AND ')}`)
      .all(...args) as { id: string; title: string | null; content: string; tags: string; embedding: Uint8Array | null; updated_at: string; hits: number }[]
    return rows.map((r) => ({ ...r, tags: JSON.parse(r.tags) as string[], embedding: r.embedding ? toVector(r.embedding) : null }))
  }

  async list(o: ListOptions): Promise<NoteState[]> {
    return this.listNow(o)
  }

  private listNow(o: ListOptions): NoteState[] {
    const where = ['n.memory = ?']
    const args: (string | number)[] = [o.memory]
    if (o.tag !== undefined) {
      where.push('EXISTS (SELECT 1 FROM json_each(n.tags) WHERE value = ?)')
      args.push(o.tag)
    }
    if (o.restriction) (where.push(TAG_ANY), args.push(JSON.stringify(o.restriction)))
    if (o.cursor) {
      where.push('(n.created_at < ? OR (n.created_at = ? AND n.id < ?))')
      args.push(o.cursor.created_at, o.cursor.created_at, o.cursor.id)
    }
    args.push(o.limit)
    const sql = `${SELECT} WHERE ${where.join(' AND ')} ORDER BY n.created_at DESC, n.id DESC LIMIT ?`
    return (this.db.query(sql).all(...args) as NoteRow[]).map(toState)
  }

  async update(id: string, fields: { title?: string | null; content?: string; tags?: string[]; has_ai_content?: boolean }, now: string): Promise<void> {
    return this.updateNow(id, fields, now)
  }

  private updateNow(id: string, fields: { title?: string | null; content?: string; tags?: string[]; has_ai_content?: boolean }, now: string): void {
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
  async delete(id: string): Promise<string[]> {
    return this.deleteNow(id)
  }

  private deleteNow(id: string): string[] {
    const linked = this.db.query('SELECT linked_note_id AS id FROM note_links WHERE note_id = ?').all(id) as { id: string }[]
    this.db.query('DELETE FROM notes WHERE id = ?').run(id)
    return linked.map((r) => r.id)
  }

  async setEmbedding(id: string, vector: Float32Array): Promise<void> {
    this.db.query('UPDATE notes SET embedding = ? WHERE id = ?').run(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength), id)
  }

  async clearEmbedding(id: string): Promise<void> {
    this.db.query('UPDATE notes SET embedding = NULL WHERE id = ?').run(id)
  }

  async getEmbedding(id: string): Promise<Float32Array | null> {
    const r = this.db.query('SELECT embedding FROM notes WHERE id = ?').get(id) as { embedding: Uint8Array | null } | null
    return r?.embedding ? toVector(r.embedding) : null
  }

  /** Every other note of the memory that has an embedding, with its tags. */
  async embeddingsOf(memory: string, exceptId: string): Promise<{ id: string; tags: string[]; vector: Float32Array }[]> {
    return this.embeddingsNow(memory, exceptId)
  }

  private embeddingsNow(memory: string, exceptId: string): { id: string; tags: string[]; vector: Float32Array }[] {
    const rows = this.db
      .query('SELECT id, tags, embedding FROM notes WHERE memory = ? AND id != ? AND embedding IS NOT NULL')
      .all(memory, exceptId) as { id: string; tags: string; embedding: Uint8Array }[]
    return rows.map((r) => ({ id: r.id, tags: JSON.parse(r.tags) as string[], vector: toVector(r.embedding) }))
  }

  /**
   * Replaces, in one transaction, the links of `id` (`forward`: id → note) and the links other notes have to it
   * (`reverse`: note → id). Only notes listed in `touchable` may have their links to `id` removed: a job never
   * changes notes outside its view. Returns the other notes whose link set changed.
   */
  async replaceLinks(id: string, forward: { note_id: string; score: number }[], reverse: { note_id: string; score: number }[], touchable: readonly string[]): Promise<string[]> {
    return this.replaceLinksNow(id, forward, reverse, touchable)
  }

  private replaceLinksNow(id: string, forward: { note_id: string; score: number }[], reverse: { note_id: string; score: number }[], touchable: readonly string[]): string[] {
    return this.db.transaction(() => {
      const may = new Set(touchable)
      const before = (this.db.query('SELECT note_id AS id FROM note_links WHERE linked_note_id = ?').all(id) as { id: string }[])
        .map((r) => r.id)
        .filter((other) => may.has(other))
      this.db.query('DELETE FROM note_links WHERE note_id = ?').run(id)
      const del = this.db.query('DELETE FROM note_links WHERE note_id = ? AND linked_note_id = ?')
      for (const other of before) del.run(other, id)
      const ins = this.db.query('INSERT OR REPLACE INTO note_links (note_id, linked_note_id, score) VALUES (?, ?, ?)')
      for (const l of forward) ins.run(id, l.note_id, l.score)
      for (const l of reverse) ins.run(l.note_id, id, l.score)
      // The notes whose own links were rewritten (all within `touchable`).
      return [...new Set([...before, ...reverse.map((l) => l.note_id)])]
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
    updated_at: r.updated_at
  }
}

function toVector(b: Uint8Array): Float32Array {
  // Copy: the blob's buffer may not be 4-byte aligned.
  return new Float32Array(b.slice().buffer)
}
