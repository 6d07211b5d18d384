import { canSeeTags } from '../../auth/principal.ts'
import type { Note } from './model.ts'

/** A stored note as the services use it. */
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

/** A link from a note, with the linked note's tags (who may see it). */
export interface LinkRow {
  note_id: string
  score: number
  tags: string[]
}

/** A note scanned by search: the fields scored, and how many of the query's terms its text contains. */
export interface SearchRow {
  id: string
  title: string | null
  content: string
  tags: string[]
  embedding: Float32Array | null
  updated_at: string
  hits: number
}

export interface ScanOptions {
  memory: string
  restriction: readonly string[] | null
  /** Only notes with one of these tags. */
  tags?: readonly string[]
  /** Lower-case terms looked for in lower-cased title + content. */
  terms: readonly string[]
}

/**
 * Port: notes, their embeddings and links. Pure data access, no events (docs/architecture.md). Tag filters match
 * a note carrying any one of the given tags.
 */
export interface NoteStore {
  insert(n: { id: string; memory: string; title: string | null; content: string; tags: string[]; now: string }): Promise<NoteState>
  get(id: string): Promise<NoteState | null>
  /** Notes of a memory, newest first (created_at, then id), after the cursor, within the restriction and tag. */
  list(o: ListOptions): Promise<NoteState[]>
  update(id: string, fields: { title?: string | null; content?: string; tags?: string[]; has_ai_content?: boolean }, now: string): Promise<void>
  /** Deletes a note with its links; returns the ids of notes it was linked with (their link sets change). */
  delete(id: string): Promise<string[]>
  /** Links from a note, best score first. */
  links(id: string): Promise<LinkRow[]>
  setEmbedding(id: string, vector: Float32Array): Promise<void>
  clearEmbedding(id: string): Promise<void>
  getEmbedding(id: string): Promise<Float32Array | null>
  /** Every other note of the memory that has an embedding, with its tags. */
  embeddingsOf(memory: string, exceptId: string): Promise<{ id: string; tags: string[]; vector: Float32Array }[]>
  /**
   * Replaces, in one transaction, the links of `id` (`forward`: id → note) and the links other notes have to it
   * (`reverse`: note → id). Only notes listed in `touchable` may have their links to `id` removed: a job never
   * changes notes outside its view. Returns the other notes whose link set changed.
   */
  replaceLinks(id: string, forward: { note_id: string; score: number }[], reverse: { note_id: string; score: number }[], touchable: readonly string[]): Promise<string[]>
  /** The notes search scores (memory, restriction and tag filter applied), with their keyword hit counts. */
  scan(o: ScanOptions): Promise<SearchRow[]>
}

/**
 * The REST representation, with links — only to notes the reader may see (links are stored so that this holds
 * for every reader, see linking.ts; this filter keeps it true while a retagged note's links are recomputed).
 */
export async function toNote(store: NoteStore, s: NoteState, reader: readonly string[] | null = null): Promise<Note> {
  const links = (await store.links(s.id))
    .filter((l) => canSeeTags(reader, l.tags))
    .map((l) => ({ note_id: l.note_id, score: Math.round(l.score * 10_000) / 10_000 }))
  return { ...s, has_links: links.length > 0, links }
}
