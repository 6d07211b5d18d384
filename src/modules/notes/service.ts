import type { Authenticated } from '../../auth/plugin.ts'
import type { Actor } from '../../events/catalog.ts'
import { canSeeTags } from '../../auth/principal.ts'
import { badRequest, forbidden, notFound } from '../../http/errors.ts'
import type { JobService } from '../jobs/service.ts'
import type { JobStore } from '../jobs/store.ts'
import type { NoteEvents } from './events.ts'
import { normaliseTags, refuseNul, type CreateNote, type Note, type PatchNote } from './model.ts'
import { toNote, type NoteState, type NoteStore } from './store.ts'

/** The caller as the notes service sees it: memory, tag restriction, and who acts (for event actors). */
export interface Caller {
  memory: string
  restriction: readonly string[] | null
  actor: Actor
}

/** The caller of an authenticated request (REST or MCP). */
export function callerOf(a: Authenticated): Caller {
  return { memory: a.memory, restriction: a.principal.tags, actor: { kind: 'user', id: a.principal.sub } }
}

export interface NoteServiceDeps {
  notes: NoteStore
  jobs: JobStore
  jobService: JobService
  events: NoteEvents
}

export interface Cursor {
  created_at: string
  id: string
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.created_at, c.id])).toString('base64url')
}

export function decodeCursor(s: string): Cursor {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') return { created_at: v[0], id: v[1] }
  } catch {
    // fall through
  }
  throw badRequest('invalid cursor')
}

/** Notes use cases: store change first, then its event, then the pipeline jobs it implies. */
export class NoteService {
  constructor(private d: NoteServiceDeps) {}

  async create(c: Caller, input: CreateNote): Promise<Note> {
    refuseNul(input)
    const tags = normaliseTags(input.tags ?? [])
    this.assertTagsAllowed(c, tags)
    const n = await this.d.notes.insert({
      id: Bun.randomUUIDv7(), // time-ordered: ties on created_at sort in creation order
      memory: c.memory,
      title: input.title?.trim() || null,
      content: input.content,
      tags,
      now: new Date().toISOString(),
    })
    // One correlation id for the write and everything it sets off (its jobs, their events).
    const correlationId = Bun.randomUUIDv7()
    const byCreation = { correlationId, causationId: this.d.events.created(n, c.actor, { correlationId }) }
    const job = { actor: c.actor, trace: byCreation, restriction: c.restriction }
    if (!n.title) await this.d.jobService.enqueue(c.memory, 'title_generation', n.id, job)
    await this.d.jobService.enqueue(c.memory, 'embedding', n.id, job)
    return toNote(this.d.notes, n, c.restriction)
  }

  async get(c: Caller, id: string): Promise<Note> {
    return toNote(this.d.notes, await this.visible(c, id), c.restriction)
  }

  async list(c: Caller, q: { tag?: string; limit?: number; cursor?: string }): Promise<{ notes: Note[]; next_cursor: string | null }> {
    refuseNul({ tag: q.tag })
    const limit = q.limit ?? 50
    const rows = await this.d.notes.list({
      memory: c.memory,
      restriction: c.restriction,
      tag: q.tag,
      limit: limit + 1,
      cursor: q.cursor ? decodeCursor(q.cursor) : undefined,
    })
    const page = rows.slice(0, limit)
    const last = page[page.length - 1]
    return {
      notes: await Promise.all(page.map((n) => toNote(this.d.notes, n, c.restriction))),
      next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
    }
  }

  async update(c: Caller, id: string, patch: PatchNote): Promise<Note> {
    refuseNul(patch)
    const before = await this.visible(c, id)
    const tags = patch.tags === undefined ? undefined : normaliseTags(patch.tags)
    if (tags) this.assertTagsAllowed(c, tags)
    const contentChanged = patch.content !== undefined && patch.content !== before.content
    await this.d.notes.update(
      id,
      { title: patch.title === undefined ? undefined : patch.title?.trim() || null, content: patch.content, tags },
      new Date().toISOString(),
    )
    if (tags) this.d.jobs.invalidateCounts() // tag-restricted counts follow the note's tags
    const correlationId = Bun.randomUUIDv7()
    const updatedId = await this.d.events.updated(id, c.actor, { correlationId })
    const job = { actor: c.actor, trace: { correlationId, causationId: updatedId }, restriction: c.restriction }
    if (contentChanged) {
      await this.d.notes.clearEmbedding(id)
      await this.d.jobService.enqueueOnce(c.memory, 'embedding', id, job)
    } else if (tags && !sameTags(tags, before.tags) && (await this.d.notes.getEmbedding(id))) {
      // Who may see the note changed: its links are recomputed under the visibility rule (see linking.ts).
      await this.d.jobService.enqueueOnce(c.memory, 'linking', id, job)
    }
    return this.get(c, id)
  }

  setTags(c: Caller, id: string, rawTags: string[]): Promise<Note> {
    return this.update(c, id, { tags: rawTags })
  }

  async delete(c: Caller, id: string): Promise<void> {
    const n = await this.visible(c, id)
    const partners = await this.d.notes.delete(id)
    this.d.jobs.invalidateCounts()
    const cancelled = await this.d.jobs.cancelPendingForNote(id, new Date().toISOString())
    const correlationId = Bun.randomUUIDv7()
    const deletedId = this.d.events.deleted(n, c.actor, { correlationId })
    for (const p of partners) await this.d.events.updated(p, undefined, { correlationId, causationId: deletedId })
    if (cancelled) this.d.jobService.countsChanged(c.memory)
  }

  /** The note if it exists in the caller's memory and is visible to them; 404 otherwise (no existence leak). */
  private async visible(c: Caller, id: string): Promise<NoteState> {
    const n = await this.d.notes.get(id)
    if (!n || n.memory !== c.memory || !canSeeTags(c.restriction, n.tags)) throw notFound(`note ${id} not found`)
    return n
  }

  /** A tag-restricted caller may only write notes it can still see afterwards. */
  private assertTagsAllowed(c: Caller, tags: string[]): void {
    if (c.restriction && !canSeeTags(c.restriction, tags))
      throw forbidden(`a tag-restricted token must keep at least one of its tags (${c.restriction.join(', ')}) on the note`)
  }
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t) => b.includes(t))
}
